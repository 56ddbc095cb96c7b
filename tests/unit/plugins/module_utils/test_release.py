# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for SHA256SUMS parsing and version resolution against a release.

The SHA256SUMS texts are rebuilt from uv's download metadata (crates/uv-python/download-metadata.json,
vendored in fixtures/uv/, which keeps every file of these tags): for one release tag, every entry with that
``build`` (all OSes, install_only archives and the .tar.zst full archives uv lists), named as
in its URL with ``%2B`` decoded to ``+``, with its sha256, in PBS's exact format
(``src/github.rs``: ``"{digest}  {filename}\\n"``, sorted by file name). uv lists only a
subset of each release's files, so these are faithful excerpts of the real files.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

import pytest

from urllib.parse import unquote, urlsplit

from ansible_collections.pbs.python.plugins.module_utils._release import (
    ResolveError, normalize_sha256, parse_sha256sums, resolve,
)

import uv_catalogue

TAGS = uv_catalogue.RELEASE_TAGS  # the vendored catalogue keeps every file of these releases
_DATA = uv_catalogue.load()


def release_files(tag):
    """name -> (sha256, uv entry) of every uv-listed CPython file of release ``tag``."""
    files = {}
    for entry in _DATA.values():
        if entry['name'] != 'cpython' or entry.get('build') != tag or not entry['sha256']:
            continue
        name = unquote(posixpath.basename(urlsplit(entry['url']).path))
        assert name not in files
        files[name] = (entry['sha256'], entry)
    assert files, tag
    return files


def sums_text(files):
    return ''.join('%s  %s\n' % (files[name][0], name) for name in sorted(files))


FILES = dict((tag, release_files(tag)) for tag in TAGS)
SUMS = dict((tag, sums_text(FILES[tag])) for tag in TAGS)


def uv_digest(tag, name):
    return FILES[tag][name][0]


def test_sums_text_looks_like_upstream():
    text = SUMS['20260814']
    assert ('5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc  '
            'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz\n') in text
    assert text.endswith('\n') and '.tar.zst\n' in text and '%2B' not in text
    assert len(text.splitlines()) == 332


@pytest.mark.parametrize('tag', TAGS)
def test_parse_round_trip(tag):
    parsed = parse_sha256sums(SUMS[tag])
    assert parsed == dict((name, digest) for name, (digest, dummy) in FILES[tag].items())
    assert sums_text(dict((name, (digest, None)) for name, digest in parsed.items())) == SUMS[tag]


def test_parse_accepts_crlf_uppercase_binary_mode_and_blank_lines():
    digest = 'a' * 40 + 'B' * 24
    text = ('\n%s *cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only.tar.gz\r\n'
            '\r\n%s  cpython-3.12.4+20240726-aarch64-apple-darwin-install_only.tar.gz\r\n' % (digest, digest))
    assert parse_sha256sums(text) == {
        'cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only.tar.gz': digest.lower(),
        'cpython-3.12.4+20240726-aarch64-apple-darwin-install_only.tar.gz': digest.lower(),
    }


def test_binary_mode_lines_resolve():
    text = SUMS['20260814'].replace('  cpython', ' *cpython')
    assert text != SUMS['20260814']
    name, digest, version = resolve(parse_sha256sums(text), '3.12', '20260814',
                                    'x86_64-unknown-linux-gnu', 'install_only_stripped', False)
    assert (name, digest, version) == (
        'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz',
        '5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc', '3.12.14')


@pytest.mark.parametrize('text,line', [
    ('<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n', 1),
    ('%s  cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz\n'
     '5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8af\n' % ('0' * 64), 2),
    ('5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91f  '
     'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz\n', 1),
    ('%s\tcpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz\n' % ('0' * 64), 1),
    ('%s  \n' % ('0' * 64), 1),
    ('\n\n%sg  cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only.tar.gz\n' % ('0' * 63), 3),
    ('{"message": "Not Found"}', 1),
])
def test_parse_rejects_malformed_lines(text, line):
    with pytest.raises(ValueError) as info:
        parse_sha256sums(text)
    assert 'line %d is malformed' % line in str(info.value)


