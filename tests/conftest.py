"""Shared pytest set-up: import the collection as ``ansible_collections.pbs.python``.

tools/bootstrap makes a collections root that links to this checkout; outside of it (an IDE run)
one is made in a temporary directory, so ``pytest tests/unit`` works either way.
"""

import os
import sys
import tempfile

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
