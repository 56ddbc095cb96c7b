"""Issue 12: the role makes one module execution per host, whatever the number of pins, prune on.

Counted two ways on real ``ansible-playbook`` runs: the count_module_runs callback (results a
module produced on the host) and an interpreter wrapper that logs every start of the module
interpreter on the host, so an action plugin that ran its module twice would show too.
"""

import json
import os

import pytest
import yaml

from pbs_fixtures import HOST_TRIPLE
from playbook import localhost_play, published_play, run_playbook

PINS = [
    {'version': '3.12', 'build': '20240107', 'variant': 'install_only', 'default': True},
    {'version': '3.11.7', 'build': '20240107', 'variant': 'install_only'},
]
EXTRA = 'cpython-3.13.0+20241016-%s-install_only_stripped' % HOST_TRIPLE  # installed first, pinned by nobody
DIRS = sorted(['cpython-3.12.1+20240107-%s-install_only' % HOST_TRIPLE,
               'cpython-3.11.7+20240107-%s-install_only' % HOST_TRIPLE])
ROLE = [{'hosts': 'all', 'gather_facts': False, 'roles': ['pbs.python.pbs_python']}]


class Box(object):
    """One localhost 'host' whose module interpreter logs each start."""

    def __init__(self, tmp_path, mirror, delivery):
        self.tmp, self.root, self.links = tmp_path, tmp_path / 'pbs', tmp_path / 'bin'
        self.starts = tmp_path / 'starts.log'
        wrapper = tmp_path / 'python'
        wrapper.write_text('#!/bin/sh\necho start >> %s\nexec /usr/bin/python3 "$@"\n' % self.starts)
        wrapper.chmod(0o755)
        self.inventory = tmp_path / 'inventory.yml'
        self.inventory.write_text(yaml.safe_dump({'all': {'hosts': {'box': {
            'ansible_connection': 'local', 'ansible_python_interpreter': str(wrapper),
            'pbs_python_installs': PINS, 'pbs_python_mirrors': [mirror.url], 'pbs_python_prune': True,
            'pbs_python_install_root': str(self.root), 'pbs_python_link_dir': str(self.links),
            'pbs_python_target': HOST_TRIPLE, 'pbs_python_delivery': delivery,
            'pbs_python_cache_dir': str(tmp_path / 'cache')}}}}))

    def run(self, play=None, check=False):
        """(run, module runs the callback counted, interpreter starts on the host)."""
        counts = self.tmp / 'counts.json'
        if self.starts.exists():
            self.starts.unlink()
        run = run_playbook(play or ROLE, str(self.tmp / 'work'), inventory=str(self.inventory), check=check,
                           diff=check, env={'ANSIBLE_CALLBACKS_ENABLED': 'record_results,count_module_runs',
                                            'PBS_COUNT_MODULE_RUNS': str(counts)})
        assert run.rc == 0, run.output[-4000:]
        with open(str(counts)) as handle:
            counted = json.load(handle)
        starts = len(self.starts.read_text().splitlines()) if self.starts.exists() else 0
        return run, counted['runs'].get('box', 0), starts

    def installed(self):
        return sorted(name for name in os.listdir(str(self.root)) if not name.startswith('.'))


def install_result(run):
    (found,) = [r['result'] for r in run.results if r['task'].endswith('Install the pinned builds')]
    return found


@pytest.mark.parametrize('delivery', ['host', 'controller'])
def test_the_role_makes_one_module_call_per_host_with_two_pins_and_prune(tmp_path, mirror, delivery):
    box = Box(tmp_path, mirror, delivery)
    extra = [{'hosts': 'all', 'gather_facts': False, 'tasks': [{'name': 'unpinned', 'pbs.python.pbs_python': {
        'version': '3.13.0', 'build': '20241016', 'target': HOST_TRIPLE, 'mirror': [mirror.url],
        'install_root': str(box.root), 'link_dir': str(box.links)}}]}]
    box.run(extra)
    assert box.installed() == [EXTRA]

    # Check mode predicts the two installs and the prune, and does nothing.
    mirror.reset()
    check, dummy, dummy = box.run(check=True)
    predicted = install_result(check)
    assert predicted['changed'] and predicted['removed'] == [str(box.root / EXTRA)]
    assert [r['version'] for r in predicted['results']] == ['3.11.7', '3.12.*']  # merge_pins sorts
    assert box.installed() == [EXTRA] and mirror.requests == []

    # Cold converge: both pins installed (each asset downloaded once), the unpinned build pruned.
    mirror.reset()
    cold, dummy, dummy = box.run(ROLE + [published_play()])
    result = install_result(cold)
    assert result['changed'] and result['removed'] == [str(box.root / EXTRA)]
    assert box.installed() == DIRS
    for name in DIRS:
        assert mirror.gets(name + '.tar.gz') == ['/20240107/%s.tar.gz' % name]
    assert sorted(os.listdir(str(box.links))) == ['python3', 'python3.11', 'python3.12']
    assert os.readlink(str(box.links / 'python3')) == str(box.root / DIRS[1] / 'bin' / 'python3.12')
    if delivery == 'controller':
        assert [r['delivered'] for r in result['results']] == [True, True]
    published = cold.result('published')['msg']
    assert published == {
        'interpreters': {'3.11': str(box.root / DIRS[0] / 'bin' / 'python3.11'),
                         '3.12': str(box.root / DIRS[1] / 'bin' / 'python3.12')},
        'default_interpreter': str(box.root / DIRS[1] / 'bin' / 'python3.12')}
    assert published['interpreters'] == result['interpreters']

    # The daily no-op: one module call on the host, nothing changed, no request.
    mirror.reset()
    noop, counted, starts = box.run()
    assert (counted, starts) == (1, 1), noop.output[-3000:]
    assert not list(noop.changed) and mirror.requests == []
    assert install_result(noop)['interpreters'] == published['interpreters']

    # With repair on (issue 14) the no-op is still one module call: the tree check runs in it. A tampered
    # tree is reinstalled from the pinned bytes (controller delivery: ask first, then send, as when cold).
    repair = [{'hosts': 'all', 'gather_facts': False,
               'roles': [{'role': 'pbs.python.pbs_python', 'vars': {'pbs_python_repair': True}}]}]
    noop, counted, starts = box.run(repair)
    assert (counted, starts) == (1, 1) and not list(noop.changed) and mirror.requests == [], noop.output[-3000:]
    os_py = box.root / DIRS[1] / 'lib' / 'python3.12' / 'os.py'
    os_py.write_bytes(os_py.read_bytes() + b'# tampered\n')
    fixed, dummy, starts = box.run(repair)
    assert [r.get('repaired', {}).get('modified') for r in install_result(fixed)['results']] == [
        None, ['lib/python3.12/os.py']]
    assert starts == (1 if delivery == 'host' else 2)
    assert len(mirror.gets('.tar.gz')) == (1 if delivery == 'host' else 0)  # the controller's cache has it
    assert not os_py.read_bytes().endswith(b'# tampered\n')