def test_parse_rejects_one_name_with_two_digests_and_names_both():
    name = 'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz'
    text = SUMS['20260814'] + '%s  %s\n' % ('AB' * 32, name)
    with pytest.raises(ValueError) as info:
        parse_sha256sums(text)
    message = str(info.value)
    assert 'lists %s twice with different digests' % name in message
    assert uv_digest('20260814', name) in message and 'ab' * 32 in message and 'line 333' in message


def test_parse_accepts_one_name_listed_twice_with_the_same_digest():
    name = 'cpython-3.12.14+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz'
    digest = uv_digest('20260814', name)
    assert parse_sha256sums(SUMS['20260814'] + '%s *%s\n' % (digest.upper(), name))[name] == digest


def test_parse_rejects_truncated_real_file():
    """A download cut mid-line must not silently drop the entry it cut."""
    text = SUMS['20260814']
    lines = text.splitlines(True)
    for keep, cut_at in ((165, 64), (165, 65), (165, 66), (0, 10), (331, 63)):
        cut = ''.join(lines[:keep]) + lines[keep][:cut_at]
        with pytest.raises(ValueError, match='line %d is malformed' % (keep + 1)):
            parse_sha256sums(cut)
    # Cut inside the file name: the line is well-formed, but the mangled name cannot be
    # resolved, so the cut asset is never matched with a digest.
    last = lines[-1]
    name = last.split('  ', 1)[1].strip()
    fields = name.split('+20260814-')[1].split('-install_only')[0]
    assert name == 'cpython-3.15.0rc1+20260814-x86_64_v4-unknown-linux-musl-install_only_stripped.tar.gz'
    sums = parse_sha256sums(''.join(lines[:-1]) + last[:-len('ped.tar.gz\n')])
    with pytest.raises(ResolveError):
        resolve(sums, '3.15', '20260814', fields, 'install_only_stripped', False)


@pytest.mark.parametrize('text', ['', '\n', '  \n\n'])
def test_parse_rejects_empty(text):
    with pytest.raises(ValueError, match='empty'):
        parse_sha256sums(text)


@pytest.mark.parametrize('tag,target,variant,expected', [
    ('20260814', 'x86_64-unknown-linux-gnu', 'install_only_stripped', '3.12.14'),
    ('20260814', 'aarch64-apple-darwin', 'install_only_stripped', '3.12.14'),
    ('20260814', 'riscv64-unknown-linux-gnu', 'install_only_stripped', '3.12.14'),
    ('20260814', 'x86_64_v3-unknown-linux-musl', 'install_only_stripped', '3.12.14'),
    ('20250317', 'ppc64le-unknown-linux-gnu', 'install_only_stripped', '3.12.9'),
    ('20250317', 'aarch64-unknown-linux-gnu', 'install_only_stripped', '3.12.9'),
    ('20240909', 's390x-unknown-linux-gnu', 'install_only_stripped', '3.12.6'),
    ('20240107', 'x86_64-apple-darwin', 'install_only', '3.12.1'),
    ('20240107', 'x86_64_v2-unknown-linux-gnu', 'install_only', '3.12.1'),
])
def test_resolve_prefix_312(tag, target, variant, expected):
    sums = parse_sha256sums(SUMS[tag])
    name, digest, version = resolve(sums, '3.12', tag, target, variant, False)
    assert version == expected
    assert name == 'cpython-%s+%s-%s-%s.tar.gz' % (expected, tag, target, variant)
    assert digest == uv_digest(tag, name)
    entry = FILES[tag][name][1]
    assert (entry['major'], entry['minor'], entry['patch'], entry['variant']) == \
        (3, 12, int(expected.split('.')[2]), None)


