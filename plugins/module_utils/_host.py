# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands the modules run on the host, built once so every module runs them the same way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def interpreter_runner(module):
    """Run an installed interpreter isolated from the environment Ansible's own Python runs in.

    A truncated or foreign binary raises (Exec format error); that is "does not work", not a crash.
    """
    def run(argv):
        return module.run_command(argv, environ_update={'PYTHONHOME': '', 'PYTHONPATH': ''},
                                  handle_exceptions=False)
    return run


def sysctl_reader(module):
    """sysctl values for target detection on macOS (Rosetta 2); '' when unavailable."""
    def read(name):
        rc, out, dummy = module.run_command(['sysctl', '-n', name])
        return out.strip() if rc == 0 else ''
    return read
