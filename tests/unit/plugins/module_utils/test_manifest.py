# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree manifest on real trees: recorded while extracting, checked like ``rpm -V``.

Every tree here is a real extraction of a real tar.gz (tiny, PBS layout) into tmp_path, so the
manifest the extractor records is compared with what is on disk, not with a model of it.
"""

import io
import json
import os
import tarfile

import pytest

from ansible_collections.pbs.python.plugins.module_utils import _manifest
from ansible_collections.pbs.python.plugins.module_utils._archive import extract_tar_gz

import tiny_archives
from tiny_archives import entry

MEMBERS = [
    entry('python/', tarfile.DIRTYPE),
    entry('python/bin/python3.12', data=b'#!/bin/sh\necho 3.12.1\n', mode=0o775),  # group write: installed 0755
    entry('python/bin/python3', tarfile.SYMTYPE, linkname='python3.12', mode=0o777),
    entry('python/lib/python3.12/os.py', data=b'import abc\n' * 100, mode=0o666),  # implicit parent dirs
    entry('python/lib/python3.12/copy.py', tarfile.LNKTYPE, linkname='python/lib/python3.12/os.py'),
    entry('python/lib/python3.12/empty.py', data=b''),
    entry('python/share/', tarfile.DIRTYPE, mode=0o777),
]


def extract(path, members=None):
    members = MEMBERS if members is None else members
    os.makedirs(path)
    manifest = {}
    extract_tar_gz(io.BytesIO(tiny_archives.gz(tiny_archives._tar(members))).read, path, manifest=manifest)
    return manifest


@pytest.fixture
def tree(tmp_path):
    """(install dir, the manifest its extraction recorded, the receipt fields that name it)."""
    path = str(tmp_path / 'cpython')
    manifest = extract(path)
    digest = _manifest.write(path, manifest)
    return path, manifest, dict(tree_digest=digest)


def test_the_streamed_manifest_is_what_a_full_read_of_the_tree_finds(tree):
    path, manifest, dummy = tree
    assert sorted(manifest) == ['bin', 'bin/python3', 'bin/python3.12', 'lib', 'lib/python3.12',
                                'lib/python3.12/copy.py', 'lib/python3.12/empty.py', 'lib/python3.12/os.py', 'share']
    assert manifest == _manifest.scan(path, hash_files=True)  # modes as installed, mtimes as in the archive
    assert manifest['bin/python3.12']['mode'] == 0o755 and manifest['lib/python3.12/os.py']['mode'] == 0o644
    assert manifest['share'] == dict(type='dir', mode=0o755)
    assert manifest['bin/python3'] == dict(type='link', target='python3.12')
    assert manifest['lib/python3.12/copy.py'] == manifest['lib/python3.12/os.py']  # a hard link: same bytes
    assert manifest['lib/python3.12/os.py']['mtime'] == 1700000000
    assert manifest['lib/python3.12/empty.py']['sha256'] == tiny_archives.sha256(b'')


def test_without_a_manifest_argument_nothing_is_recorded_and_nothing_hashed(tmp_path):
    path = str(tmp_path / 't')
    os.makedirs(path)
    stats = extract_tar_gz(io.BytesIO(tiny_archives.gz(tiny_archives._tar(MEMBERS))).read, path)
    assert stats['members'] == len(MEMBERS)


def test_the_tree_digest_ignores_mtimes_and_extraction_but_not_content_modes_or_links(tmp_path, tree):
    path, manifest, dummy = tree
    again = extract(str(tmp_path / 'elsewhere'))
    assert _manifest.tree_digest(again) == _manifest.tree_digest(manifest)
    later = dict(manifest, **{'lib/python3.12/os.py': dict(manifest['lib/python3.12/os.py'], mtime=1)})
    assert _manifest.tree_digest(later) == _manifest.tree_digest(manifest)
    for change in (dict(mode=0o600), dict(sha256='0' * 64), dict(size=1)):
        other = dict(manifest, **{'lib/python3.12/os.py': dict(manifest['lib/python3.12/os.py'], **change)})
        assert _manifest.tree_digest(other) != _manifest.tree_digest(manifest), change
    relinked = dict(manifest, **{'bin/python3': _manifest.symlink('python3.12t')})
    assert _manifest.tree_digest(relinked) != _manifest.tree_digest(manifest)


def test_the_manifest_file_is_sorted_deterministic_json_and_reads_back(tree):
    path, manifest, receipt = tree
    with open(os.path.join(path, _manifest.MANIFEST)) as handle:
        text = handle.read()
    assert text == _manifest.dumps(dict(reversed(list(manifest.items()))))
    data = json.loads(text)
    assert [e['path'] for e in data['entries']] == sorted(manifest)
    assert data['digest'] == receipt['tree_digest'] == _manifest.tree_digest(manifest)
    assert _manifest.read(path, receipt['tree_digest']) == manifest
    assert oct(os.stat(os.path.join(path, _manifest.MANIFEST)).st_mode & 0o777) == '0o644'


def test_a_fresh_tree_has_no_drift_by_either_check(tree):
    path, dummy, receipt = tree
    for content in (False, True):
        digest, drift = _manifest.verify(path, receipt, content=content)
        assert digest == receipt['tree_digest'] and not _manifest.tampered(drift)
        assert drift['checked'] == ('sha256' if content else 'size+mode+mtime') and drift['manifest'] == 'recorded'


def test_each_kind_of_change_is_named_by_path(tree):
    path, dummy, receipt = tree
    lib = os.path.join(path, 'lib', 'python3.12')
    with open(os.path.join(lib, 'empty.py'), 'w') as handle:  # content and size change
        handle.write('x')
    os.chmod(os.path.join(path, 'bin', 'python3.12'), 0o4755)
    os.chmod(os.path.join(path, 'share'), 0o777)
    os.unlink(os.path.join(path, 'bin', 'python3'))
    os.symlink('/usr/bin/python3', os.path.join(path, 'bin', 'python3'))
    os.makedirs(os.path.join(lib, 'site-packages', 'evil', 'sub'))
    for name in ('site-packages/evil/__init__.py', 'site-packages/evil/sub/x.py', 'sitecustomize.py'):
        with open(os.path.join(lib, name), 'w') as handle:
            handle.write('print(1)\n')
    os.unlink(os.path.join(lib, 'copy.py'))
    dummy, drift = _manifest.verify(path, receipt, content=True)
    assert {kind: drift[kind] for kind in _manifest.DRIFT_KINDS} == {
        'modified': ['bin/python3', 'lib/python3.12/empty.py'],
        'missing': ['lib/python3.12/copy.py'],
        'extra': ['lib/python3.12/site-packages', 'lib/python3.12/sitecustomize.py'],  # the new directory, once
        'mode': ['bin/python3.12', 'share'],
    }
    assert _manifest.tampered(drift)


def test_the_cheap_check_sees_size_and_mtime_and_only_hashing_sees_a_change_that_kept_both(tree):
    path, dummy, receipt = tree
    os_py = os.path.join(path, 'lib', 'python3.12', 'os.py')
    with open(os_py, 'r+b') as handle:  # one byte, same size
        handle.seek(5)
        handle.write(b'X')
    assert _manifest.verify(path, receipt)[1]['modified'] == ['lib/python3.12/copy.py', 'lib/python3.12/os.py']
    os.utime(os_py, (1700000000, 1700000000))  # the mtime put back, as an attacker would
    assert not _manifest.tampered(_manifest.verify(path, receipt)[1])
    assert _manifest.verify(path, receipt, content=True)[1]['modified'] == [
        'lib/python3.12/copy.py', 'lib/python3.12/os.py']


def test_the_modules_own_markers_are_not_part_of_the_tree(tree):
    path, dummy, receipt = tree
    lib = os.path.join(path, 'lib', 'python3.12')
    for name in ('PBS_RECEIPT.json', 'BUILD', '.PBS_RECEIPT.json.abc123.tmp', 'lib/python3.12/EXTERNALLY-MANAGED'):
        with open(os.path.join(path, name), 'w') as handle:
            handle.write('{}')
    assert not _manifest.tampered(_manifest.verify(path, receipt, content=True)[1])
    with open(os.path.join(lib, 'BUILD'), 'w') as handle:  # only at the top
        handle.write('x')
    assert _manifest.verify(path, receipt)[1]['extra'] == ['lib/python3.12/BUILD']


def test_bytecode_written_by_running_the_interpreter_is_extra(tree):
    path, dummy, receipt = tree
    cache = os.path.join(path, 'lib', 'python3.12', '__pycache__')
    os.mkdir(cache)
    with open(os.path.join(cache, 'os.cpython-312.pyc'), 'wb') as handle:
        handle.write(b'\x00')
    assert _manifest.verify(path, receipt)[1]['extra'] == ['lib/python3.12/__pycache__']


def test_an_install_without_a_manifest_says_so_and_is_not_drift(tree):
    path, dummy, dummy = tree
    digest, drift = _manifest.verify(path, {})
    assert digest == '' and drift['manifest'] == 'none' and drift['checked'] == 'none'
    assert drift['error'].startswith('no manifest') and not _manifest.tampered(drift)


@pytest.mark.parametrize('damage, why', [
    ('delete', 'is missing'),
    ('edit', 'does not match its own digest'),
    ('rewrite', 'but the receipt records'),
    ('garbage', 'is not a manifest this module wrote'),
])
def test_a_missing_or_altered_manifest_is_drift(tree, damage, why):
    path, manifest, receipt = tree
    target = os.path.join(path, _manifest.MANIFEST)
    if damage == 'delete':
        os.unlink(target)
    elif damage == 'edit':  # a file's digest made to match its new content, the tree digest left
        with open(target) as handle:
            text = handle.read()
        with open(target, 'w') as handle:
            handle.write(text.replace(manifest['lib/python3.12/empty.py']['sha256'], '1' * 64))
    elif damage == 'rewrite':  # a whole new, self-consistent manifest; the receipt still has the old digest
        _manifest.write(path, dict(manifest, **{'extra.py': _manifest.regular(0o644, 0, '2' * 64, 0)}))
    else:
        with open(target, 'w') as handle:
            handle.write('[1, 2]')
    digest, drift = _manifest.verify(path, receipt)
    assert digest == receipt['tree_digest'] and drift['manifest'] == 'damaged' and why in drift['error']
    assert _manifest.tampered(drift)


def test_refresh_rereads_only_the_paths_named(tree):
    path, manifest, dummy = tree
    with open(os.path.join(path, 'lib', 'python3.12', 'os.py'), 'w') as handle:
        handle.write('patched\n')
    os.unlink(os.path.join(path, 'lib', 'python3.12', 'empty.py'))
    os.symlink('python3.12', os.path.join(path, 'bin', 'python'))
    refreshed = dict(manifest)
    _manifest.refresh(refreshed, path, ['lib/python3.12/os.py', 'lib/python3.12/empty.py', 'bin/python', 'nothing'])
    assert refreshed['lib/python3.12/os.py']['sha256'] == tiny_archives.sha256(b'patched\n')
    assert 'lib/python3.12/empty.py' not in refreshed and 'nothing' not in refreshed
    assert refreshed['bin/python'] == _manifest.symlink('python3.12')
    assert refreshed['lib/python3.12/copy.py'] == manifest['lib/python3.12/copy.py']  # not re-read: as recorded


def test_a_tree_that_cannot_be_read_says_why_instead_of_failing(tree, monkeypatch):
    path, dummy, receipt = tree

    def refuse(*args, **kwargs):
        raise OSError(13, 'Permission denied')
    monkeypatch.setattr(_manifest, 'scan', refuse)
    digest, drift = _manifest.verify(path, receipt)
    assert digest == receipt['tree_digest'] and drift['checked'] == 'none'
    assert drift['error'] == 'cannot read the tree: Permission denied' and not _manifest.tampered(drift)
