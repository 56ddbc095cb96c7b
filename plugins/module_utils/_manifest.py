# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest of an installed tree: proof by the bytes that a host has the pinned interpreter.

A receipt says which archive a tree came from; it cannot say whether the files were changed since.
The manifest records, at install time, every path of the tree with its type, mode (as installed:
after the extractor's mode rules), symlink target, and size, sha256 and mtime of regular files.
The extractor builds it from the bytes it writes (no second read of the tree), the installer
updates the few files it rewrites afterwards, and it is stored as ``PBS_MANIFEST.json`` beside the
receipt, which carries its digest (``tree_digest``).

The tree digest is the sha256 of the canonical manifest *without mtimes*: two hosts that installed
the same archive under the same path get the same digest, whenever each extracted it (the files
the installer rewrites get the install's time as mtime). mtimes stay in the manifest, for the
cheap check.

Checking a tree against its manifest (``compare`` of a ``scan``) finds files whose content changed,
missing and extra paths and changed modes, as ``rpm -V`` does. The cheap check compares sizes, modes
and mtimes (``lstat`` only: milliseconds); the full one hashes every file again. Files this
collection writes and rewrites itself (the receipt, the manifest, uv's BUILD file, PEP 668's marker,
and their atomic temporaries) are not part of the tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import posixpath
import re
import stat

from ansible_collections.pbs.python.plugins.module_utils._files import DIR_MODE, sha256_file, write_atomic

MANIFEST = 'PBS_MANIFEST.json'
FORMAT = 1
MAX_MANIFEST = 64 << 20  # ~130 bytes per path: half a million paths, five times a large PBS tree
# What the module writes into the tree and may rewrite after the install (receipt, BUILD, the
# manifest, PEP 668's marker, toggled by externally_managed), and write_atomic's temporaries of them.
_MARKERS = re.compile(r'^(?:\.?(?:PBS_RECEIPT\.json|PBS_MANIFEST\.json|BUILD)(?:\..*\.tmp)?'
                      r'|lib/python3\.\d+t?/\.?EXTERNALLY-MANAGED(?:\..*\.tmp)?)$')
DRIFT_KINDS = ('modified', 'missing', 'extra', 'mode')


class ManifestError(Exception):
    """The manifest file is missing, unreadable, or does not match the receipt's digest."""


def is_marker(rel):
    """Is ``rel`` (relative to the install) a file the module itself writes or rewrites after the install?"""
    return bool(_MARKERS.match(rel))


def directory():
    return dict(type='dir', mode=DIR_MODE)


def regular(mode, size, sha256, mtime):
    return dict(type='file', mode=mode, size=size, sha256=sha256, mtime=int(mtime))


def symlink(target):
    return dict(type='link', target=target)


def _canonical(rel, entry):
    """One entry as the digest sees it: no mtime, so hosts agree whenever content, modes and links agree."""
    if entry['type'] == 'file':
        fields = [rel, 'file', '%04o' % entry['mode'], entry['size'], entry['sha256']]
    elif entry['type'] == 'dir':
        fields = [rel, 'dir', '%04o' % entry['mode']]
    else:
        fields = [rel, 'link', entry['target']]
    return json.dumps(fields, separators=(',', ':')) + '\n'  # ASCII: surrogate-escaped names stay deterministic


def tree_digest(entries):
    """sha256 (hex) over the canonical lines of ``entries`` (path -> entry), sorted by path."""
    digest = hashlib.sha256()
    for rel in sorted(entries):
        digest.update(_canonical(rel, entries[rel]).encode('ascii'))
    return digest.hexdigest()


def _serialise(entries):
    """(the manifest file's text, the tree digest), the digest computed once."""
    digest = tree_digest(entries)
    lines = []
    for rel in sorted(entries):
        entry = dict(entries[rel], path=rel)
        if 'mode' in entry:
            entry['mode'] = '%04o' % entry['mode']
        lines.append(json.dumps(entry, sort_keys=True, separators=(',', ':')))
    return '{"format":%d,"digest":"%s","entries":[\n%s\n]}\n' % (FORMAT, digest, ',\n'.join(lines)), digest


def dumps(entries):
    """The manifest file: one JSON document, one entry per line, sorted by path: deterministic and diffable."""
    return _serialise(entries)[0]


def loads(text):
    """(path -> entry, tree digest) from a manifest file's text, or ManifestError when it is not one this
    module wrote or its entries do not give the digest it records."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get('format') != FORMAT or not isinstance(data.get('entries'), list):
            raise ValueError('not a format %d manifest' % FORMAT)
        entries = {}
        for item in data['entries']:
            rel, kind = item.pop('path'), item['type']
            if kind == 'file':
                entries[rel] = regular(int(item['mode'], 8), int(item['size']), str(item['sha256']), int(item['mtime']))
            elif kind == 'dir':
                entries[rel] = dict(type='dir', mode=int(item['mode'], 8))
            elif kind == 'link':
                entries[rel] = symlink(str(item['target']))
            else:
                raise ValueError('unknown entry type %r' % kind)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ManifestError('%s is not a manifest this module wrote (%s)' % (MANIFEST, exc))
    digest = tree_digest(entries)
    if data.get('digest') != digest:
        raise ManifestError('%s does not match its own digest' % MANIFEST)
    return entries, digest


def write(install_dir, entries):
    """Write the manifest into ``install_dir`` (atomically, 0644); returns its tree digest for the receipt."""
    text, digest = _serialise(entries)
    write_atomic(os.path.join(install_dir, MANIFEST), text)
    return digest


def read(install_dir, expected_digest):
    """The manifest of an install whose receipt records ``expected_digest``, or ManifestError."""
    path = os.path.join(install_dir, MANIFEST)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ManifestError('%s is missing, but the receipt records tree digest %s' % (MANIFEST, expected_digest))
        raise ManifestError('cannot read %s: %s' % (MANIFEST, exc.strerror or exc))
    with os.fdopen(fd, 'rb') as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ManifestError('%s is not a regular file' % MANIFEST)
        data = handle.read(MAX_MANIFEST + 1)
    if len(data) > MAX_MANIFEST:
        raise ManifestError('%s is larger than %d MiB' % (MANIFEST, MAX_MANIFEST >> 20))
    try:
        entries, digest = loads(data.decode('utf-8'))
    except UnicodeDecodeError as exc:
        raise ManifestError('%s is not UTF-8 (%s)' % (MANIFEST, exc))
    if digest != expected_digest:
        raise ManifestError('%s has tree digest %s, but the receipt records %s' % (MANIFEST, digest, expected_digest))
    return entries


def refresh(entries, tree, rels):
    """Update the entries of ``rels`` after the installer rewrote, added or removed them in ``tree``.

    Only those paths are read again (the relocated sysconfig and pkg-config files, a ``bin/python``
    link): the rest of the manifest comes from the bytes the extractor wrote.
    """
    for rel in rels:
        entry = _entry(os.path.join(tree, rel), True)
        if entry is None:
            entries.pop(rel, None)
        else:
            entries[rel] = entry


def _entry(path, hash_files):
    """The entry for what is at ``path`` now (sha256 only with ``hash_files``), or None when nothing is."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    if stat.S_ISLNK(info.st_mode):
        return symlink(os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return dict(type='dir', mode=stat.S_IMODE(info.st_mode))
    if stat.S_ISREG(info.st_mode):
        digest = None
        if hash_files:
            try:
                digest = sha256_file(path).hexdigest()
            except (IOError, OSError) as exc:  # unreadable now (chmod 000 and not root): its content is unknown
                digest = 'unreadable: %s' % (exc.strerror or exc)
        return regular(stat.S_IMODE(info.st_mode), info.st_size, digest, info.st_mtime)
    return dict(type='other', mode=stat.S_IMODE(info.st_mode))


def scan(tree, hash_files=False):
    """path -> entry for everything under ``tree`` now but the module's markers; symlinks are not followed.

    ``hash_files`` hashes every regular file again (verify); without it, files carry size, mode and
    mtime only (the cheap check).
    """
    found = {}
    for top, dirs, files in os.walk(tree):
        rel_top = os.path.relpath(top, tree)
        rel_top = '' if rel_top == '.' else rel_top.replace(os.sep, '/')
        for name in dirs + files:
            rel = posixpath.join(rel_top, name) if rel_top else name
            if is_marker(rel):
                continue
            entry = _entry(os.path.join(top, name), hash_files)
            if entry is not None:
                found[rel] = entry
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(top, name))]  # os.walk's default too
    return found


def compare(recorded, found, content=False):
    """What changed from the manifest ``recorded`` to the tree ``found`` (both path -> entry).

    {modified, missing, extra, mode}: sorted lists of paths relative to the install. ``modified`` is a
    file whose content differs (with ``content``: its sha256; without: its size or mtime), a link with
    another target, or a path whose type changed. ``extra`` names the topmost new path only: a new
    directory stands for everything in it (a ``pip install`` is one finding, not a thousand).
    """
    drift = dict((kind, []) for kind in DRIFT_KINDS)
    for rel in sorted(recorded):
        was, now = recorded[rel], found.get(rel)
        if now is None:
            drift['missing'].append(rel)
            continue
        if now['type'] != was['type']:
            drift['modified'].append(rel)
            continue
        if was['type'] == 'link':
            if now['target'] != was['target']:
                drift['modified'].append(rel)
            continue
        if now['mode'] != was['mode']:
            drift['mode'].append(rel)
        if was['type'] == 'file':
            if content:
                changed = now['sha256'] != was['sha256']
            else:
                changed = now['size'] != was['size'] or now['mtime'] != was['mtime']
            if changed:
                drift['modified'].append(rel)
    new = set(found) - set(recorded)
    drift['extra'] = sorted(rel for rel in new if posixpath.dirname(rel) not in new)
    return drift


def verify(install_dir, receipt, content=False):
    """(tree digest, drift) of an install: drift as ``compare`` gives it, plus ``checked`` (how),
    ``manifest`` ('recorded', 'none' or 'damaged') and ``error`` (why it could not be checked, or '').

    An install from a release that recorded no manifest has tree digest '' and manifest 'none': it
    cannot be checked, and says so; that is not drift. A receipt with a digest whose manifest is
    missing, altered or unreadable is drift (manifest 'damaged').
    """
    drift = dict((kind, []) for kind in DRIFT_KINDS)
    expected = receipt.get('tree_digest')
    if not expected:
        drift.update(checked='none', manifest='none', error='no manifest: installed by a release that did not '
                                                            'record one (reinstall with force to record it)')
        return '', drift
    try:
        recorded = read(install_dir, expected)
    except ManifestError as exc:
        drift.update(checked='none', manifest='damaged', error=str(exc))
        return expected, drift
    try:
        found = scan(install_dir, hash_files=content)
    except OSError as exc:  # e.g. a path this user may not stat: the tree cannot be judged, say why
        drift.update(checked='none', manifest='recorded', error='cannot read the tree: %s' % (exc.strerror or exc))
        return expected, drift
    drift.update(compare(recorded, found, content=content))
    drift.update(checked='sha256' if content else 'size+mode+mtime', manifest='recorded', error='')
    return expected, drift


def tampered(drift):
    """Does ``verify``'s drift say the tree is not what was installed?"""
    return drift.get('manifest') == 'damaged' or any(drift.get(kind) for kind in DRIFT_KINDS)
