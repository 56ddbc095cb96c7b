"""What the release tests (tests/release) share: the checkout's galaxy.yml, the tarball's name, and the
files of the checkout that a release is built from."""

import os
import subprocess

import pytest
import yaml

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/support/..
with open(os.path.join(CHECKOUT, 'galaxy.yml')) as _handle:
    GALAXY = yaml.safe_load(_handle)
TARBALL = '%s-%s-%s.tar.gz' % (GALAXY['namespace'], GALAXY['name'], GALAXY['version'])
# galaxy-importer refuses a collection without `repository`; galaxy.yml names none until the project
# has a public home (a placeholder would be a broken link on Galaxy). The copy that is built and
# imported gets this stand-in meanwhile; test_galaxy_yml_names_a_repository (strict xfail) says when
# it can go.
STAND_IN_REPOSITORY = 'https://stand-in.invalid/pbs/python'
PLANTED = ['.venv/bin/python3', '.pytest_cache/README.md', '.ansible/collections/ansible_collections/x/y/z.yml',
           '.tox/py/log.txt', 'plugins/modules/__pycache__/pbs_python.cpython-313.pyc',
           'plugins/filter/pins.pyc', 'tests/output/junk.txt', 'roles/pbs_python/.DS_Store',
           'pbs-python-0.0.1.tar.gz']


def run(args, **kwargs):
    kwargs.setdefault('timeout', 300)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, **kwargs)


def committable_files():
    proc = run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=CHECKOUT)
    if proc.returncode != 0:
        pytest.skip('the release tests copy a git checkout: %s' % proc.stderr.strip())
    return sorted(p for p in proc.stdout.split('\0') if p and os.path.isfile(os.path.join(CHECKOUT, p)))
