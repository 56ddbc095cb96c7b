# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links switched by runs that hold different install roots' locks, in one link directory."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

from ansible_collections.pbs.python.plugins.module_utils import _install_root
from ansible_collections.pbs.python.plugins.module_utils._install_root import switch_link

# The directory holding ``ansible_collections``: the workers import the module from there.
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(_install_root.__file__), *['..'] * 5))
SWITCH_MANY = """
import sys
from ansible_collections.pbs.python.plugins.module_utils._install_root import switch_link
for dummy in range(300):
    switch_link(sys.argv[1], sys.argv[2])
"""


def test_two_roots_switching_one_link_directory_never_collide(tmp_path):
    """Two processes, as two runs holding two roots' locks would be; each switches the link 300 times."""
    link = str(tmp_path / 'bin' / 'python3')
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    workers = [subprocess.Popen([sys.executable, '-c', SWITCH_MANY, link, target], env=env, stderr=subprocess.PIPE,
                                universal_newlines=True)
               for target in ('/opt/a/bin/python3', '/opt/b/bin/python3')]
    errors = [worker.communicate(timeout=60)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors
    assert os.readlink(link) in ('/opt/a/bin/python3', '/opt/b/bin/python3')
    assert sorted(os.listdir(str(tmp_path / 'bin'))) == ['python3']  # no temporaries left


def test_temporaries_of_killed_runs_go_and_live_ones_stay(tmp_path):
    dead = subprocess.Popen(['true'])
    dead.wait()
    live = subprocess.Popen(['sleep', '30'])
    try:
        for pid in (dead.pid, live.pid):
            os.symlink('/old', str(tmp_path / ('.python3.pbs-python-tmp-%d' % pid)))
        switch_link(str(tmp_path / 'python3'), '/opt/new/bin/python3')
        assert sorted(os.listdir(str(tmp_path))) == ['.python3.pbs-python-tmp-%d' % live.pid, 'python3']
        assert os.readlink(str(tmp_path / 'python3')) == '/opt/new/bin/python3'
    finally:
        live.kill()
        live.wait()