@pytest.mark.parametrize('tag,version', [
    ('20220227', '3.8.12'), ('20220227', '3.9.10'), ('20220227', '3.10.2'),
    ('20260814', '3.10.21'), ('20260814', '3.14.7'), ('20260814', '3.15.0rc1'),
    ('20251031', '3.15.0a1'), ('20240909', '3.13.0rc2'),
])
def test_resolve_exact_version(tag, version):
    variant = 'install_only' if tag < '20240726' else 'install_only_stripped'
    sums = parse_sha256sums(SUMS[tag])
    name, digest, got = resolve(sums, version, tag, 'aarch64-apple-darwin', variant, False)
    assert got == version
    assert name == 'cpython-%s+%s-aarch64-apple-darwin-%s.tar.gz' % (version, tag, variant)
    assert digest == uv_digest(tag, name)


@pytest.mark.parametrize('tag,prefix,expected', [
    ('20260814', '3.15', '3.15.0rc1'),
    ('20251031', '3.15', '3.15.0a1'),
    ('20240909', '3.13', '3.13.0rc2'),
    ('20260325', '3.15', '3.15.0a7'),
])
def test_resolve_prerelease_only_minor_falls_back(tag, prefix, expected):
    sums = parse_sha256sums(SUMS[tag])
    name, digest, version = resolve(sums, prefix, tag, 'x86_64-unknown-linux-gnu', 'install_only_stripped', False)
    assert version == expected
    assert digest == uv_digest(tag, name)


def test_resolve_prefers_final_over_newer_prerelease_and_newest_patch():
    """No uv-listed release has a final and a pre-release of one minor, so graft some in."""
    files = dict(FILES['20260814'])
    target = 'x86_64-unknown-linux-gnu'
    extra = {
        'cpython-3.15.0+20260814-%s-install_only_stripped.tar.gz' % target: '1' * 64,
        'cpython-3.15.1rc1+20260814-%s-install_only_stripped.tar.gz' % target: '2' * 64,
        'cpython-3.15.0rc2+20260814-%s-install_only_stripped.tar.gz' % target: '3' * 64,
        'cpython-3.12.9+20260814-%s-install_only_stripped.tar.gz' % target: '4' * 64,
        'cpython-3.12.15rc1+20260814-%s-install_only_stripped.tar.gz' % target: '5' * 64,
    }
    for name, digest in extra.items():
        files[name] = (digest, None)
    sums = parse_sha256sums(sums_text(files))
    assert resolve(sums, '3.15', '20260814', target, 'install_only_stripped', False) == (
        'cpython-3.15.0+20260814-%s-install_only_stripped.tar.gz' % target, '1' * 64, '3.15.0')
    assert resolve(sums, '3.12', '20260814', target, 'install_only_stripped', False)[2] == '3.12.14'
    assert resolve(sums, '3.15.1rc1', '20260814', target, 'install_only_stripped', False)[1] == '2' * 64
    # Another target of the same build is unaffected by the grafted files.
    assert resolve(sums, '3.15', '20260814', 'aarch64-apple-darwin', 'install_only_stripped', False)[2] == \
        '3.15.0rc1'


def test_resolve_missing_version_lists_what_the_build_has():
    sums = parse_sha256sums(SUMS['20260814'])
    with pytest.raises(ResolveError) as info:
        resolve(sums, '3.9', '20260814', 's390x-unknown-linux-gnu', 'install_only_stripped', False)
    message = str(info.value)
    assert 'versions it has: 3.10.21, 3.11.16, 3.12.14, 3.13.15, 3.14.7, 3.15.0rc1' in message
    assert '3.9' in message and 's390x-unknown-linux-gnu' in message
    with pytest.raises(ResolveError) as info:
        resolve(sums, '3.12.13', '20260814', 's390x-unknown-linux-gnu', 'install_only_stripped', False)
    assert '3.12.14' in str(info.value)
    # Free-threaded builds exist for 3.13+ only, and the list says so.
    with pytest.raises(ResolveError, match='versions it has: 3.13.15, 3.14.7, 3.15.0rc1$'):
        resolve(sums, '3.15.0', '20260814', 'x86_64-unknown-linux-gnu', 'install_only_stripped', True)
    assert isinstance(info.value, ValueError)


