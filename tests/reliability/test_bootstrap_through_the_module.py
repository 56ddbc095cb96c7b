"""Bootstrap installs through the module, so a hostile archive is refused exactly as the module refuses it.

Each hostile archive of test_hostile_content, pinned by its sha256, goes once through
``pbs_python_bootstrap`` and once through ``pbs_python``, each on its own local inventory host whose
install root holds the old build (a stand-in that cannot run modules, so bootstrap finds no
interpreter on the host and takes the path of a host without Python). Bootstrap unpacks the archive
with the system tar into the remote temp directory; the stand-in interpreter in these archives hands
everything but the version probe to a real Python, so the module then runs on that copy and extracts
the archive again under its own rules. The refusal must be the module's, word for word; nothing may
be written outside (a sentinel directory is unchanged, no ``*-pwned`` file or device node anywhere);
the old build stays as it was; the remote temp directory is empty afterwards; and a rerun with a good
archive converges, then is a no-op.
"""

import os
import sys

import pytest

import tiny_archives
from fault_mirror import serve
from reliability_kit import (
    Case, asset_path, assert_clean_failure, assert_converges, assert_no_escape, marker, play, run_batch, task_args, tree,
)

BOOTSTRAP = 'pbs.python.pbs_python_bootstrap'
# The archive bomb is left out: the system tar would first write its 4 GiB (the module's cap) to the temp dir.
KINDS = ['absolute', 'dotdot', 'symlink', 'symlink-absolute', 'hardlink', 'hardlink-dotdot', 'device', 'fifo',
         'outside-python', 'many-members']


def serving(data):
    def program(mirrors, case):
        mirrors.primary.program(asset_path(case.name), then=serve(data, 'application/gzip'))
        return mirrors.primary.alias(case.name, 'good')
    return program


@pytest.fixture(scope='module')
def refused(tmp_path_factory, mirrors, old_install):
    """Every kind through the module, then through bootstrap (faulty run, rerun, no-op run)."""
    workdir = tmp_path_factory.mktemp('bootstrap')
    outside = str(workdir / 'outside')
    os.makedirs(outside)
    with open(os.path.join(outside, 'victim'), 'w') as handle:
        handle.write('a file outside the install root that a hardlink member aims at\n')
    before = tree(outside)
    remote_tmp = str(workdir / 'remote-tmp')
    env = {'ANSIBLE_REMOTE_TMP': remote_tmp, 'ANSIBLE_PIPELINING': '0'}  # module runs make remote temp dirs too
    good = tiny_archives.interpreter_archive(marker='new', runs=sys.executable)
    good_sha = tiny_archives.sha256(good)

    def fix(mirrors, case):
        mirrors.primary.program(asset_path(case.name), then=serve(good, 'application/gzip'))
        return case.mirror

    archives = dict((kind, tiny_archives.hostile_archive(kind, outside, runs=sys.executable))
                    for kind in KINDS if kind != 'many-members')
    archives['many-members'] = tiny_archives.many_members_archive(100001, runs=sys.executable)
    archives['no-module'] = tiny_archives.interpreter_archive(marker='no-module')  # cannot run the installer
    module = dict(('mod-' + kind, Case('mod-' + kind, serving(archives[kind]),
                                       dict(sha256=tiny_archives.sha256(archives[kind])))) for kind in KINDS)
    run_batch(workdir / 'module', mirrors, list(module.values()), old_install, rerun=False, env=env)
    cache = str(workdir / 'cache')  # the controller's: this batch's own, so every download is seen
    boot = dict((kind, Case('boot-' + kind, serving(data), dict(sha256=tiny_archives.sha256(data), cache_dir=cache),
                            fix=fix, rerun=dict(sha256=good_sha)))
                for kind, data in archives.items())
    run_batch(workdir / 'boot', mirrors, list(boot.values()), old_install, env=env, module=BOOTSTRAP)
    yield dict(module=module, boot=boot, good_sha=good_sha, remote_tmp=remote_tmp, workdir=str(workdir), env=env,
               cache=cache)
    assert tree(outside) == before


def reason(msg):
    """What the extractor said, without the archive's URL (the mirror, or bootstrap's copy on the host)."""
    assert 'unusable archive: ' in msg, msg
    return msg.split('unusable archive: ', 1)[1]


@pytest.mark.parametrize('kind', KINDS)
def test_bootstrap_refuses_a_hostile_archive_exactly_as_the_module(refused, old_tree, kind):
    case, direct = refused['boot'][kind], refused['module']['mod-' + kind]
    assert_clean_failure(direct, old_tree, ['unusable archive'])
    assert_clean_failure(case, old_tree, ['could not download', 'unusable archive', 'Nothing was installed'])
    assert reason(case.failed_state.msg) == reason(direct.failed_state.msg)
    assert case.failed_state.requests['primary'] == [('GET', asset_path(case.name), 200)]  # fetched once, on the controller
    assert_no_escape(refused['workdir'])
    assert os.listdir(refused['remote_tmp']) == []  # the archive and its unpacked copy are gone
    assert_converges(case, refused['good_sha'])


def test_bootstrap_refuses_an_archive_whose_interpreter_cannot_run_the_installer(refused, old_tree):
    case = refused['boot']['no-module']
    assert_clean_failure(case, old_tree, ['the interpreter of the archive cannot run the installer on this host',
                                          'is the target right for it', 'remote_tmp'])
    assert os.listdir(refused['remote_tmp']) == []
    assert_converges(case, refused['good_sha'])


def test_bootstrap_replaces_a_build_that_its_earlier_install_was_asked_about(refused, mirrors, tmp_path):
    """The earlier install's interpreter answers first (needs the archive), then the unpacked copy installs."""
    case = refused['boot']['dotdot']  # holds the good build since its rerun
    newer = tiny_archives.interpreter_archive(marker='newer', runs=sys.executable)
    mirrors.primary.reset()
    mirrors.primary.program(asset_path(case.name), then=serve(newer, 'application/gzip'))
    try:
        args = task_args(case.root, case.mirror, sha256=tiny_archives.sha256(newer), cache_dir=refused['cache'])
        run = play(tmp_path, [{'name': 'boot', BOOTSTRAP: args}], env=refused['env'])
    finally:
        mirrors.clear()
    assert run.rc == 0, run.output
    result = run.result('boot')
    assert result['changed'] and result['sha256'] == tiny_archives.sha256(newer), result
    assert marker(case.root) == 'newer'
    assert mirrors.primary.under(case.prefix) == [('GET', asset_path(case.name), 200)]
    assert os.listdir(refused['remote_tmp']) == []  # one temp dir for the module runs and the archive, removed
