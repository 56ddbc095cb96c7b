"""The playbooks the benchmark runs, and how it runs them: plain ansible-playbook processes.

Each playbook has one play on localhost over the local connection with the host's
/usr/bin/python3 as module interpreter (what a target runs), and takes its paths as extra vars, so
one file serves every run and only the fresh directories change.
"""

import os
import re

import yaml

from timing import timed

TARGET_PYTHON = '/usr/bin/python3'


def _localhost(tasks):
    return [{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local',
             'vars': {'ansible_python_interpreter': TARGET_PYTHON}, 'tasks': tasks}]


PBS_TASK = {'name': 'pbs', 'pbs.python.pbs_python': {
    'version': '{{ bench_version }}', 'build': '{{ bench_build }}', 'variant': 'install_only',
    'mirror': '{{ bench_mirror }}', 'install_root': '{{ bench_root }}'}}

PBS_URL_TASK = {'name': 'pbs', 'pbs.python.pbs_python': {
    'version': '{{ bench_version }}', 'build': '{{ bench_build }}', 'variant': 'install_only',
    'url': '{{ bench_url }}', 'sha256': '{{ bench_sha256 }}', 'install_root': '{{ bench_root }}'}}

PLAYS = {
    'ping': _localhost([{'name': 'ping', 'ansible.builtin.ping': {}}]),
    'pbs': _localhost([PBS_TASK]),
    'pbs_url': _localhost([PBS_URL_TASK]),
    # What a uv user writes in a playbook: uv, already on the host, run by a command task.
    'command_uv': _localhost([
        {'name': 'uv python install', 'ansible.builtin.command': {
            'argv': ['{{ bench_uv }}', 'python', 'install', '{{ bench_version }}', '--no-bin',
                     '--mirror', '{{ bench_mirror }}', '--python-downloads-json-url', '{{ bench_uv_json }}'],
            'creates': '{{ bench_dir }}/python'},
         'environment': {'UV_PYTHON_INSTALL_DIR': '{{ bench_dir }}/python', 'UV_CACHE_DIR': '{{ bench_dir }}/cache',
                         'UV_PYTHON_BIN_DIR': '{{ bench_dir }}/bin', 'UV_NO_CONFIG': '1', 'UV_NO_PROGRESS': '1'}},
    ]),
    # What users write today without the module: download with a checksum, then unpack.
    'get_url_unarchive': _localhost([
        {'name': 'download', 'ansible.builtin.get_url': {
            'url': '{{ bench_url }}', 'dest': '{{ bench_dir }}/archive.tar.gz',
            'checksum': 'sha256:{{ bench_sha256 }}'}},
        {'name': 'directory', 'ansible.builtin.file': {'path': '{{ bench_dir }}/install', 'state': 'directory'}},
        {'name': 'unpack', 'ansible.builtin.unarchive': {
            'src': '{{ bench_dir }}/archive.tar.gz', 'dest': '{{ bench_dir }}/install', 'remote_src': True}},
    ]),
}


def fleet_play(delivery=None):
    """One pbs_python task on every host of the inventory; ``delivery`` only when the module has it.

    Controller delivery gets a fresh ``cache_dir`` per run (``bench_cache``), so every run starts
    from an empty controller cache and pays its one download.
    """
    args = {'version': '{{ bench_version }}', 'build': '{{ bench_build }}', 'variant': 'install_only',
            'mirror': '{{ bench_mirror }}', 'install_root': '{{ bench_root }}'}
    if delivery:
        args['delivery'] = delivery
    if delivery == 'controller':
        args['cache_dir'] = '{{ bench_cache }}'
    return [{'hosts': 'all', 'gather_facts': False, 'tasks': [{'name': 'pbs', 'pbs.python.pbs_python': args}]}]


def write(directory, name, play):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name + '.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def write_all(directory):
    return dict((name, write(directory, name, play)) for name, play in PLAYS.items())


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
    })
    env.update(extra or {})
    return env


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP lines."""
    found = {}
    for host, fields in re.findall(r'^(\S+)\s+:\s+(ok=.*)$', output, re.M):
        found[host] = dict((key, int(value)) for key, value in re.findall(r'(\w+)=(\d+)', fields))
    return found


def run_playbook(path, extra_vars, inventory='localhost,', env=None, args=(), timeout=900):
    argv = ['ansible-playbook', '-i', inventory, path] + list(args)
    for key, value in sorted(extra_vars.items()):
        argv += ['-e', '%s=%s' % (key, value)]
    return timed(argv, env=ansible_env(env), timeout=timeout, check=False)  # expect() judges the result


def expect(sample, changed, hosts=None):
    """Fail loudly unless every host in the recap changed (or not) as the benchmark assumes."""
    seen = recap(sample.output)
    wanted = hosts or list(seen) or ['localhost']
    bad = [h for h in wanted if h not in seen or seen[h].get('failed') or seen[h].get('unreachable')
           or (changed is not None and bool(seen[h].get('changed')) != changed)]
    if bad:
        raise RuntimeError('unexpected result on %s (wanted changed=%s):\n%s' % (bad, changed, sample.output[-4000:]))
    return sample
