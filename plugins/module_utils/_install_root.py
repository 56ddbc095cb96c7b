# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install root on a host: one directory per build, a receipt in each, a lock, atomic swaps.

The state on the host is the only source of truth for idempotence: a directory counts as an
install only if it carries a receipt, and a receipt is written into the staging directory
before that directory is renamed into place. So an interrupted run can leave a staging or
trash directory behind (cleaned up by the next run under the lock), never a partial install
that looks complete.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import shutil
import tempfile

from ansible_collections.pbs.python.plugins.module_utils._files import DIR_MODE, make_dirs, write_atomic
from ansible_collections.pbs.python.plugins.module_utils._naming import interpreter_name

RECEIPT = 'PBS_RECEIPT.json'
BUILD_FILE = 'BUILD'  # uv's marker: the release tag, no newline; lets uv's build pinning see us
EXTERNALLY_MANAGED = 'EXTERNALLY-MANAGED'  # PEP 668, in the stdlib directory
LOCK = '.lock'
STAGING_PREFIX = '.staging-'
TRASH_PREFIX = '.trash-'
REMOVED_PREFIX = '.removed-'  # an install being deleted by state=absent: never restored
RECEIPT_FIELDS = ('version', 'build', 'target', 'variant', 'freethreaded', 'sha256', 'url')
VERSION_PROBE = ("import sys; v = sys.version_info; print('%d.%d.%d%s' % (v[0], v[1], v[2], "
                 "{'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v[3], '') + (str(v[4]) if v[3] != 'final' else '')))")


def read_receipt(install_dir):
    """The receipt of an install, or None when it is missing or unreadable (a damaged install)."""
    try:
        with open(os.path.join(install_dir, RECEIPT)) as handle:
            receipt = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or any(field not in receipt for field in RECEIPT_FIELDS):
        return None
    return receipt


def write_markers(install_dir, receipt):
    """Write the receipt and uv's BUILD file, each atomically (a live receipt is rewritten when
    links change, and readers never take the lock); 0644 whatever the umask, so every user can read them."""
    write_atomic(os.path.join(install_dir, BUILD_FILE), receipt['build'])
    write_atomic(os.path.join(install_dir, RECEIPT), json.dumps(receipt, indent=2, sort_keys=True) + '\n')


def installs(root):
    """Every (directory, receipt) under ``root``; hidden entries are our own staging or trash."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(root, name)
        if name.startswith('.') or not os.path.isdir(path):
            continue
        receipt = read_receipt(path)
        if receipt is not None:
            found.append((path, receipt))
    return found


def interpreter_path(install_dir, receipt):
    return os.path.join(install_dir, 'bin', interpreter_name(receipt['version'], receipt['freethreaded']))


def _externally_managed_path(install_dir, receipt):
    return os.path.join(install_dir, 'lib', interpreter_name(receipt['version'], receipt['freethreaded']),
                        EXTERNALLY_MANAGED)


def externally_managed(install_dir, receipt):
    """Does the install carry PEP 668's marker (pip then refuses to install into it)?"""
    return os.path.exists(_externally_managed_path(install_dir, receipt))


def set_externally_managed(install_dir, receipt, wanted):
    path = _externally_managed_path(install_dir, receipt)
    if not wanted:
        if os.path.lexists(path):
            os.unlink(path)
        return
    python = os.path.basename(interpreter_path(install_dir, receipt))
    write_atomic(path, '[externally-managed]\nError=This Python is shared by the host and managed by Ansible '
                       '(pbs.python): install packages into a virtual environment instead:\n  %s -m venv DIR\n'
                       % python)


def interpreter_runs(install_dir, receipt, run):
    """(works, why): does the interpreter start, isolated, and report the recorded version?

    A receipt alone is not proof: files can be deleted or corrupted after the install.
    """
    python = interpreter_path(install_dir, receipt)
    if not os.access(python, os.X_OK):
        return False, '%s is missing or not executable' % python
    try:
        # -B: the probe must not write __pycache__ into the tree (with the caller's umask, 0700 under 077)
        rc, out, err = run([python, '-I', '-S', '-B', '-c', VERSION_PROBE])
    except (IOError, OSError) as exc:  # e.g. a truncated binary: Exec format error
        return False, 'cannot run %s: %s' % (python, getattr(exc, 'strerror', None) or exc)
    if rc != 0:
        return False, (err or out).strip()[-400:]
    if out.strip() != receipt['version']:
        return False, 'reports Python %s, not %s' % (out.strip(), receipt['version'])
    return True, ''


def links_into(install_dir, receipt, link_dir=None):
    """Links that point into an install: those its receipt recorded, and any in ``link_dir``."""
    candidates = set(receipt.get('links', []))
    if link_dir and os.path.isdir(link_dir):
        candidates.update(os.path.join(link_dir, name) for name in os.listdir(link_dir))
    inside = install_dir + os.sep
    return sorted(link for link in candidates if (link_state(link)[1] or '').startswith(inside))


class Lock(object):
    """An exclusive flock on ``<root>/.lock``: concurrent runs on one host take turns."""

    def __init__(self, root):
        self.path = os.path.join(root, LOCK)
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = None


