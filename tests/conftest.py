"""Shared pytest set-up: the collection as ``ansible_collections.pbs.python``, and a real loopback
mirror of PBS-layout archives built from the interpreters on this machine, under real tags.

tools/bootstrap makes a collections root that links to this checkout; outside of it (an IDE run)
one is made in a temporary directory, so ``pytest tests/unit`` works either way.
"""

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, 'support'))

collections = os.environ.get('PBS_PYTHON_COLLECTIONS')
if not collections:
    collections = tempfile.mkdtemp(prefix='pbs-collections-')
    os.makedirs(os.path.join(collections, 'ansible_collections', 'pbs'))
    os.symlink(CHECKOUT, os.path.join(collections, 'ansible_collections', 'pbs', 'python'))
    os.environ['PBS_PYTHON_COLLECTIONS'] = collections
    os.environ.setdefault('ANSIBLE_COLLECTIONS_PATH', collections)
sys.path.insert(0, collections)

import pbs_fixtures  # noqa: E402  (needs the path set above)
from mirror_server import MirrorServer  # noqa: E402

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
