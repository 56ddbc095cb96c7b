"""Fixtures for the reliability suite: fault-injecting mirrors, stand-in builds, a previous install.

Most cases run many tasks in one ``ansible-playbook`` (one per case, ``ignore_errors``) and then
rerun them with the fault removed (see reliability_kit.run_batch), so the suite stays fast while
every case still goes through a real playbook run. The build a case tries to install is a stand-in
interpreter (a few hundred bytes, see tiny_archives); the real interpreter archives are used where
a real install matters (disk full, concurrency).
"""

import os

import pytest

import pbs_fixtures
from fault_mirror import FaultMirror, make_test_ca, server_tls_context
from reliability_kit import ASSET, Builds, INSTALL_NAME, TAG, VERSION, pbs_task, play, tree, write_release


@pytest.fixture(scope='session')
def builds():
    return Builds()


@pytest.fixture(scope='session')
def fault_root(tmp_path_factory, builds):
    """``/good/<TAG>/`` serves the new build, ``/setup/<TAG>/`` the old one, each with SHA256SUMS."""
    root = str(tmp_path_factory.mktemp('fault-mirror'))
    write_release(os.path.join(root, 'good'), builds.new)
    write_release(os.path.join(root, 'setup'), builds.old)
    return root


class Mirrors(object):
    def __init__(self, primary, secondary, logs):
        self.primary, self.secondary, self.logs = primary, secondary, logs

    def clear(self):
        for mirror in (self.primary, self.secondary):
            mirror.clear()


@pytest.fixture(scope='session')
def mirrors(fault_root, tmp_path_factory):
    """Two fault mirrors over the same files (two hosts of a mirror list), each with a log file."""
    logs = tmp_path_factory.mktemp('fault-logs')
    with FaultMirror(fault_root, log_path=str(logs / 'primary.log')) as primary, \
            FaultMirror(fault_root, log_path=str(logs / 'secondary.log')) as secondary:
        yield Mirrors(primary, secondary, logs)


@pytest.fixture(scope='session')
def old_install(tmp_path_factory, mirrors, builds):
    """An install root holding the old build, installed by the module; copy it with ``seed``."""
    base = tmp_path_factory.mktemp('old-install')
    root = str(base / 'root')
    mirror = '%s/setup' % mirrors.primary.url
    run = play(base / 'work', [pbs_task('setup', root, mirror, ignore_errors=False, sha256=builds.old_sha)])
    assert run.rc == 0, run.output
    return root


@pytest.fixture(scope='session')
def old_tree(old_install):
    return tree(os.path.join(old_install, INSTALL_NAME))


@pytest.fixture(scope='session')
def real_sha(fault_root):
    """``/real/<TAG>/`` serves a real PBS-layout archive of the local CPython 3.12.1; its sha256."""
    sums = pbs_fixtures.make_mirror(os.path.join(fault_root, 'real'), [dict(version=VERSION, tag=TAG)])
    return sums[ASSET]


@pytest.fixture(scope='session')
def ca(tmp_path_factory):
    """A test CA the https mirrors' certificates chain to (the hosts trust it through ca_path)."""
    return make_test_ca(str(tmp_path_factory.mktemp('ca')))


@pytest.fixture(scope='session')
def https_mirror(fault_root, ca):
    with FaultMirror(fault_root, tls=server_tls_context(ca)) as server:
        yield server
