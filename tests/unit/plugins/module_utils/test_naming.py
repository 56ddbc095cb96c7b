# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for PBS asset naming, URL building and release-history checks.

The main test replays every Linux/macOS CPython install_only[_stripped] entry of uv's
download metadata (crates/uv-python/download-metadata.json; its entries are vendored unmodified in
fixtures/uv/): the pin fields are derived from the entry's structured fields only, and the asset
name and URL built from them must equal the published URL byte for byte.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

import pytest

from urllib.parse import unquote, urlsplit

from ansible_collections.pbs.python.plugins.module_utils import _naming
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    UPSTREAM, asset_name, asset_url, check_available, check_target, install_dir_name, interpreter_name,
    is_prefix, parse_asset_name, parse_version, sums_url, version_key,
    version_matches,
)

import uv_catalogue

# uv's arch family -> the arch part of the PBS triple (x86_64 micro-arch levels are added from
# the arch variant). Families not listed are spelled the same in both.
ARCH = {'powerpc64le': 'ppc64le'}
OS_TRIPLE = {'linux': 'unknown-linux-%(libc)s', 'darwin': 'apple-darwin'}


def load_entries():
    entries = []
    for key, entry in sorted(uv_catalogue.load().items()):
        if entry['name'] != 'cpython' or entry['os'] not in ('linux', 'darwin'):
            continue
        basename = posixpath.basename(urlsplit(entry['url']).path)
        if basename.endswith('install_only.tar.gz') or basename.endswith('install_only_stripped.tar.gz'):
            entries.append((key, entry))
    return entries


ENTRIES = load_entries()


def triple(entry):
    arch = ARCH.get(entry['arch']['family'], entry['arch']['family'])
    if entry['arch']['variant']:
        arch += '_' + entry['arch']['variant']
    return '%s-%s' % (arch, OS_TRIPLE[entry['os']] % {'libc': entry['libc']})


def pin_of(entry):
    """The (version, build, target, variant, freethreaded) pin, from the structured fields only."""
    version = '%d.%d.%d%s' % (entry['major'], entry['minor'], entry['patch'], entry['prerelease'])
    build = entry['build']
    variant = 'install_only_stripped' if int(build) >= 20240726 else 'install_only'
    if entry['variant'] not in (None, 'freethreaded'):
        raise AssertionError('unexpected uv variant %r' % entry['variant'])
    return version, build, triple(entry), variant, entry['variant'] == 'freethreaded'


def test_every_uv_install_only_entry_round_trips():
    checked, failures = 0, []
    for key, entry in ENTRIES:
        version, build, target, variant, freethreaded = pin_of(entry)
        path = urlsplit(entry['url']).path
        quoted_base = posixpath.basename(path)
        tag_dir = posixpath.basename(posixpath.dirname(path))
        expected = unquote(quoted_base)
        try:
            name = asset_name(version, build, target, variant, freethreaded)
            assert name == expected, (name, expected)
            assert tag_dir == build
            # The last two URL path components, byte for byte (+ sent as %2B).
            url = asset_url(UPSTREAM, build, name)
            assert url == entry['url'], (url, entry['url'])
            assert url.endswith('/%s/%s' % (tag_dir, quoted_base))
            assert '%2B' in url and '+' not in url
            assert asset_url('https://mirror.example/pbs/', build, name) == \
                'https://mirror.example/pbs/%s/%s' % (tag_dir, quoted_base)
            assert parse_asset_name(name) == {
                'version': version, 'build': build, 'target': target,
                'variant': variant, 'freethreaded': freethreaded}
            check_available(build, target, variant, freethreaded)
            assert install_dir_name(name) == name[:-len('.tar.gz')]
            assert interpreter_name(version, freethreaded) == 'python%d.%d%s' % (
                entry['major'], entry['minor'], 't' if freethreaded else '')
        except (AssertionError, ValueError) as exc:
            failures.append('%s: %r' % (key, exc))
        checked += 1
    print('checked %d uv metadata entries' % checked)
    assert not failures, '\n'.join(failures[:20])
    assert checked > 1500


