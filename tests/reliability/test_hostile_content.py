"""Hostile or broken content, through real ansible-playbook runs against a loopback mirror.

Checksums: wrong bytes under the right name, a SHA256SUMS listing another digest, malformed, or
missing the asset. Archives: truncated gzip, not gzip, and hostile tar members, each served with
a sha256 pin that matches the hostile bytes, so the archive checks (not the checksum) must catch
them. Every case fails with a clear message, writes nothing outside the staging directory (a
sentinel directory outside is unchanged, no ``*-pwned`` file or device node appears anywhere),
leaves the previous install as it was and nothing else, and a rerun with good content converges.
"""

import os

import pytest

import tiny_archives
from fault_mirror import serve
from reliability_kit import (
    ASSET, TAG, TRIPLE, Case, asset_path, assert_clean_failure, assert_converges, assert_no_escape, run_batch, sums_path,
    tree,
)

HOSTILE = ['absolute', 'dotdot', 'symlink', 'symlink-absolute', 'hardlink', 'hardlink-dotdot', 'device', 'fifo',
           'outside-python']


def serving(path_of, data, content_type='application/gzip'):
    def program(mirrors, case):
        url = mirrors.primary.alias(case.name, 'good')
        mirrors.primary.program(path_of(case.name), then=serve(data, content_type))
        return url
    return program


def sums_text(digest, name=ASSET):
    return ('%s  %s\n' % (digest, name)).encode()


@pytest.fixture(scope='module')
def content(tmp_path_factory, mirrors, builds, old_install):
    workdir = tmp_path_factory.mktemp('content')
    outside = str(workdir / 'outside')
    os.makedirs(outside)
    with open(os.path.join(outside, 'victim'), 'w') as handle:
        handle.write('a file outside the install root that a hardlink member aims at\n')
    before = tree(outside)

    pin_new = dict(sha256=builds.new_sha)
    other_asset = 'cpython-3.11.7+%s-%s-install_only.tar.gz' % (TAG, TRIPLE)
    plain_tar = tiny_archives._tar(tiny_archives.interpreter_members(marker='plain'))  # pylint: disable=protected-access
    cut_gzip = tiny_archives.truncated(builds.new, 0.6)
    specs = {
        'wrong-bytes': (serving(asset_path, builds.old), pin_new, {}),
        'sums-other-digest': (serving(sums_path, sums_text('ab' * 32), 'text/plain'), dict(force=True), {}),
        'sums-malformed': (serving(sums_path, b'this is not\na SHA256SUMS file\n', 'text/plain'), dict(force=True), {}),
        'sums-missing': (serving(sums_path, sums_text(builds.new_sha, other_asset), 'text/plain'), dict(force=True), {}),
        'truncated-gzip': (serving(asset_path, cut_gzip), dict(sha256=tiny_archives.sha256(cut_gzip)), pin_new),
        'not-gzip': (serving(asset_path, plain_tar), dict(sha256=tiny_archives.sha256(plain_tar)), pin_new),
    }
    hostile = dict((kind, tiny_archives.hostile_archive(kind, outside)) for kind in HOSTILE)
    hostile['many-members'] = tiny_archives.many_members_archive(100001)
    hostile['bomb'] = tiny_archives.bomb_archive()
    for kind, data in hostile.items():
        specs[kind] = (serving(asset_path, data), dict(sha256=tiny_archives.sha256(data)), pin_new)

    cases = dict((name, Case(name, program, options, rerun=rerun)) for name, (program, options, rerun) in specs.items())
    run_batch(workdir, mirrors, list(cases.values()), old_install)
    yield cases
    assert tree(outside) == before


def check(case, old_tree, builds, phrases):
    assert_clean_failure(case, old_tree, phrases)
    assert_no_escape(os.path.dirname(os.path.dirname(case.root)))  # the batch's work directory
    assert_converges(case, builds.new_sha)


def test_wrong_bytes_under_the_right_name(content, old_tree, builds):
    check(content['wrong-bytes'], old_tree, builds, ['checksum mismatch', 'expected sha256 %s, got %s' % (
        builds.new_sha, builds.old_sha), 'check the mirror or the pinned digest'])


def test_sha256sums_listing_a_different_digest(content, old_tree, builds):
    check(content['sums-other-digest'], old_tree, builds, ['checksum mismatch', 'expected sha256 %s, got %s' % (
        'ab' * 32, builds.new_sha)])


def test_sha256sums_malformed(content, old_tree, builds):
    check(content['sums-malformed'], old_tree, builds, ['cannot read SHA256SUMS', 'line 1 is malformed', 'pin sha256'])


def test_sha256sums_missing_the_asset(content, old_tree, builds):
    check(content['sums-missing'], old_tree, builds, ['build 20240107 has no Python 3.12.1', 'versions it has: 3.11.7'])


def test_truncated_gzip(content, old_tree, builds):
    check(content['truncated-gzip'], old_tree, builds, ['the archive is truncated', 'gzip stream ends early'])


def test_not_gzip(content, old_tree, builds):
    check(content['not-gzip'], old_tree, builds, ['not a gzip archive', "starts with b'python/"])


HOSTILE_CASES = [
    ('absolute', ['has an absolute path']),
    ('dotdot', ["contains '..'"]),
    ('symlink', ['is a symlink to', 'leaves the install directory']),
    ('symlink-absolute', ['is a symlink to', 'leaves the install directory']),
    ('hardlink', ['has an absolute path', 'victim']),
    ('hardlink-dotdot', ["contains '..'", 'victim']),
    ('device', ['is a character device', 'PBS archives hold only files, directories and links']),
    ('fifo', ['is a FIFO']),
    ('outside-python', ["lies outside the archive's python/ directory", 'not a PBS install_only archive']),
    ('many-members', ['more than 100000 members', 'archive bomb']),
    ('bomb', ['unpacks to more than 4096 MiB', 'decompression bomb']),
]


@pytest.mark.parametrize('kind, phrases', HOSTILE_CASES, ids=[kind for kind, dummy in HOSTILE_CASES])
def test_hostile_archive_is_refused_with_a_matching_sha256(content, old_tree, builds, kind, phrases):
    case = content[kind]
    check(case, old_tree, builds, ['unusable archive'] + phrases)
    assert case.failed_state.requests['primary'] == [('GET', asset_path(kind), 200)]  # not retried
