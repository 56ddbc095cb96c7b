# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and directories the module creates on a host, with modes that do not depend on the umask.

An interpreter in a shared install root is run by every user of the host (through the links), and
by Ansible as root: what we create must be readable and executable by all (0755/0644) and writable
by the owner alone, whatever umask the play, become or a hardened login gave the process. So every
mode is set with an explicit chmod, never left to ``mode & ~umask``.

Stdlib only: pbs_python_bootstrap runs this file's source on hosts without Ansible's modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import tempfile

DIR_MODE = 0o755
FILE_MODE = 0o644
EXEC_MODE = 0o755
CHUNK = 1 << 20


def file_mode(mode):
    """The mode a file gets from the mode an archive (or an older install) gave it.

    The rules of tarfile's ``data`` filter (PEP 706), made deterministic: no write bit for group or
    others, no setuid/setgid/sticky bit, readable by all, executable by all when the owner may
    execute it.
    """
    return EXEC_MODE if mode & 0o100 else FILE_MODE


def make_dirs(path):
    """``os.makedirs`` whose new directories are 0755 whatever the umask; existing ones are left alone.

    Returns the directories it created, outermost first. Another run may create one meanwhile: then
    that run sets its mode.
    """
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(directory):
                raise
            continue
        os.chmod(directory, DIR_MODE)
        created.append(directory)
    return created


def source_date_epoch():
    """SOURCE_DATE_EPOCH (the reproducible-builds convention) in seconds, or None when it is unset.

    Image builds set it so that what the module writes (receipts, BUILD, the build paths it points
    at the install) carries that time, not the time of the build: two builds from the same pins then
    give byte-identical trees, mtimes included (docs/golden-images.md). A malformed value is refused.
    """
    value = os.environ.get('SOURCE_DATE_EPOCH')
    if value is None:
        return None
    if not value.isdigit():
        raise ValueError('SOURCE_DATE_EPOCH %r is not a number of seconds since 1970 (such as 1704067200): '
                         'fix or unset it' % value)
    return int(value)


def write_atomic(path, data, mode=FILE_MODE, fsync=False):
    """Replace ``path`` with ``data`` (text is written as UTF-8): readers see the old or the new file, never half.

    A temporary file beside it gets the data and ``mode`` (explicitly, not through the umask), then
    is renamed over ``path``; on any error it is removed and ``path`` is untouched. ``fsync`` makes
    the data durable before the rename, for files that other runs trust after a crash. With
    SOURCE_DATE_EPOCH set, that is the file's mtime.
    """
    epoch = source_date_epoch()
    if not isinstance(data, bytes):
        data = data.encode('utf-8', 'surrogateescape')
    fd, temp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=os.path.dirname(path) or '.')
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            if epoch is not None:
                os.utime(temp, (epoch, epoch))
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def sha256_file(path, digest=None):
    """The running sha256 of a file (a ``hashlib`` object, to go on hashing what is appended).

    The one file hasher: resumed downloads, the mirror builder and the tree verification all use it.
    """
    digest = digest or hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)
    return digest
