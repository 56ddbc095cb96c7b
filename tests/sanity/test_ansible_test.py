"""ansible-test sanity on a copy of the collection, as Galaxy users' CI would run it.

ansible-test insists on running from ``.../ansible_collections/pbs/python``; the collections
root that tools/bootstrap makes is a symlink, so the tracked files are copied to a real tree.
"""

import os
import shutil
import subprocess
import sys

import pytest

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get('PBS_PYTHON_CACHE', os.path.expanduser('~/.cache/pbs-python'))


def _copy_collection():
    # Per checkout (PBS_PYTHON_COLLECTIONS is), so two checkouts never share a tree.
    tree = os.path.join(os.environ.get('PBS_PYTHON_COLLECTIONS', CACHE), 'sanity', 'ansible_collections', 'pbs', 'python')
    shutil.rmtree(tree, ignore_errors=True)
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=CHECKOUT, check=True,
                           stdout=subprocess.PIPE).stdout.decode().split('\0')
    for name in filter(None, files):
        source = os.path.join(CHECKOUT, name)
        if not os.path.lexists(source):
            continue
        dest = os.path.join(tree, name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(source, dest, follow_symlinks=False)
    subprocess.run(['git', 'init', '-q', tree], check=True)
    return tree


@pytest.mark.sanity
def test_ansible_test_sanity_passes():
    if not shutil.which('ansible-test'):
        pytest.skip('ansible-test is not installed (run through tools/dev)')
    tree = _copy_collection()
    python = '%d.%d' % sys.version_info[:2]
    proc = subprocess.run(['ansible-test', 'sanity', '--python', python, '--requirements', '--color', 'no'],
                          cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False)
    errors = [line for line in proc.stdout.splitlines() if line.startswith(('ERROR', 'FATAL'))]
    assert proc.returncode == 0, '\n'.join(errors) or proc.stdout[-5000:]
