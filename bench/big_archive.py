"""A PBS-layout archive twice the size of the real one: two build trees in one ``python/``.

If memory grew with the archive, installing this one would show it. The second tree goes under
``python/share/bench-second-tree`` (its links are relative, so they stay inside), and the
archive is packed with GNU tar + gzip like the original. Cached beside the original archive.
"""

import os
import shutil
import subprocess
import tempfile


def double_archive(source):
    directory = os.path.dirname(source)
    out = os.path.join(directory, 'bench-2x-' + os.path.basename(source))
    if os.path.exists(out):
        return out
    with tempfile.TemporaryDirectory(prefix='bench-2x-', dir=directory) as tmp:
        subprocess.run(['tar', '-C', tmp, '-xzf', source], check=True)
        second = os.path.join(tmp, 'second')
        subprocess.run(['cp', '-a', os.path.join(tmp, 'python'), second], check=True)
        os.makedirs(os.path.join(tmp, 'python', 'share'), exist_ok=True)
        shutil.move(second, os.path.join(tmp, 'python', 'share', 'bench-second-tree'))
        partial = out + '.partial-%d' % os.getpid()
        subprocess.run(['tar', '-C', tmp, '-czf', partial, 'python'], check=True)
        os.rename(partial, out)
    return out
