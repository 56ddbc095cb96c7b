"""Run real ``ansible-playbook`` processes from tests and read back every task result."""

import json
import os
import subprocess
import tempfile

import yaml

SUPPORT = os.path.dirname(os.path.abspath(__file__))


class Run(object):
    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.output = proc.stdout
        self.results = results

    def result(self, task, host=None):
        """The result of the one task named ``task`` (on ``host``, if the play has several)."""
        found = [r for r in self.results if r['task'] == task and (host is None or r['host'] == host)]
        assert len(found) == 1, 'expected one result for %r, got %d:\n%s' % (task, len(found), self.output[-3000:])
        return found[0]['result']

    @property
    def changed(self):
        return [r for r in self.results if r['result'].get('changed')]


def run_playbook(play, workdir, inventory='localhost,', extra_args=(), env=None, check=False, diff=False,
                 timeout=900):
    """Write ``play`` (a list of plays, or YAML text) to ``workdir`` and run it."""
    os.makedirs(workdir, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix='play-', suffix='.yml', dir=workdir)
    with os.fdopen(fd, 'w') as handle:
        handle.write(play if isinstance(play, str) else yaml.safe_dump(play, sort_keys=False))
    results_path = path[:-4] + '.results.jsonl'
    environ = dict(os.environ)
    environ.update({
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(SUPPORT, 'callback'),
        'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
        'PBS_RECORD_RESULTS': results_path,
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
    })
    environ.update(env or {})
    argv = ['ansible-playbook', '-i', inventory, path] + list(extra_args)
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    proc = subprocess.run(argv, cwd=workdir, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    results = []
    if os.path.exists(results_path):
        with open(results_path) as handle:
            results = [json.loads(line) for line in handle]
    return Run(proc, results)


def published_play(hosts='all'):
    """A later play showing what the pbs_python role published for each host (task 'published', in ``msg``).

    From ansible-core 2.21 the install task's action sets the variables, before it a set_fact does;
    either way they must outlive the role's play.
    """
    return {'hosts': hosts, 'gather_facts': False, 'tasks': [{'name': 'published', 'tags': ['always'], 'ansible.builtin.debug': {
        'msg': {'interpreters': '{{ pbs_python_interpreters }}',
                'default_interpreter': '{{ pbs_python_default_interpreter }}'}}}]}


def localhost_play(tasks, gather_facts=False, python=None):
    """One play on localhost over the local connection, with a fixed module interpreter."""
    return [{
        'hosts': 'localhost', 'gather_facts': gather_facts, 'connection': 'local',
        'vars': {'ansible_python_interpreter': python or '/usr/bin/python3'},
        'tasks': tasks,
    }]
