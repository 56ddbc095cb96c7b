"""An import path for target-side scripts run by the host's /usr/bin/python3, not the venv's.

The module's code imports ``ansible.module_utils`` and ``ansible_collections.pbs.python``. The
host Python has neither, and adding the venv's whole site-packages would let it import
extensions built for another Python. A directory with just two symlinks gives it exactly the
pure-Python packages an AnsiballZ payload would carry.
"""

import os

import ansible


def make_shim(directory):
    collections = os.environ.get('PBS_PYTHON_COLLECTIONS')
    if not collections:
        raise RuntimeError('PBS_PYTHON_COLLECTIONS is not set: run through tools/dev bench (make bench)')
    os.makedirs(directory, exist_ok=True)
    links = {
        'ansible': os.path.dirname(os.path.abspath(ansible.__file__)),
        'ansible_collections': os.path.join(collections, 'ansible_collections'),
    }
    for name, target in links.items():
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
    return directory