def ensure_root(root):
    """Create the install root, turning permission problems into an actionable message.

    Directories made on the way are 0755 whatever the umask: every user runs the interpreters.
    """
    try:
        make_dirs(root)
        probe = tempfile.mkdtemp(prefix=STAGING_PREFIX + 'probe-', dir=root)
        try:
            os.rmdir(probe)
        except OSError as exc:  # a run holding the lock may have cleaned it up as a leftover already
            if exc.errno != errno.ENOENT:
                raise
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise OSError(exc.errno, "install_root %s is on a read-only filesystem: choose a writable "
                                     "install_root" % root)
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise OSError(exc.errno, "cannot write to install_root %s (%s): run with become: true or "
                                     "choose an install_root this user owns" % (root, exc.strerror))
        raise


def recover(root):
    """Finish what an interrupted run left: drop staging dirs, restore or drop trashed installs.

    Must be called with the lock held, so no live run owns these directories.
    """
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith((STAGING_PREFIX, REMOVED_PREFIX)):
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(TRASH_PREFIX):
            original = os.path.join(root, name[len(TRASH_PREFIX):])
            if os.path.exists(original):
                shutil.rmtree(path, ignore_errors=True)
            else:  # killed between the two renames of a swap: the old install comes back
                os.rename(path, original)


def tidy(root):
    """Best effort, without waiting: clean what an interrupted run left, unless a run is at work.

    For runs that change nothing (and so never take the lock): a run killed after its swap
    leaves the previous tree in ``.trash-*`` while the new install is complete and healthy.
    """
    try:
        if not any(n.startswith((STAGING_PREFIX, TRASH_PREFIX, REMOVED_PREFIX)) for n in os.listdir(root)):
            return
        fd = os.open(os.path.join(root, LOCK), os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o644)
    except OSError:
        return  # unreadable, read-only or foreign root: nothing this run may clean
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        recover(root)
    except (IOError, OSError):
        pass  # another run holds the lock (it recovers), or the root is not ours to clean
    finally:
        os.close(fd)


def new_staging(root, name):
    staging = tempfile.mkdtemp(prefix="%s%s-" % (STAGING_PREFIX, name), dir=root)
    os.chmod(staging, DIR_MODE)  # mkdtemp makes it 0700; the install must be usable by everyone
    return staging


def swap_in(root, staging, name):
    """Move a complete staging tree to ``<root>/<name>``, replacing any previous tree there.

    The old tree is renamed aside first and deleted only after the new one is in place; if the
    process dies in between, ``recover`` puts the old tree back.
    """
    final = os.path.join(root, name)
    trash = os.path.join(root, TRASH_PREFIX + name)
    if os.path.lexists(final):
        os.rename(final, trash)
    try:
        os.rename(staging, final)
    except OSError:
        if os.path.lexists(trash):
            os.rename(trash, final)  # the old install stays untouched
        raise
    if os.path.lexists(trash):
        # Never restored from here on: a kill while deleting must not bring half a tree back.
        removed = os.path.join(root, REMOVED_PREFIX + name)
        os.rename(trash, removed)
        shutil.rmtree(removed, ignore_errors=True)
    return final


def remove(root, name):
    """Make an install disappear atomically (rename), then delete it.

    Not a ``.trash-*`` name: ``recover`` puts those back (an interrupted swap), and a tree that
    was half deleted when the run died must not come back as an install.
    """
    trash = os.path.join(root, REMOVED_PREFIX + name)
    os.rename(os.path.join(root, name), trash)
    shutil.rmtree(trash, ignore_errors=True)


def link_state(path):
    """What is at a link path: ('absent'|'link'|'other', target)."""
    if os.path.islink(path):
        return 'link', os.readlink(path)
    if os.path.lexists(path):
        return 'other', None
    return 'absent', None


def switch_link(path, target):
    """Point ``path`` at ``target`` atomically (symlink beside it, then rename over it).

    The temporary name carries the process id: install roots have their own locks, and two roots
    may share a link directory. Temporaries left by killed runs are removed here.
    """
    directory = os.path.dirname(path)
    make_dirs(directory)  # 0755 whatever the umask: users run the interpreters through these links
    prefix = '.%s.pbs-python-tmp-' % os.path.basename(path)
    for name in os.listdir(directory):
        # prefix[:-1]: the fixed name of releases before per-process names
        if name == prefix[:-1] or name.startswith(prefix) and not _alive(name[len(prefix):]):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass  # another run cleaned it first
    temp = os.path.join(directory, '%s%d' % (prefix, os.getpid()))
    if os.path.lexists(temp):
        os.unlink(temp)
    os.symlink(target, temp)
    try:
        os.rename(temp, path)
    except OSError:
        os.unlink(temp)
        raise


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (ValueError, OverflowError):
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM  # someone else's live process
    return True


def ensure_python_link(install_dir, interpreter):
    """PBS builds before 20240224 lack ``bin/python``; add it as uv does."""
    path = os.path.join(install_dir, 'bin', 'python')
    if not os.path.lexists(path) and os.path.exists(os.path.join(install_dir, 'bin', interpreter)):
        os.symlink(interpreter, path)
