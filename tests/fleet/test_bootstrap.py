"""Bootstrap: a real SSH host built without Python gets the pinned interpreter over raw commands,
then runs ordinary modules on it."""

import os
import shutil

import pytest
import yaml

import fleet
from playbook import run_playbook

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.skipif(os.geteuid() != 0, reason='the fleet needs root'),
    pytest.mark.skipif(shutil.which('debootstrap') is None, reason='needs debootstrap'),
]

TAG = 'b%d' % (os.getpid() % 100000)
HOST = '%s-bare' % TAG


@pytest.fixture(scope='module')
def bare_host(tmp_path_factory):
    state = str(tmp_path_factory.mktemp('bootstrap-fleet'))
    try:
        info = fleet.up(state, ['%s:bare' % HOST], no_python=[HOST])
        yield state, info
    finally:
        fleet.down(state)


def test_a_host_without_python_gets_the_pin_and_runs_modules_on_it(tmp_path, bare_host, mirror):
    state, info = bare_host
    inventory = os.path.join(state, 'inventory.yml')
    with open(inventory) as handle:
        inv = yaml.safe_load(handle)
    inv['all'].setdefault('vars', {}).update({
        'pbs_python_mirrors': [mirror.url],  # the controller downloads: the host needs no route to it
        'pbs_python_cache_dir': str(tmp_path / 'cache'),
        'pbs_python_installs__bare': [{'version': '3.12', 'build': '20240107', 'variant': 'install_only',
                                       'default': True}],
    })
    with open(inventory, 'w') as handle:
        yaml.safe_dump(inv, handle)
    play = [{
        'hosts': 'bare', 'gather_facts': False,
        'tasks': [
            {'name': 'bootstrap', 'ansible.builtin.include_role': {'name': 'pbs.python.pbs_python',
                                                                   'tasks_from': 'bootstrap.yml'}},
            {'name': 'facts', 'ansible.builtin.setup': {'gather_subset': ['min']}},
            {'name': 'installed', 'pbs.python.pbs_python_info': {}},
            {'name': 'paths', 'ansible.builtin.command': {'argv': [
                '{{ ansible_python.executable }}', '-c',
                'import sysconfig; print(sysconfig.get_config_var("prefix"), sysconfig.get_config_var("CC"))']}},
        ],
    }]
    first = run_playbook(play, str(tmp_path / 'work'), inventory=inventory)
    assert first.rc == 0, first.output
    boot = [r for r in first.results if r['action'] == 'pbs.python.pbs_python_bootstrap'][0]['result']
    assert boot['changed'] and boot['version'] == '3.12.1' and boot['target'] == 'x86_64-unknown-linux-gnu'
    facts = first.result('facts')['ansible_facts']
    assert facts['ansible_python_version'] == '3.12.1'
    assert facts['ansible_python']['executable'] == boot['python']
    # Relocated by the new interpreter itself: the host had no other Python to run it.
    assert first.result('paths')['stdout'].split()[:2] == [os.path.dirname(os.path.dirname(boot['python'])), 'cc']
    installs = first.result('installed')['installs']
    assert [(i['version'], i['build'], i['sha256'], i['works']) for i in installs] == [
        ('3.12.1', '20240107', mirror.sums['cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'],
         True)]

    mirror.reset()
    second = run_playbook(play, str(tmp_path / 'work'), inventory=inventory)
    assert second.rc == 0, second.output
    again = [r for r in second.results if r['action'] == 'pbs.python.pbs_python_bootstrap'][0]['result']
    assert not again['changed']
    assert mirror.requests == []
