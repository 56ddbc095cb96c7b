"""Helpers of the reliability suite (tests/reliability): tasks, on-disk snapshots, batched cases.

A ``Case`` is one fault: how to program the mirrors, the task options of the faulty run, and the
options of the rerun once the fault is removed. ``run_batch`` runs every case of a module in one
``ansible-playbook`` (a task per case, ``ignore_errors``), snapshots what each case left on disk and
in the mirror logs, removes the faults, reruns every case, runs it once more (it must be a no-op)
and snapshots again. Each test then asserts on its own case.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

import yaml

import tiny_archives
from playbook import SUPPORT, localhost_play, run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
VERSION, TAG = '3.12.1', '20240107'
ASSET = 'cpython-%s+%s-%s-install_only.tar.gz' % (VERSION, TAG, TRIPLE)
INSTALL_NAME = ASSET[:-len('.tar.gz')]


class Builds(object):
    """The previous build (``old``) and the one a case tries to install (``new``): one asset name."""

    def __init__(self):
        self.old = tiny_archives.interpreter_archive(VERSION, marker='old')
        self.new = tiny_archives.interpreter_archive(VERSION, marker='new')
        self.old_sha = tiny_archives.sha256(self.old)
        self.new_sha = tiny_archives.sha256(self.new)


def write_release(directory, archive, sums=None):
    """``<directory>/<TAG>/<ASSET>`` and a SHA256SUMS listing it (or ``sums`` verbatim)."""
    os.makedirs(os.path.join(directory, TAG), exist_ok=True)
    with open(os.path.join(directory, TAG, ASSET), 'wb') as handle:
        handle.write(archive)
    with open(os.path.join(directory, TAG, 'SHA256SUMS'), 'w') as handle:
        handle.write(sums if sums is not None else '%s  %s\n' % (tiny_archives.sha256(archive), ASSET))


def asset_path(prefix):
    return '/%s/%s/%s' % (prefix, TAG, ASSET)


def sums_path(prefix):
    return '/%s/%s/SHA256SUMS' % (prefix, TAG)


def pbs_task(name, root, mirror, ignore_errors=True, **options):
    """One pbs_python task for the pinned asset, with small timeouts and no retries by default."""
    args = dict(version=VERSION, build=TAG, variant='install_only', target=TRIPLE, install_root=root,
                timeout=2, retries=0)
    if mirror is not None:
        args['mirror'] = mirror if isinstance(mirror, list) else [mirror]
    args.update(options)
    task = {'name': name, 'pbs.python.pbs_python': args}
    if ignore_errors:
        task['ignore_errors'] = True
    return task


def play(workdir, tasks, **kwargs):
    return run_playbook(localhost_play(tasks), str(workdir), **kwargs)


def seed(template, root):
    """A copy of a module-made install root (receipts hold no absolute paths)."""
    shutil.copytree(template, root, symlinks=True)
    return root


def leftovers(root):
    """Staging and trash directories (the lock file is meant to stay)."""
    if not os.path.isdir(root):
        return []
    return sorted(n for n in os.listdir(root) if n.startswith('.') and n != '.lock')


def visible(root):
    return sorted(n for n in os.listdir(root) if not n.startswith('.')) if os.path.isdir(root) else []


def tree(path):
    """Every entry under ``path``: kind, mode and content digest or link target."""
    found = {}
    for directory, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            full = os.path.join(directory, name)
            info = os.lstat(full)
            rel = os.path.relpath(full, path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ('link', os.readlink(full))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ('dir', stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                with open(full, 'rb') as handle:
                    found[rel] = ('file', stat.S_IMODE(info.st_mode), info.st_nlink,
                                  hashlib.sha256(handle.read()).hexdigest())
            else:
                found[rel] = ('other', info.st_mode)
    return found


def assert_no_escape(top):
    """Nothing a hostile archive aimed at exists anywhere under ``top``, nor at its absolute target."""
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            assert 'pwned' not in name, path
            mode = os.lstat(path).st_mode
            assert stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode), path
    assert not os.path.lexists('/etc/cron.d/outside-python-pwned')


def marker(root):
    """Which stand-in build sits at the asset's install directory: 'old', 'new', or None."""
    try:
        with open(os.path.join(root, INSTALL_NAME, 'MARKER')) as handle:
            return handle.read().strip()
    except OSError:
        return None


def receipt(root):
    try:
        with open(os.path.join(root, INSTALL_NAME, 'PBS_RECEIPT.json')) as handle:
            return json.load(handle)
    except OSError:
        return None


def entry(run, task, host=None):
    """The recorded result of the one task named ``task``: host, task, status ('ok', 'failed'...), result."""
    found = [r for r in run.results if r['task'] == task and (host is None or r['host'] == host)]
    assert len(found) == 1, 'expected one result for %r, got %d:\n%s' % (task, len(found), run.output[-3000:])
    return found[0]