def test_uv_entries_cover_the_interesting_cases():
    """The replay above must include every target family, both variants and free-threading."""
    pins = [pin_of(entry) for dummy, entry in ENTRIES]
    targets = set(pin[2] for pin in pins)
    assert {'ppc64le-unknown-linux-gnu', 'riscv64-unknown-linux-gnu', 's390x-unknown-linux-gnu',
            'armv7-unknown-linux-gnueabi', 'armv7-unknown-linux-gnueabihf', 'i686-unknown-linux-gnu',
            'x86_64_v4-unknown-linux-musl', 'aarch64-unknown-linux-musl', 'aarch64-apple-darwin',
            'x86_64-apple-darwin'} <= targets
    assert set(pin[3] for pin in pins) == {'install_only', 'install_only_stripped'}
    assert any(pin[4] for pin in pins) and any(not pin[4] for pin in pins)
    assert any(pin[0].endswith('rc1') for pin in pins) and any('a' in pin[0] for pin in pins)


def test_sums_url_and_asset_url_trailing_slash():
    assert sums_url(UPSTREAM + '/', '20260814') == UPSTREAM + '/20260814/SHA256SUMS'
    assert asset_url('file:///srv/pbs//', '20240107',
                     'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz') == \
        'file:///srv/pbs/20240107/cpython-3.12.1%2B20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'


@pytest.mark.parametrize('name', [
    'SHA256SUMS',
    'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-pgo+lto-full.tar.zst',
    'cpython-3.10.0-aarch64-apple-darwin-install_only-20211017T1616.tar.gz',
    'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz.sha256',
    'cpython-3.12.14%2B20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz',
    'cpython-3.12+20260814-x86_64-unknown-linux-gnu-install_only.tar.gz',
    'pypy-3.10.14+20260814-x86_64-unknown-linux-gnu-install_only.tar.gz',
])
def test_parse_asset_name_rejects_other_files(name):
    assert parse_asset_name(name) is None


def test_parse_asset_name_freethreaded_target_is_not_swallowed():
    fields = parse_asset_name(
        'cpython-3.13.15+20260814-x86_64-unknown-linux-gnu-freethreaded-install_only_stripped.tar.gz')
    assert fields == {'version': '3.13.15', 'build': '20260814', 'target': 'x86_64-unknown-linux-gnu',
                      'variant': 'install_only_stripped', 'freethreaded': True}


@pytest.mark.parametrize('build,target,variant,freethreaded', [
    ('20220227', 'x86_64-unknown-linux-gnu', 'install_only', False),
    ('20240726', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False),
    ('20240725', 'x86_64-unknown-linux-gnu', 'install_only', False),
    ('20260324', 'aarch64-apple-darwin', 'install_only_stripped', True),
    ('20250311', 'x86_64-unknown-linux-musl', 'install_only_stripped', False),
])
def test_check_available_accepts_first_builds(build, target, variant, freethreaded):
    assert check_available(build, target, variant, freethreaded) is None


@pytest.mark.parametrize('build,target,variant,freethreaded,needles', [
    ('20220226', 'x86_64-unknown-linux-gnu', 'install_only', False,
     ['20220227', 'url and sha256']),
    ('20211017', 'aarch64-apple-darwin', 'install_only', False, ['20220227', 'url and sha256']),
    ('20240415', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False,
     ['20240726', 'variant: install_only']),
    ('20240725', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False,
     ['20240726', '20240725 shipped them unstripped', 'variant: install_only']),
    ('20260323', 'x86_64-unknown-linux-gnu', 'install_only_stripped', True,
     ['20260324', 'freethreaded: false', '.tar.zst']),
    ('20241016', 'aarch64-apple-darwin', 'install_only', True, ['pin build 20260324 or later']),
    ('20250310', 'x86_64-unknown-linux-musl', 'install_only_stripped', False,
     ['statically linked', 'pin build 20250311 or later', 'x86_64-unknown-linux-musl']),
    ('20220227', 'x86_64_v3-unknown-linux-musl', 'install_only', False, ['20250311']),
])
def test_check_available_refusals_name_the_fix(build, target, variant, freethreaded, needles):
    with pytest.raises(ValueError) as info:
        check_available(build, target, variant, freethreaded)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert build in message


def test_check_available_only_mentions_the_defect_for_20240725():
    with pytest.raises(ValueError) as info:
        check_available('20240415', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False)
    assert 'unstripped' not in str(info.value)


