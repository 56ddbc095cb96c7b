"""Test-only: stop the pbs_python module at a named point of an install, so a test can SIGKILL it.

Put this directory first on PYTHONPATH and set PBS_KILLPOINT_DIR (and, optionally, PBS_KILLPOINT)
in the environment of ``ansible-playbook``. Every Python process that loads it from the system
interpreter (the module's process, not the controller's) writes its pid to
``$PBS_KILLPOINT_DIR/module.pid``. When the install reaches the named point, the process writes
``$PBS_KILLPOINT_DIR/reached`` and sleeps: the test kills it there. Points, in install order:

* ``before-swap``: the staging tree is complete and verified, its receipt written; the previous
  install is still in place (just before it is renamed to ``.trash-*``).
* ``between-renames``: the previous install is in ``.trash-*``, the new tree not yet in place.
* ``after-swap``: the new tree is in place; the previous one still sits in ``.trash-*``.
* ``before-links``: the install is complete; the links in ``link_dir`` are not switched yet.
* ``mid-remove``: ``state: absent`` renamed an install aside and has deleted part of it.

Nothing here changes behaviour when PBS_KILLPOINT_DIR is unset.
"""

import os
import sys
import time

_DIR = os.environ.get('PBS_KILLPOINT_DIR')
_POINT = os.environ.get('PBS_KILLPOINT', '')

if _DIR and os.path.realpath(sys.executable).startswith('/usr/bin/python3'):
    import shutil

    _rename = os.rename
    _rmtree = shutil.rmtree

    def _write(name, text):
        path = os.path.join(_DIR, name)
        with open(path + '.%d' % os.getpid(), 'w') as handle:
            handle.write(text)
        _rename(path + '.%d' % os.getpid(), path)

    def _reached():
        _write('reached', '%d %s' % (os.getpid(), _POINT))
        time.sleep(300)  # the test kills us long before
        os._exit(99)  # pylint: disable=protected-access

    def _names(src, dst):
        return os.path.basename(str(src)), os.path.basename(str(dst))

    def rename(src, dst, *args, **kwargs):
        source, target = _names(src, dst)
        swap = source.startswith('.staging-') and not target.startswith('.')
        if _POINT == 'before-swap' and target.startswith('.trash-'):
            _reached()
        if _POINT == 'between-renames' and swap:
            _reached()
        if _POINT == 'before-links' and '.pbs-python-' in source:
            _reached()
        _rename(src, dst, *args, **kwargs)
        if _POINT == 'after-swap' and swap:
            _reached()

    def rmtree(path, *args, **kwargs):
        if _POINT == 'mid-remove' and os.path.basename(str(path)).startswith(('.trash-', '.removed-')):
            _rmtree(os.path.join(str(path), 'bin'))
            _reached()
        return _rmtree(path, *args, **kwargs)

    os.rename = rename
    shutil.rmtree = rmtree
    _write('module.pid', str(os.getpid()))

# The system interpreter's own sitecustomize (Debian: apport hook), which this file shadows.
try:
    import apport_python_hook  # pylint: disable=unused-import
except ImportError:
    pass
else:
    apport_python_hook.install()