class State(object):
    """What one case left behind: its install root, and the requests the mirrors saw for it."""

    def __init__(self, root, entry, requests):
        self.result = entry['result'] if entry else {}
        self.msg = self.result.get('msg', '')
        self.failed = entry['status'] == 'failed' if entry else None
        self.visible = visible(root)
        self.leftovers = leftovers(root)
        self.marker = marker(root)
        self.receipt = receipt(root)
        self.tree = tree(os.path.join(root, INSTALL_NAME)) if os.path.isdir(os.path.join(root, INSTALL_NAME)) else None
        self.requests = requests


class Case(object):
    """One fault.

    ``program(mirrors, case)`` programs the fault and returns the ``mirror`` option of the faulty
    run; ``options`` are the other task options; ``fix(mirrors, case)`` (optional) removes the
    fault beyond clearing the mirrors' programs and returns the ``mirror`` option of the rerun
    (default: the same); ``rerun`` are options that change for the rerun (a corrected pin).
    ``previous`` seeds the install root with the old build first.
    """

    def __init__(self, name, program, options=None, fix=None, rerun=None, previous=True):
        self.name = name
        self.program = program
        self.options = options or {}
        self.fix = fix
        self.rerun = rerun or {}
        self.previous = previous
        self.root = None
        self.mirror = None
        self.failed_state = self.rerun_state = self.again_state = None

    @property
    def prefix(self):
        return '/%s/' % self.name


def requests_for(mirrors, case):
    """What each mirror saw under the case's prefix; ``times`` are the arrival times on the primary.

    ``own`` is what the case's own server saw (``case.server``: an HTTPS mirror, a restarted one);
    ``headers`` the request headers each of the two mirrors received, in arrival order.
    """
    server = getattr(case, 'server', None)
    headers = dict((name, [e['headers'] for e in list(mirror.events) if e['path'].startswith(case.prefix)])
                   for name, mirror in (('primary', mirrors.primary), ('secondary', mirrors.secondary)))
    return dict(primary=mirrors.primary.under(case.prefix), secondary=mirrors.secondary.under(case.prefix),
                headers=headers,
                times=[e['time'] for e in list(mirrors.primary.events) if e['path'].startswith(case.prefix)],
                own=server.under(case.prefix) if server is not None else [])


OPTIONS = ('version', 'build', 'variant', 'target', 'install_root', 'mirror', 'url', 'sha256', 'checksums', 'force',
           'timeout', 'retries', 'headers', 'url_username', 'url_password', 'force_basic_auth', 'validate_certs',
           'ca_path', 'use_proxy', 'use_netrc', 'client_cert', 'client_key', 'link_dir', 'state', 'delivery',
           'cache_dir')


def write_parallel_play(workdir, per_host, task_names, hostvars=None, module='pbs.python.pbs_python'):
    """Write the inventory and play of ``parallel_play``; return (play, inventory path).

    ``hostvars`` maps a host to extra inventory variables (another ``ansible_python_interpreter``).
    """
    os.makedirs(str(workdir), exist_ok=True)
    hosts = {}
    for host, tasks in per_host.items():
        hostvars_ = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}
        hostvars_.update((hostvars or {}).get(host, {}))
        for task, args in tasks.items():
            args = dict(args)
            if 'environment' in args:  # the task keyword, not a module option
                hostvars_['pbs_%s_env' % _var(task)] = args.pop('environment')
            hostvars_['pbs_' + _var(task)] = args
        hosts[host] = hostvars_
    inventory = os.path.join(str(workdir), 'inventory-%d.yml' % len(os.listdir(str(workdir))))
    with open(inventory, 'w') as handle:
        handle.write(yaml.safe_dump({'all': {'hosts': hosts}}))
    tasks = []
    for task in task_names:
        var = 'pbs_' + _var(task)
        if task.startswith('info'):
            tasks.append({'name': task, 'pbs.python.pbs_python_info': {'install_root': '{{ %s.install_root }}' % var},
                          'ignore_errors': True, 'when': '%s is defined' % var})
            continue
        args = dict((key, '{{ %s.%s | default(omit) }}' % (var, key)) for key in OPTIONS)
        tasks.append({'name': task, module: args, 'environment': '{{ %s_env | default({}) }}' % var,
                      'ignore_errors': True, 'when': '%s is defined' % var})
    return [{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}], inventory


