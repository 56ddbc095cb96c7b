# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What in a shared install root and link directory the module counts as its own (and so may
change or delete), and what it leaves to others, on real directories."""

import os
import subprocess

from ansible_collections.pbs.python.plugins.action.pbs_python_bootstrap import ActionModule
from ansible_collections.pbs.python.plugins.module_utils._install_root import RECEIPT, links_into, recover

NAME = 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only'
RECEIPT_DATA = dict(version='3.12.1', build='20240107', target='x86_64-unknown-linux-gnu', variant='install_only',
                    freethreaded=False, sha256='0' * 64, url='https://mirror.example/pbs')


def test_absent_finds_only_links_the_module_makes(tmp_path):
    install = tmp_path / 'root' / NAME
    (install / 'bin').mkdir(parents=True)
    (install / 'bin' / 'python3.12').write_text('')
    (install / 'bin' / 'pip3.12').write_text('')
    links = tmp_path / 'bin'
    links.mkdir()
    for name, target in (('python3.12', 'python3.12'), ('python3', 'python3.12'), ('pip3.12', 'pip3.12'),
                         ('python-for-my-app', 'python3.12')):
        os.symlink(str(install / 'bin' / target), str(links / name))
    found = links_into(str(install), dict(RECEIPT_DATA, links=[]), str(links))
    assert found == [str(links / 'python3'), str(links / 'python3.12')]  # an admin's pip3.12 and app link stay


def test_recovery_touches_only_the_leftovers_the_module_makes(tmp_path):
    root = tmp_path / 'root'
    for name in ('.staging-website', '.trash-projects', '.removed-users.csv', '.staging-%s-abc123' % NAME,
                 '.removed-' + NAME, '.staging-probe-x1y2'):
        (root / name).mkdir(parents=True)
    (root / 'projects').mkdir()
    recover(str(root))
    assert sorted(os.listdir(str(root))) == ['.removed-users.csv', '.staging-website', '.trash-projects', 'projects']


def _found_by_bootstrap(root):
    """Run the bootstrap action's real shell probe for an earlier interpreter under ``root``."""
    def raw(command):
        done = subprocess.run(['/bin/sh', '-c', command], stdout=subprocess.PIPE, universal_newlines=True,
                              check=False)
        return done.returncode, done.stdout, ''

    action = ActionModule.__new__(ActionModule)
    action._raw = raw
    return action._installed_interpreter(str(root))


def _fake_install(directory, receipt=True, python='#!/bin/sh\necho pbs-python-runs-modules\n'):
    (directory / 'bin').mkdir(parents=True)
    (directory / 'bin' / 'python').write_text(python)
    (directory / 'bin' / 'python').chmod(0o755)
    if receipt:
        (directory / RECEIPT).write_text('{}')


def test_bootstrap_runs_only_interpreters_of_real_installs(tmp_path):
    root = tmp_path / 'root'
    root.mkdir()
    elsewhere = tmp_path / 'someone-else'
    _fake_install(elsewhere)
    os.symlink(str(elsewhere), str(root / NAME))  # a symlinked "install" leading to another tree
    _fake_install(root / 'not-an-install')  # not a cpython-* name
    _fake_install(root / (NAME + '-b'), receipt=False)  # no receipt
    escaping = root / (NAME + '-c')
    _fake_install(escaping)
    (escaping / 'bin' / 'python').unlink()
    os.symlink(str(elsewhere / 'bin' / 'python'), str(escaping / 'bin' / 'python'))  # resolves outside
    assert _found_by_bootstrap(root) is None
    _fake_install(root / (NAME + '-d'))
    assert _found_by_bootstrap(root) == str(root / (NAME + '-d') / 'bin' / 'python')
