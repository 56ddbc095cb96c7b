"""delivery: controller on a real fleet whose hosts have no route to the mirror at all."""

import os

import pytest
import yaml

import fleet
import fleet_kit
from playbook import run_playbook

pytestmark = fleet_kit.needs()

TAG = 'c%d' % (os.getpid() % 100000)
HOSTS = ['%s-h%d' % (TAG, i) for i in range(4)]
ASSETS = ['cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz',
          'cpython-3.11.7+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz']


@pytest.fixture(scope='module')
def hosts(tmp_path_factory):
    state = str(tmp_path_factory.mktemp('delivery-fleet'))
    try:
        fleet.up(state, ['%s:app' % h for h in HOSTS])
        yield state
    finally:
        fleet.down(state)


def converge(tmp_path, state, mirror_url, cache):
    inventory = os.path.join(state, 'inventory.yml')
    with open(inventory) as handle:
        inv = yaml.safe_load(handle)
    inv['all'].setdefault('vars', {}).update({
        # 127.0.0.1 is the controller's loopback: unreachable from every host's network namespace.
        'pbs_python_mirrors': [mirror_url], 'pbs_python_delivery': 'controller', 'pbs_python_cache_dir': cache,
        'pbs_python_installs__app': [{'version': '3.12', 'build': '20240107', 'variant': 'install_only',
                                      'default': True},
                                     {'version': '3.11', 'build': '20240107', 'variant': 'install_only'}],
    })
    with open(inventory, 'w') as handle:
        yaml.safe_dump(inv, handle)
    play = [{'hosts': 'app', 'gather_facts': False, 'roles': ['pbs.python.pbs_python']}]
    return run_playbook(play, str(tmp_path / 'work'), inventory=inventory, extra_args=['--forks', '4'])


def installs(run):
    found = [r for r in run.results if r['action'] == 'pbs.python.pbs_python']
    return [item for r in found for item in r['result'].get('results', []) if not item.get('skipped')]


def test_one_download_per_asset_for_the_fleet_then_nothing_then_offline(tmp_path, hosts, mirror):
    cache = str(tmp_path / 'cache')
    mirror.reset()
    first = converge(tmp_path, hosts, mirror.url, cache)
    assert first.rc == 0, first.output
    assert sorted(mirror.gets('.tar.gz')) == sorted('/20240107/' + a for a in ASSETS)  # once each, 4 hosts
    results = installs(first)
    assert len(results) == 8 and all(r['changed'] and r['delivered'] for r in results)
    assert {r['sha256'] for r in results} == {mirror.sums[a] for a in ASSETS}

    mirror.reset()
    second = converge(tmp_path, hosts, mirror.url, cache)
    assert second.rc == 0, second.output
    assert mirror.requests == []
    assert [(r['changed'], r['delivered']) for r in installs(second)] == [(False, False)] * 8

    # A host loses its builds; the mirror is gone: the controller cache alone repairs it.
    inventory = os.path.join(hosts, 'inventory.yml')
    wipe = [{'hosts': HOSTS[0], 'gather_facts': False,
             'tasks': [{'ansible.builtin.file': {'path': '/opt/pbs-python', 'state': 'absent'}}]}]
    assert run_playbook(wipe, str(tmp_path / 'work'), inventory=inventory).rc == 0
    offline = converge(tmp_path, hosts, 'http://127.0.0.1:9', cache)
    assert offline.rc == 0, offline.output
    changed = [(r['item']['version'], r['delivered']) for r in installs(offline) if r['changed']]
    assert sorted(changed) == [('3.11', True), ('3.12', True)]
