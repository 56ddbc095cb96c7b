"""ansible-lint's production profile over everything users run or copy, and the shipped example.

Lints the role, the report playbook, the example in examples/fleet (the one the README shows) and
the molecule scenarios' playbooks, with the repository's .ansible-lint (offline: never installs a
copy of this collection into ~/.ansible/collections).
"""

import os
import shutil
import subprocess

import pytest

from playbook import run_playbook

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINTED = ['roles', 'playbooks', 'examples', 'extensions']
EXAMPLE = os.path.join(CHECKOUT, 'examples', 'fleet')
INSTALLED_COPY = os.path.expanduser('~/.ansible/collections/ansible_collections/pbs/python')


@pytest.mark.skipif(shutil.which('ansible-lint') is None, reason='ansible-lint is not installed (tools/bootstrap)')
def test_production_profile_passes():
    copy_before = os.path.exists(INSTALLED_COPY)
    proc = subprocess.run(['ansible-lint', '--profile', 'production', '--nocolor'] + LINTED, cwd=CHECKOUT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert "Profile 'production' was required, and it passed" in proc.stdout, proc.stdout[-3000:]
    if not copy_before:
        assert not os.path.exists(INSTALLED_COPY), 'ansible-lint installed a copy of the collection'


def test_example_playbook_parses_with_its_inventory(tmp_path):
    proc = subprocess.run(['ansible-playbook', '--syntax-check', '-i', 'inventory', 'site.yml'], cwd=EXAMPLE,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_example_pins_merge_per_host(tmp_path):
    """The example's group pins merge without conflict; web2, in both groups, gets the union."""
    play = [{'hosts': 'all', 'gather_facts': False, 'connection': 'local', 'tasks': [
        {'name': 'Merge', 'ansible.builtin.include_role': {'name': 'pbs.python.pbs_python', 'tasks_from': 'pins.yml'}},
        {'name': 'Show', 'ansible.builtin.debug': {'var': '__pbs_python_pins'}},
    ]}]
    run = run_playbook(play, str(tmp_path), inventory=os.path.join(EXAMPLE, 'inventory'))
    assert run.rc == 0, run.output[-3000:]

    def pins(host):
        return sorted((p['version'], p['build'], p['default']) for p in run.result('Show', host)['__pbs_python_pins'])

    web = [('3.11.9', '20240726', False), ('3.12', '20240726', True)]
    assert pins('web1.example.com') == web
    assert pins('batch1.example.com') == [('3.13.0', '20241016', False)]
    assert pins('web2.example.com') == sorted(web + [('3.13.0', '20241016', False)])