@pytest.mark.parametrize('build', ['latest', '2024072', '202407260', '', '2024-07-26', None])
def test_check_available_rejects_non_tags(build):
    with pytest.raises(ValueError, match='8-digit tag'):
        check_available(build, 'x86_64-unknown-linux-gnu', 'install_only', False)


@pytest.mark.parametrize('variant', ['full', 'pgo+lto', 'install-only', '', None])
def test_check_available_rejects_unknown_variants(variant):
    with pytest.raises(ValueError, match='install_only_stripped, install_only'):
        check_available('20260814', 'x86_64-unknown-linux-gnu', variant, False)


@pytest.mark.parametrize('text,expected', [
    ('3.12', (3, 12, None, None)),
    ('3.12.14', (3, 12, 14, None)),
    ('3.15.0rc1', (3, 15, 0, 'rc1')),
    ('3.14.0b4', (3, 14, 0, 'b4')),
    ('3.15.0a5', (3, 15, 0, 'a5')),
    ('3.10', (3, 10, None, None)),
])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize('text', [
    '3', '3.', '3.12.', 'v3.12', '3.12.1.2', '3.15.0-rc1', '3.15.0.rc1', '3.15.0c1', '3.15rc1',
    '3.12.x', 'latest', '', '3.12.1+20240107', 'python3.12', '3.12.01', '03.12', '3.012', '3.15.0rc01',
    ' 3.12.14', '3.12.14\n', '3.12\n',  # part of file names and URLs: no whitespace, no trailing newline
])
def test_parse_version_errors(text):
    with pytest.raises(ValueError) as info:
        parse_version(text)
    assert repr(text) in str(info.value)
    assert '3.15.0rc1' in str(info.value)


def test_every_install_only_triple_in_the_catalogue_is_a_valid_target():
    names = [unquote(posixpath.basename(urlsplit(entry['url']).path)) for entry in uv_catalogue.load().values()]
    triples = sorted(set(parsed['target'] for parsed in map(parse_asset_name, names) if parsed))
    assert {'x86_64_v3-unknown-linux-musl', 'aarch64-apple-darwin', 'x86_64-pc-windows-msvc-shared'} <= set(triples)
    assert [check_target(triple) for triple in triples] == triples


@pytest.mark.parametrize('target', [
    '../../etc', 'x86_64-unknown-linux-gnu/../x', 'x86_64', 'X86_64-unknown-linux-gnu', 'x86_64-unknown-linux-gnu ',
    'x86_64 unknown linux gnu', '', 'a-b-c-d-e-f',
])
def test_targets_that_are_not_triples_are_refused(target):
    with pytest.raises(ValueError, match='leave target unset'):
        check_target(target)


def test_version_key_orders_prereleases_before_final():
    ordered = ['3.9.25', '3.10.21', '3.15.0a1', '3.15.0a5', '3.15.0a10', '3.15.0b1', '3.15.0b4',
               '3.15.0rc1', '3.15.0rc2', '3.15.0', '3.15.1', '3.15.10']
    for shuffled in (list(reversed(ordered)), ordered[::2] + ordered[1::2]):
        assert sorted(shuffled, key=version_key) == ordered
    assert version_key('3.15.0a5') < version_key('3.15.0b1') < version_key('3.15.0rc1') \
        < version_key('3.15.0') < version_key('3.15.1')


def test_version_matches_and_is_prefix():
    assert is_prefix('3.12') and not is_prefix('3.12.0') and not is_prefix('3.15.0rc1')
    assert version_matches('3.12', '3.12.14')
    assert version_matches('3.15', '3.15.0rc1')
    assert not version_matches('3.1', '3.12.14')
    assert not version_matches('3.12', '3.13.1')
    assert version_matches('3.12.14', '3.12.14')
    assert not version_matches('3.12.1', '3.12.14')
    assert not version_matches('3.15.0', '3.15.0rc1')
    assert not version_matches('3.15.0rc1', '3.15.0')
    assert version_matches('3.15.0rc1', '3.15.0rc1')


def test_interpreter_name():
    assert interpreter_name('3.13.15', freethreaded=True) == 'python3.13t'
    assert interpreter_name('3.15.0rc1') == 'python3.15'
    assert _naming.minor_of('3.10.21') == '3.10'