def test_the_list_form_refuses_what_names_one_build(tmp_path, mirror):
    run = run_playbook(localhost_play([{'name': 'both', 'ignore_errors': True, 'pbs.python.pbs_python': {
        'pins': [PINS[0]], 'version': '3.12', 'install_root': str(tmp_path / 'pbs'), 'mirror': [mirror.url]}}, {
        'name': 'absent', 'ignore_errors': True, 'pbs.python.pbs_python': {
            'pins': [PINS[0]], 'state': 'absent', 'install_root': str(tmp_path / 'pbs')}}, {
        'name': 'prune alone', 'ignore_errors': True, 'pbs.python.pbs_python': {
            'version': '3.12', 'build': '20240107', 'prune': True, 'install_root': str(tmp_path / 'pbs')}}]),
        str(tmp_path / 'work'))
    assert 'mutually exclusive: pins|version' in run.result('both')['msg']
    assert 'remove them with prune: true' in run.result('absent')['msg']
    assert 'prune needs pins' in run.result('prune alone')['msg']
    assert mirror.requests == [] and not (tmp_path / 'pbs').exists()


@pytest.mark.parametrize('delivery', ['host', 'controller'])
def test_a_failing_pin_fails_the_task_but_the_others_converge_and_nothing_is_pruned(tmp_path, mirror, delivery):
    root, links = tmp_path / 'pbs', tmp_path / 'bin'
    links.mkdir()
    (links / 'python3.11').write_text('#!/bin/sh\n')  # not a symlink: the 3.11 pin must refuse it
    args = {'pins': PINS, 'prune': True, 'install_root': str(root), 'link_dir': str(links), 'target': HOST_TRIPLE,
            'mirror': [mirror.url], 'delivery': delivery, 'cache_dir': str(tmp_path / 'cache')}
    keep = root / EXTRA
    keep.mkdir(parents=True)  # not an install (no receipt): prune never touches it anyway; the lock dir exists
    run = run_playbook(localhost_play([{'name': 'pins', 'ignore_errors': True, 'pbs.python.pbs_python': args}]),
                       str(tmp_path / 'work'))
    result = run.result('pins')
    assert [r['status'] for r in run.results] == ['failed']
    assert 'refusing to replace %s/python3.11: it is not a symlink' % links in result['msg']
    assert result['msg'].startswith('3.11.7+20240107: ')
    assert [r.get('failed', False) for r in result['results']] == [False, True]  # the task's order
    assert sorted(os.listdir(str(root))) == sorted([EXTRA, DIRS[1], '.lock'])
    assert os.readlink(str(links / 'python3')) == str(root / DIRS[1] / 'bin' / 'python3.12')
    assert mirror.gets(DIRS[0] + '.tar.gz') == []


def test_without_the_roles_argument_check_a_wrong_variable_still_fails_before_the_host(tmp_path, mirror):
    """docs/scale.md: a fleet may drop the validation task ansible-core inserts (rolespec_validate: false);
    the install task's action still refuses a wrong variable, by its module option, before any request."""
    box = Box(tmp_path, mirror, 'host')
    play = [{'hosts': 'all', 'gather_facts': False, 'tasks': [{
        'name': 'role', 'ansible.builtin.import_role': {'name': 'pbs.python.pbs_python', 'rolespec_validate': False},
        'vars': {'pbs_python_prune': 'maybe'}}]}]
    mirror.reset()
    run = run_playbook(play, str(tmp_path / 'work'), inventory=str(box.inventory))
    assert run.rc != 0 and [r['task'] for r in run.results] == ['pbs.python.pbs_python : Install the pinned builds']
    assert "'prune'" in run.results[0]['result']['msg'] and 'maybe' in run.results[0]['result']['msg'], run.output
    assert mirror.requests == [] and not box.root.exists()
