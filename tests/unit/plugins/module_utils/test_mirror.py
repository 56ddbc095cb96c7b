# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the mirror builder's core: uv's downloads JSON, and syncing a root from an upstream.

The uv mapping is checked against uv's real download metadata (crates/uv-python/download-metadata.json,
vendored in fixtures/uv/): from nothing but each entry's URL (the asset name and tag) and sha256, it
must rebuild every field of every install_only entry, and its key.
The sync tests use a loopback HTTP upstream serving small byte strings under real asset names.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re

import pytest

from urllib.parse import unquote, urlsplit

from ansible_collections.pbs.python.plugins.module_utils import _mirror
from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError
from ansible_collections.pbs.python.plugins.module_utils._mirror import (
    ChecksumMismatch, Mirror, MirrorError, check_assets, uv_downloads, uv_entry, uv_platform,
)

import uv_catalogue
from mirror_server import MirrorServer

PREFIX = 'https://github.com/astral-sh/python-build-standalone/releases/download/'

_DATA = uv_catalogue.load()


def _install_only_entries():
    found = []
    for key, entry in sorted(_DATA.items()):
        url = entry.get('url') or ''
        if entry['name'] != 'cpython' or not url.startswith(PREFIX) or not re.search(r'install_only(_stripped)?\.tar\.gz$', url):
            continue
        tag, asset = urlsplit(url).path.split('/')[-2:]
        found.append((key, entry, tag, unquote(asset)))
    return found


UV_ENTRIES = _install_only_entries()


def test_uv_entries_cover_every_platform_and_kind():
    assert len(UV_ENTRIES) > 2000
    kinds = set((e['arch']['family'], e['arch']['variant'], e['os'], e['libc'], e['variant']) for dummy, e, dummy2, dummy3
                in UV_ENTRIES)
    assert ('powerpc64le', None, 'linux', 'gnu', None) in kinds
    assert ('x86_64', 'v3', 'linux', 'musl', None) in kinds
    assert ('aarch64', None, 'darwin', 'none', 'freethreaded') in kinds
    assert ('riscv64', None, 'linux', 'gnu', None) in kinds
    assert any(e['prerelease'] for dummy, e, dummy2, dummy3 in UV_ENTRIES)


def test_uv_entry_rebuilds_every_real_install_only_entry_from_its_url():
    mismatched = []
    for key, entry, tag, asset in UV_ENTRIES:
        label, built = uv_entry(asset, tag, entry['sha256'])
        if built != entry:
            mismatched.append((key, built, entry))
        elif label != key and not asset.endswith(('-shared-install_only.tar.gz',)):
            mismatched.append((key, label))
    assert not mismatched, mismatched[:3]


@pytest.mark.parametrize('triple, expected', [
    ('x86_64_v3-unknown-linux-gnu', ('x86_64', 'v3', 'linux', 'gnu')),
    ('ppc64le-unknown-linux-gnu', ('powerpc64le', None, 'linux', 'gnu')),
    ('aarch64-apple-darwin', ('aarch64', None, 'darwin', 'none')),
    ('armv7-unknown-linux-gnueabihf', ('armv7', None, 'linux', 'gnueabihf')),
    ('i686-pc-windows-msvc', ('i686', None, 'windows', 'none')),
    ('x86_64-unknown-linux-musl', ('x86_64', None, 'linux', 'musl')),
])
def test_uv_platform(triple, expected):
    assert uv_platform(triple) == expected


def test_uv_platform_refuses_unknown_triples():
    with pytest.raises(ValueError):
        uv_platform('sparc-sun-solaris')


