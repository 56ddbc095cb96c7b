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
import stat
import tempfile

from ansible_collections.pbs.python.plugins.module_utils._files import DIR_MODE, make_dirs, write_atomic
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    VARIANTS, check_build, check_target, interpreter_name, is_prefix,
)
from ansible_collections.pbs.python.plugins.module_utils._release import normalize_sha256

RECEIPT = 'PBS_RECEIPT.json'
BUILD_FILE = 'BUILD'  # uv's marker: the release tag, no newline; lets uv's build pinning see us
EXTERNALLY_MANAGED = 'EXTERNALLY-MANAGED'  # PEP 668, in the stdlib directory
LOCK = '.lock'
INSTALL_PREFIX = 'cpython-'  # every install directory: install_dir_name of a PBS asset name
STAGING_PREFIX = '.staging-'
TRASH_PREFIX = '.trash-'
REMOVED_PREFIX = '.removed-'  # an install being deleted by state=absent: never restored
MAX_RECEIPT = 1 << 20  # a receipt is a few hundred bytes; anything huge is not one of ours
STARTED_FROM = 'started_from'  # receipt key: start_files() when the interpreter last ran
RECEIPT_FIELDS = ('version', 'build', 'target', 'variant', 'freethreaded', 'sha256', 'url')
VERSION_PROBE = ("import sys; v = sys.version_info; print('%d.%d.%d%s' % (v[0], v[1], v[2], "
                 "{'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v[3], '') + (str(v[4]) if v[3] != 'final' else '')))")


def read_receipt(install_dir):
    """The receipt of an install, or None when it is missing or cannot be used (see load_receipt)."""
    return load_receipt(install_dir)[0]