def test_resolve_missing_target_lists_targets_present():
    sums = parse_sha256sums(SUMS['20220227'])
    with pytest.raises(ResolveError) as info:
        resolve(sums, '3.10', '20220227', 'riscv64-unknown-linux-gnu', 'install_only', False)
    message = str(info.value)
    listed = message.split('targets it has: ', 1)[1].split(', ')
    assert 'x86_64-unknown-linux-gnu' in listed and 'aarch64-apple-darwin' in listed
    assert 'x86_64_v4-unknown-linux-gnu' in listed
    assert 'riscv64-unknown-linux-gnu' not in listed
    assert listed == sorted(listed)


def test_resolve_wrong_variant_or_build_lists_no_targets():
    sums = parse_sha256sums(SUMS['20220227'])
    with pytest.raises(ResolveError, match='none'):
        resolve(sums, '3.10', '20220227', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False)
    with pytest.raises(ResolveError, match='none'):
        resolve(sums, '3.10', '20220318', 'x86_64-unknown-linux-gnu', 'install_only', False)


def test_resolve_full_archives_are_ignored():
    """A build whose only listing for a target is a .tar.zst full archive has no install asset."""
    files = FILES['20260814']
    assert 'cpython-3.15.0rc1+20260814-x86_64-unknown-linux-gnu-debug-full.tar.zst' in files
    sums = {name: digest for name, (digest, dummy) in files.items() if name.endswith('.tar.zst')}
    with pytest.raises(ResolveError):
        resolve(sums, '3.15', '20260814', 'x86_64-unknown-linux-gnu', 'install_only_stripped', False)
    with pytest.raises(ResolveError):
        resolve(sums, '3.15', '20260814', 'x86_64-unknown-linux-gnu', 'install_only_stripped', True)


@pytest.mark.parametrize('tag,version,expected', [
    ('20260814', '3.13', '3.13.15'),
    ('20260814', '3.15', '3.15.0rc1'),
    ('20260325', '3.14', '3.14.3'),
    ('20260325', '3.13.12', '3.13.12'),
])
def test_resolve_freethreaded(tag, version, expected):
    sums = parse_sha256sums(SUMS[tag])
    for target in ('x86_64-unknown-linux-gnu', 'aarch64-apple-darwin', 'aarch64-unknown-linux-musl'):
        name, digest, got = resolve(sums, version, tag, target, 'install_only_stripped', True)
        assert got == expected
        assert name == 'cpython-%s+%s-%s-freethreaded-install_only_stripped.tar.gz' % (expected, tag, target)
        assert FILES[tag][name][1]['variant'] == 'freethreaded'
        assert digest == uv_digest(tag, name)
        plain, plain_digest, dummy = resolve(sums, version, tag, target, 'install_only_stripped', False)
        assert 'freethreaded' not in plain and plain_digest != digest
        assert FILES[tag][plain][1]['variant'] is None


def test_resolve_freethreaded_missing_before_it_existed():
    sums = parse_sha256sums(SUMS['20250317'])
    with pytest.raises(ResolveError, match='no freethreaded install_only_stripped asset'):
        resolve(sums, '3.13', '20250317', 'x86_64-unknown-linux-gnu', 'install_only_stripped', True)


@pytest.mark.parametrize('value', [
    '5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc',
    '5ACFA3E9BA26B51AE161C83AFF278DA915B590D22373A424B2BA55B8AFE91FCC',
    'sha256:5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc',
    'SHA256:5ACFA3E9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc',
    '  5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc\n',
])
def test_normalize_sha256_accepts(value):
    assert normalize_sha256(value) == '5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc'


@pytest.mark.parametrize('value', [
    '', 'sha256:', 'sha512:' + 'a' * 64, 'a' * 63, 'a' * 65, 'g' * 64, 'md5:' + 'a' * 32,
    '5acfa3e9 ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc',
    'sha256: 5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc', None, 0,
    '5acfa3e9ba26b51ae161c83aff278da915b590d22373a424b2ba55b8afe91fcc  cpython.tar.gz',
])
def test_normalize_sha256_rejects(value):
    with pytest.raises(ValueError, match='is not a sha256 digest'):
        normalize_sha256(value)
