"""Fixtures for integration tests: a real loopback mirror of PBS-layout archives built from the
interpreters on this machine, under real PBS tags and asset names."""


import pytest

import pbs_fixtures
from mirror_server import MirrorServer

# Two minors of one real tag, a third minor of a later tag, published like upstream: the
# 20241016 release has stripped assets, the 20240107 one only install_only.
PINS = [
    dict(version='3.12.1', tag='20240107'),
    dict(version='3.11.7', tag='20240107'),
    dict(version='3.13.0', tag='20241016', variant='install_only_stripped'),
    dict(version='3.13.0', tag='20241016'),
]


@pytest.fixture(scope='session')
def mirror_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mirror'))
    sums = pbs_fixtures.make_mirror(root, PINS)
    return root, sums


@pytest.fixture(scope='session')
def mirror(mirror_root, tmp_path_factory):
    root, sums = mirror_root
    log = str(tmp_path_factory.mktemp('mirror-log') / 'access.log')
    with MirrorServer(root, log_path=log) as server:
        server.sums = sums
        yield server


@pytest.fixture
def host_root(tmp_path):
    """A fresh install root and link dir per test."""
    return str(tmp_path / 'pbs'), str(tmp_path / 'bin')