def spawn_playbook(play, workdir, inventory, env=None, extra_args=()):
    """Start ``ansible-playbook`` in the background, as ``run_playbook`` would run it; see ``finish``."""
    fd, path = tempfile.mkstemp(prefix='play-', suffix='.yml', dir=str(workdir))
    with os.fdopen(fd, 'w') as handle:
        handle.write(yaml.safe_dump(play, sort_keys=False))
    results = path[:-4] + '.results.jsonl'
    environ = dict(os.environ)
    environ.update({
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(SUPPORT, 'callback'), 'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
        'PBS_RECORD_RESULTS': results, 'ANSIBLE_HOST_KEY_CHECKING': 'False', 'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_LOCALHOST_WARNING': 'False', 'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
    })
    environ.update(env or {})
    proc = subprocess.Popen(['ansible-playbook', '-i', inventory, path] + list(extra_args), cwd=str(workdir),
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    proc.results_path = results
    return proc


class Finished(object):
    def __init__(self, proc, timeout=300):
        self.output = proc.communicate(timeout=timeout)[0]
        self.rc = proc.returncode
        self.results = []
        if os.path.exists(proc.results_path):
            with open(proc.results_path) as handle:
                self.results = [json.loads(line) for line in handle]


def parallel_play(workdir, per_host, task_names, env=None, extra_args=(), hostvars=None, module='pbs.python.pbs_python'):
    """One play over one local inventory host per case, all at once (``-f`` = number of hosts).

    ``per_host`` maps a host (case) name to {task name: pbs_python options}; a host runs only the
    tasks it has options for (a task named ``info...`` runs pbs_python_info on its install_root).
    Faults that wait (stalls, backoff) then overlap instead of adding up.
    """
    play, inventory = write_parallel_play(workdir, per_host, task_names, hostvars, module=module)
    environ = {'ANSIBLE_PIPELINING': '1'}
    environ.update(env or {})
    return run_playbook(play, str(workdir), inventory=inventory, env=environ,
                        extra_args=['-f', str(max(1, len(per_host)))] + list(extra_args))


def _var(task):
    return ''.join(c if c.isalnum() else '_' for c in task)


def task_args(root, mirror, **options):
    args = dict(version=VERSION, build=TAG, variant='install_only', target=TRIPLE, install_root=root,
                timeout=2, retries=0)
    if mirror is not None:
        args['mirror'] = mirror if isinstance(mirror, list) else [mirror]
    args.update(options)
    return args


def run_batch(workdir, mirrors, cases, template=None, rerun=True, env=None, extra_args=(), module='pbs.python.pbs_python'):
    """Run every case faulty, snapshot, remove the faults, rerun twice, snapshot; return the runs.

    With ``rerun=False`` only the first run happens (cases that are expected to succeed). ``module``
    is the task's module or action (pbs_python_bootstrap takes the same options).
    """
    for case in cases:
        case.root = os.path.join(str(workdir), 'roots', case.name)
        if case.previous:
            seed(template, case.root)
        case.mirror = case.program(mirrors, case)
    work = os.path.join(str(workdir), 'work')
    first = parallel_play(work, dict((case.name, {'pbs': task_args(case.root, case.mirror, **case.options)})
                                     for case in cases), ['pbs'], env=env, extra_args=extra_args, module=module)
    for case in cases:
        case.failed_state = State(case.root, entry(first, 'pbs', case.name), requests_for(mirrors, case))
    mirrors.clear()
    mirrors.primary.reset()
    mirrors.secondary.reset()
    if not rerun:
        return first, None
    per_host = {}
    for case in cases:
        if case.fix is not None:
            case.mirror = case.fix(mirrors, case)
        options = dict(case.options, **case.rerun)
        again = dict(options)
        again.pop('force', None)
        per_host[case.name] = {'pbs': task_args(case.root, case.mirror, **options),
                               'again': task_args(case.root, case.mirror, **again)}
    second = parallel_play(work, per_host, ['pbs', 'again'], env=env, extra_args=extra_args, module=module)
    for case in cases:
        case.rerun_state = State(case.root, entry(second, 'pbs', case.name), requests_for(mirrors, case))
        case.again_state = State(case.root, entry(second, 'again', case.name), {})
    mirrors.clear()
    return first, second


def assert_clean_failure(case, old_tree, phrases):
    """The faulty run failed with every phrase in its message, left the old build and no leftovers."""
    state = case.failed_state
    assert state.failed, 'expected a failure, got %r' % state.result
    for phrase in phrases:
        assert phrase in state.msg, 'missing %r in: %s' % (phrase, state.msg)
    assert state.leftovers == [], state.leftovers
    if case.previous:
        assert state.visible == [INSTALL_NAME]
        assert state.marker == 'old' and state.tree == old_tree
    else:
        assert state.visible == []


def assert_converges(case, sha256):
    """The rerun without the fault installed the new build; one more run changes nothing."""
    state, again = case.rerun_state, case.again_state
    assert not state.failed and state.result['changed'], state.result
    assert state.marker == 'new' and state.receipt['sha256'] == sha256
    assert state.leftovers == [] and state.visible == [INSTALL_NAME]
    assert not again.failed and not again.result['changed'], again.result