def load_receipt(install_dir):
    """(receipt, None), or (None, why) when the receipt cannot be used, or (None, None) when there is none.

    Every later run reads every receipt under the root; one odd or hand-edited file must only
    take its own directory out of the match, never fail runs for other builds.
    """
    try:
        # Not followed, never blocking: a symlink or a FIFO there is not a receipt this module wrote.
        fd = os.open(os.path.join(install_dir, RECEIPT),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        if exc.errno == errno.ELOOP:
            return None, '%s is a symlink' % RECEIPT
        return None, 'cannot read %s: %s' % (RECEIPT, exc.strerror or exc)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, '%s is not a regular file' % RECEIPT
        with os.fdopen(os.dup(fd), 'rb') as handle:
            data = handle.read(MAX_RECEIPT + 1)
    except OSError as exc:
        return None, 'cannot read %s: %s' % (RECEIPT, exc.strerror or exc)
    finally:
        os.close(fd)
    if len(data) > MAX_RECEIPT:
        return None, '%s is larger than %d bytes' % (RECEIPT, MAX_RECEIPT)
    try:
        receipt = json.loads(data.decode('utf-8'))
    except ValueError as exc:  # UnicodeDecodeError is one too
        return None, '%s is not valid JSON (%s)' % (RECEIPT, exc)
    except RecursionError:  # nested deeper than the parser goes
        return None, '%s is not valid JSON (RecursionError)' % RECEIPT
    why = receipt_problem(receipt)
    return (None, '%s: %s' % (RECEIPT, why)) if why else (receipt, None)


def receipt_problem(receipt):
    """Why a parsed receipt cannot be trusted, or None: each field is read back as a path part, a
    version to compare or a link to manage, so each must have the type and grammar this module writes."""
    if not isinstance(receipt, dict):
        return 'not a JSON object'
    missing = [field for field in RECEIPT_FIELDS if field not in receipt]
    if missing:
        return 'no %s' % ', '.join(missing)
    strings = [field for field in ('version', 'build', 'target', 'variant', 'sha256', 'url', 'installed_at', 'tree_digest')
               if field in receipt and not isinstance(receipt[field], str)]
    if strings:
        return '%s must be a string' % ', '.join(strings)
    try:
        if receipt['version'] != receipt['version'].strip() or is_prefix(receipt['version']):
            raise ValueError
    except ValueError:
        return 'version %r is not an exact CPython version such as 3.12.4' % (receipt['version'],)
    checks = (('build', check_build), ('target', check_target), ('sha256', normalize_sha256), ('tree_digest', normalize_sha256))
    for field, check in checks:
        if field not in receipt:  # tree_digest: installs before manifests have none
            continue
        try:
            if check(receipt[field]) != receipt[field]:
                raise ValueError
        except ValueError:
            return '%s %r is not a valid %s' % (field, receipt[field], field)
    if receipt['variant'] not in VARIANTS:
        return 'variant %r is not one of %s' % (receipt['variant'], ', '.join(VARIANTS))
    for field in ('freethreaded', 'relocated'):
        if field in receipt and not isinstance(receipt[field], bool):
            return '%s must be true or false' % field
    links = receipt.get('links', [])
    if not isinstance(links, list) or not all(isinstance(link, str) and os.path.isabs(link) for link in links):
        return 'links must be a list of absolute paths'
    replaced = receipt.get('replaced_links', {})
    if not isinstance(replaced, dict) or not all(
            isinstance(link, str) and os.path.isabs(link) and isinstance(old, str) and old
            for link, old in replaced.items()):
        return 'replaced_links must map absolute link paths to their old targets'
    return None


def write_markers(install_dir, receipt):
    """Write the receipt and uv's BUILD file, each atomically (a live receipt is rewritten when
    links change, and readers never take the lock); 0644 whatever the umask, so every user can read them."""
    write_atomic(os.path.join(install_dir, BUILD_FILE), receipt['build'])
    write_atomic(os.path.join(install_dir, RECEIPT), json.dumps(receipt, indent=2, sort_keys=True) + '\n')


def installs(root):
    """Every (directory, receipt) under ``root`` with a usable receipt."""
    return survey(root)[0]


def survey(root):
    """(installs, damaged): every (directory, receipt) under ``root``, and every (directory, why)
    whose receipt cannot be used.

    Hidden entries are our own staging or trash. An entry that is not a real directory (a symlink,
    a file) is never an install: the module only makes directories, and a symlink may lead to
    files that are not the module's to replace or delete.
    """
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return [], []
    found, damaged = [], []
    for name in names:
        path = os.path.join(root, name)
        if name.startswith('.') or not is_real_dir(path):
            continue
        receipt, why = load_receipt(path)
        if receipt is not None:
            found.append((path, receipt))
        elif why:
            damaged.append((path, why))
    return found, damaged


def is_real_dir(path):
    return os.path.isdir(path) and not os.path.islink(path)


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


def start_files(install_dir, receipt):
    """{relative path: [size, mode, mtime]} of what the interpreter needs to start, isolated, as the
    probe starts it: its binary, the shared libpython in lib/, and the encodings package its
    initialisation imports from the standard library (regular files; links to them are not what runs)."""
    name = interpreter_name(receipt['version'], receipt['freethreaded'])  # also the stdlib directory's name
    lib = os.path.join(install_dir, 'lib')
    names = [os.path.join('bin', name)] + sorted(
        os.path.join('lib', entry) for entry in (os.listdir(lib) if os.path.isdir(lib) else [])
        if entry.startswith('libpython') and ('.so' in entry or entry.endswith('.dylib'))) + [
        os.path.join('lib', name, 'encodings', module) for module in ('__init__.py', 'aliases.py', 'utf_8.py')]
    found = {}
    for rel in names:
        try:
            info = os.lstat(os.path.join(install_dir, rel))
        except OSError as exc:
            if exc.errno == errno.ENOENT and rel.endswith('.py'):
                continue  # a stand-in or an unusual layout: recorded as absent, so its return is a change
            raise
        if stat.S_ISREG(info.st_mode):
            found[rel.replace(os.sep, '/')] = [info.st_size, stat.S_IMODE(info.st_mode), int(info.st_mtime)]
    return found


def interpreter_works(install_dir, receipt, run):
    """(works, why) as ``interpreter_runs``, without starting the interpreter when the files it starts
    from are, by size, mode and mtime, those it last ran from (the receipt's ``started_from``).

    Starting an interpreter costs about 20 ms of CPU per pin, which a daily no-op run over a fleet pays
    on every host; the record proves the same for the damage the probe finds (a deleted, truncated or
    replaced binary, libpython or encodings package). A change that keeps size and mtime, or one
    elsewhere in the tree, is the manifest's to find (``verify``, ``repair``); an install without the
    record (made by an older release) is probed.
    """
    recorded = receipt.get(STARTED_FROM)
    if recorded and os.access(interpreter_path(install_dir, receipt), os.X_OK):
        try:
            if start_files(install_dir, receipt) == recorded:
                return True, ''
        except OSError:
            pass  # gone or unreadable: the probe says why
    return interpreter_runs(install_dir, receipt, run)


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
    """Our links that point into an install: those its receipt recorded, and those in ``link_dir``
    with the names this module gives links (``python3.X``, ``python3``). A ``pip3.12`` or
    ``python-for-my-app`` someone made there is theirs, even when it points into the install."""
    candidates = set(receipt.get('links', []))
    if link_dir:
        candidates.update(os.path.join(link_dir, name)
                          for name in (os.path.basename(interpreter_path(install_dir, receipt)), 'python3'))
    return sorted(link for link in candidates if points_into(link, install_dir))


def link_target(link):
    """Where a symlink leads, as a normalised absolute path (a relative target counts from the
    link's directory), or None when ``link`` is not a symlink."""
    if not os.path.islink(link):
        return None
    return os.path.normpath(os.path.join(os.path.dirname(link), os.readlink(link)))


def points_into(link, directory):
    """Is ``link`` a symlink into ``directory``?"""
    target = link_target(link)
    return target is not None and target.startswith(os.path.normpath(directory).rstrip(os.sep) + os.sep)


def made_by_us(link, root):
    """Did this module make ``link``? Every release of it pointed links only into an install
    directory under ``root``, and every install directory is named after its asset (``cpython-*``);
    the name matters when ``root`` is shared (``install_root: /usr`` must not claim
    ``/usr/bin/python3 -> python3.11``). A link into a deleted install still counts."""
    target = link_target(link)
    if target is None or not points_into(link, root):
        return False
    return os.path.relpath(target, os.path.normpath(root)).startswith(INSTALL_PREFIX)


def absolute_path(option, value, example):
    """``value`` normalised, refusing an empty or relative path before anything runs: a relative
    one would name a directory that depends on the remote user's working directory."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError('%s is empty: give an absolute path such as %s%s' % (
            option, example, ', or leave it unset' if option == 'link_dir' else ''))
    if not os.path.isabs(value):
        raise ValueError('%s %r is a relative path: give an absolute path such as %s' % (option, value, example))
    return os.path.normpath(value)


class Lock(object):
    """An exclusive flock on ``<dir>/.lock``: concurrent runs take turns (install roots, the mirror
    root, the controller cache's entries). With ``wait=False`` a held lock raises BlockingIOError."""

    def __init__(self, directory, wait=True):
        self.path = os.path.join(directory, LOCK)
        self.wait = wait
        self.fd = None

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
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


def _ours(name):
    """Is ``name`` a leftover this module makes (staging, trash, removal, probe)? Others' dot files
    in a shared root (``.staging-website``) are not ours to delete."""
    return name.startswith(tuple(prefix + 'cpython-' for prefix in (STAGING_PREFIX, TRASH_PREFIX, REMOVED_PREFIX))
                           + (STAGING_PREFIX + 'probe-',))


def recover(root):
    """Finish what an interrupted run left: drop staging dirs, restore or drop trashed installs.

    Must be called with the lock held, so no live run owns these directories.
    """
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if not _ours(name):
            continue
        if name.startswith((STAGING_PREFIX, REMOVED_PREFIX)):
            delete(path)
        elif name.startswith(TRASH_PREFIX):
            original = os.path.join(root, name[len(TRASH_PREFIX):])
            if os.path.lexists(original) or not is_real_dir(path):
                delete(path)  # swaps only ever move real directories aside: anything else is not an install
            else:  # killed between the two renames of a swap: the old install comes back
                os.rename(path, original)


def delete(path):
    """Delete whatever is at ``path`` in the root, whatever its type: a symlink or a file is
    unlinked (never followed: its target is not ours), a directory removed with what is in it."""
    try:
        if is_real_dir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass  # gone already, or not removable now: the next run under the lock tries again


def tidy(root):
    """Best effort, without waiting: clean what an interrupted run left, unless a run is at work.

    For runs that change nothing (and so never take the lock): a run killed after its swap
    leaves the previous tree in ``.trash-*`` while the new install is complete and healthy.
    """
    try:
        if not any(_ours(name) for name in os.listdir(root)):
            return
        with Lock(root, wait=False):
            recover(root)
    except OSError:
        pass  # another run holds the lock (it recovers), or the root is unreadable, read-only or not ours


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
        delete(removed)
    return final


def remove(root, name):
    """Make an install disappear atomically (rename), then delete it.

    Not a ``.trash-*`` name: ``recover`` puts those back (an interrupted swap), and a tree that
    was half deleted when the run died must not come back as an install.
    """
    trash = os.path.join(root, REMOVED_PREFIX + name)
    os.rename(os.path.join(root, name), trash)
    delete(trash)


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