def test_uv_downloads_labels_stay_unique_for_two_builds_of_one_patch():
    held = {('20240107', 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'): 'a' * 64,
            ('20240108', 'cpython-3.12.1+20240108-x86_64-unknown-linux-gnu-install_only.tar.gz'): 'b' * 64,
            ('20240107', 'cpython-3.11.7+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'): 'c' * 64,
            ('20240107', 'README'): 'd' * 64}
    downloads = uv_downloads(held)
    assert sorted(downloads) == ['cpython-3.11.7-linux-x86_64-gnu',
                                 'cpython-3.12.1-linux-x86_64-gnu-20240107-install_only',
                                 'cpython-3.12.1-linux-x86_64-gnu-20240108-install_only']
    assert downloads['cpython-3.11.7-linux-x86_64-gnu']['url'] == (
        PREFIX + '20240107/cpython-3.11.7%2B20240107-x86_64-unknown-linux-gnu-install_only.tar.gz')
    assert set(d['build'] for d in downloads.values()) == {'20240107', '20240108'}


@pytest.mark.parametrize('entry, message', [
    ({'asset': 'x.tar.gz', 'build': '20240107'}, 'must be a dict with asset, build and sha256'),
    ({'asset': '../x.tar.gz', 'build': '20240107', 'sha256': 'a' * 64}, 'not a file name'),
    ({'asset': 'SHA256SUMS', 'build': '20240107', 'sha256': 'a' * 64}, 'not a file name'),
    ({'asset': 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz', 'build': '20240108',
      'sha256': 'a' * 64}, 'belongs to build 20240107'),
    ({'asset': 'x.tar.gz', 'build': '2024', 'sha256': 'a' * 64}, 'not a PBS release tag'),
    ({'asset': 'x.tar.gz', 'build': '20240107', 'sha256': 'nothex'}, 'not a sha256 digest'),
])
def test_check_assets_refuses_bad_entries(entry, message):
    with pytest.raises((MirrorError, ValueError), match=message):
        check_assets([entry])


# -- sync against a loopback upstream ----------------------------------------------------------

A = 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'
B = 'cpython-3.11.7+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'
C = 'cpython-3.13.0+20241016-x86_64-unknown-linux-gnu-install_only.tar.gz'
OTHER = 'cpython-3.13.0+20241016-aarch64-unknown-linux-gnu-install_only.tar.gz'
PARAMS = dict(headers=None, validate_certs=True, use_proxy=False, use_netrc=False)


@pytest.fixture(scope='module')
def _upstream(tmp_path_factory):
    root = tmp_path_factory.mktemp('upstream')
    blobs = {('20240107', A): os.urandom(300000), ('20240107', B): os.urandom(200000),
             ('20241016', C): os.urandom(100000), ('20241016', OTHER): os.urandom(1000)}
    for (tag, name), data in blobs.items():
        (root / tag).mkdir(parents=True, exist_ok=True)
        (root / tag / name).write_bytes(data)
    with MirrorServer(str(root)) as server:
        server.blobs = blobs
        server.assets = lambda *keys: [dict(asset=n, build=t, sha256=hashlib.sha256(blobs[(t, n)]).hexdigest(),
                                            version='ignored') for t, n in keys]
        yield server


@pytest.fixture
def upstream(_upstream):
    _upstream.hooks.clear()
    _upstream.reset()
    yield _upstream
    _upstream.hooks.clear()


def sync(root, server, assets, **kwargs):
    mirror = Mirror(str(root), [server.url], PARAMS, timeout=5, retries=kwargs.pop('retries', 1),
                    check_mode=kwargs.pop('check_mode', False), rehash=kwargs.pop('rehash', False))
    return mirror.sync(assets, **kwargs)


def served(server):
    return [path.rsplit('/', 1)[-1] for path in server.gets('.tar.gz')]


def test_sync_lays_out_only_the_listed_assets_with_sums_and_uv_json(tmp_path, upstream):
    root = tmp_path / 'mirror'
    assets = upstream.assets(('20240107', A), ('20240107', B), ('20241016', C))
    result = sync(root, upstream, assets)
    assert result['changed'] and sorted(result['downloaded']) == sorted([A, B, C]) and not result['failures']
    assert sorted(os.listdir(str(root / '20241016'))) == ['SHA256SUMS', C]
    for tag, names in (('20240107', [B, A]), ('20241016', [C])):
        lines = ['%s  %s' % (hashlib.sha256(upstream.blobs[(tag, n)]).hexdigest(), n) for n in sorted(names)]
        assert (root / tag / 'SHA256SUMS').read_text() == '\n'.join(lines) + '\n'
        for name in names:
            assert (root / tag / name).read_bytes() == upstream.blobs[(tag, name)]
    downloads = json.loads((root / 'download-metadata.json').read_text())
    assert sorted(e['url'].rsplit('/', 1)[-1] for e in downloads.values()) == sorted(
        n.replace('+', '%2B') for n in (A, B, C))
    assert result['held'] == ['20240107/' + B, '20240107/' + A, '20241016/' + C]


def test_rerun_downloads_nothing_and_hashes_nothing(tmp_path, upstream, monkeypatch):
    root = tmp_path / 'mirror'
    assets = upstream.assets(('20240107', A), ('20241016', C))
    sync(root, upstream, assets)
    upstream.reset()
    hashed = []
    real = _mirror.sha256_file
    monkeypatch.setattr(_mirror, 'sha256_file', lambda path, digest=None: hashed.append(path) or real(path, digest))
    result = sync(root, upstream, assets)
    assert not result['changed'] and sorted(result['kept']) == sorted([A, C]) and not result['downloaded']
    assert upstream.requests == [] and hashed == []
    # a touched file (other mtime) is hashed again, found intact and kept
    os.utime(str(root / '20240107' / A), (1, 1))
    result = sync(root, upstream, assets)
    assert not result['changed'] and hashed == [str(root / '20240107' / A)] and upstream.requests == []


def test_corrupt_file_is_replaced(tmp_path, upstream):
    root = tmp_path / 'mirror'
    assets = upstream.assets(('20240107', A))
    sync(root, upstream, assets)
    with open(str(root / '20240107' / A), 'r+b') as handle:
        handle.write(b'garbage')
    upstream.reset()
    result = sync(root, upstream, assets)
    assert result['replaced'] == [A] and result['changed'] and served(upstream) == [A]
    assert (root / '20240107' / A).read_bytes() == upstream.blobs[('20240107', A)]


def range_hook(server, log):
    """Answer GETs with 206 Partial Content for ``Range: bytes=N-``, as real web servers do."""
    def hook(handler):
        path = unquote(urlsplit(handler.path).path)
        data = server.blobs[tuple(path.strip('/').split('/'))]
        wanted = handler.headers.get('Range')
        log.append(wanted)
        start = int(re.match(r'bytes=(\d+)-$', wanted).group(1)) if wanted else 0
        if start >= len(data):
            handler.send_response(416)
            handler.send_header('Content-Range', 'bytes */%d' % len(data))
            handler.send_header('Content-Length', '0')
            handler.end_headers()
            return True
        handler.send_response(206 if wanted else 200)
        if wanted:
            handler.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
        handler.send_header('Content-Length', str(len(data) - start))
        handler.end_headers()
        handler.wfile.write(data[start:])
        return True
    return hook


def test_interrupted_download_resumes_with_range(tmp_path, upstream):
    root = tmp_path / 'mirror'
    data = upstream.blobs[('20240107', A)]
    (root / '20240107').mkdir(parents=True)
    (root / '20240107' / (A + '.partial')).write_bytes(data[:123456])
    log = []
    upstream.hooks['/20240107/' + A] = range_hook(upstream, log)
    result = sync(root, upstream, upstream.assets(('20240107', A)))
    assert result['downloaded'] == [A] and result['resumed'] == [A]
    assert log == ['bytes=123456-']
    assert (root / '20240107' / A).read_bytes() == data
    assert not (root / '20240107' / (A + '.partial')).exists()


def test_stale_partial_of_other_bytes_restarts_from_scratch(tmp_path, upstream):
    root = tmp_path / 'mirror'
    data = upstream.blobs[('20240107', A)]
    (root / '20240107').mkdir(parents=True)
    (root / '20240107' / (A + '.partial')).write_bytes(b'x' * 1000)
    log = []
    upstream.hooks['/20240107/' + A] = range_hook(upstream, log)
    result = sync(root, upstream, upstream.assets(('20240107', A)))
    assert log == ['bytes=1000-', None] and result['downloaded'] == [A] and not result['resumed']
    assert (root / '20240107' / A).read_bytes() == data


def test_complete_partial_answered_416_is_verified_and_kept(tmp_path, upstream):
    root = tmp_path / 'mirror'
    data = upstream.blobs[('20240107', A)]
    (root / '20240107').mkdir(parents=True)
    (root / '20240107' / (A + '.partial')).write_bytes(data)
    log = []
    upstream.hooks['/20240107/' + A] = range_hook(upstream, log)
    result = sync(root, upstream, upstream.assets(('20240107', A)))
    assert log == ['bytes=%d-' % len(data)] and result['resumed'] == [A]
    assert (root / '20240107' / A).read_bytes() == data


def test_checksum_mismatch_fails_that_asset_and_lists_only_verified_ones(tmp_path, upstream):
    root = tmp_path / 'mirror'
    assets = upstream.assets(('20240107', A), ('20240107', B))
    assets[0]['sha256'] = 'f' * 64
    result = sync(root, upstream, assets)
    assert [f['asset'] for f in result['failures']] == [A] and 'checksum mismatch' in result['failures'][0]['msg']
    assert result['downloaded'] == [B]
    assert sorted(os.listdir(str(root / '20240107'))) == ['SHA256SUMS', B]
    assert (root / '20240107' / 'SHA256SUMS').read_text() == '%s  %s\n' % (assets[1]['sha256'], B)


def test_missing_asset_is_reported_as_not_found(tmp_path, upstream):
    assets = [dict(asset=A.replace('3.12.1', '3.12.9'), build='20240107', sha256='a' * 64)]
    result = sync(tmp_path / 'mirror', upstream, assets)
    assert 'HTTP 404' in result['failures'][0]['msg']


def test_unlisted_files_stay_listed_until_pruned(tmp_path, upstream):
    root = tmp_path / 'mirror'
    sync(root, upstream, upstream.assets(('20240107', A), ('20241016', C)))
    (root / '20240107' / 'stray.tar.gz').write_bytes(b'unverified')
    result = sync(root, upstream, upstream.assets(('20240107', A)))
    assert not result['changed'] and result['held'] == ['20240107/' + A, '20241016/' + C]
    result = sync(root, upstream, upstream.assets(('20240107', A)), prune=True)
    assert sorted(result['pruned']) == ['20240107/stray.tar.gz', '20241016/' + C]
    assert result['held'] == ['20240107/' + A] and not (root / '20241016' / 'SHA256SUMS').exists()
    assert list(json.loads((root / 'download-metadata.json').read_text())) == ['cpython-3.12.1-linux-x86_64-gnu']


def test_check_mode_predicts_and_writes_nothing(tmp_path, upstream):
    root = tmp_path / 'mirror'
    assets = upstream.assets(('20240107', A))
    result = sync(root, upstream, assets, check_mode=True)
    assert result['changed'] and result['downloaded'] == [A] and not root.exists()
    sync(root, upstream, assets)
    (root / '20240107' / A).write_bytes(b'corrupt')
    upstream.reset()
    result = sync(root, upstream, assets, check_mode=True)
    assert result['changed'] and result['replaced'] == [A] and upstream.requests == []
    assert (root / '20240107' / A).read_bytes() == b'corrupt'


def test_uv_json_must_be_a_plain_name(tmp_path, upstream):
    with pytest.raises(MirrorError):
        sync(tmp_path / 'mirror', upstream, upstream.assets(('20240107', A)), uv_json='../x.json')


def test_failed_upstream_falls_over_to_the_next(tmp_path, upstream):
    root = tmp_path / 'mirror'
    mirror = Mirror(str(root), ['http://127.0.0.1:9/none', upstream.url], PARAMS, timeout=5, retries=0)
    result = mirror.sync(upstream.assets(('20240107', A)))
    assert result['downloaded'] == [A] and not result['failures']
    assert isinstance(ChecksumMismatch('x'), MirrorError) and issubclass(FetchError, Exception)


def test_connection_lost_mid_transfer_resumes_in_the_same_run(tmp_path, upstream):
    root = tmp_path / 'mirror'
    data = upstream.blobs[('20240107', A)]
    log = []
    ranged = range_hook(upstream, log)

    def hook(handler):
        if log or handler.headers.get('Range'):
            return ranged(handler)
        log.append(None)
        handler.send_response(200)
        handler.send_header('Content-Length', str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:100000])  # then hang up
        handler.close_connection = True
        return True

    upstream.hooks['/20240107/' + A] = hook
    result = sync(root, upstream, upstream.assets(('20240107', A)), retries=2)
    assert log == [None, 'bytes=100000-'] and result['resumed'] == [A], result
    assert (root / '20240107' / A).read_bytes() == data


def test_upstream_without_range_support_starts_over(tmp_path, upstream):
    root = tmp_path / 'mirror'
    data = upstream.blobs[('20240107', A)]
    (root / '20240107').mkdir(parents=True)
    (root / '20240107' / (A + '.partial')).write_bytes(data[:5000])
    result = sync(root, upstream, upstream.assets(('20240107', A)))  # http.server ignores Range: 200
    assert result['downloaded'] == [A] and not result['resumed']
    assert (root / '20240107' / A).read_bytes() == data
