# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links switched by runs that hold different install roots' locks, in one link directory."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import multiprocessing
import os
import subprocess

from ansible_collections.pbs.python.plugins.module_utils._install_root import switch_link


def _switch_many(link, target, count, errors):
    try:
        for dummy in range(count):
            switch_link(link, target)
    except Exception as exc:  # pylint: disable=broad-except  # reported to the parent
        errors.put(repr(exc))


def test_two_roots_switching_one_link_directory_never_collide(tmp_path):
    link = str(tmp_path / 'bin' / 'python3')
    errors = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_switch_many, args=(link, target, 300, errors))
               for target in ('/opt/a/bin/python3', '/opt/b/bin/python3')]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors.empty(), errors.get()
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
