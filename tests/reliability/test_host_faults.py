"""Host faults, through real ansible-playbook runs: disk full, SIGKILL mid-install, two runs at
once, a read-only or foreign install root.

Disk full, read-only and foreign roots need root (a tmpfs, another uid); they are skipped otherwise.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import tiny_archives
from fault_mirror import hold, partial_then_hold
from reliability_kit import (
    INSTALL_NAME, Finished, asset_path, entry, leftovers, marker, parallel_play, receipt, seed, spawn_playbook,
    sums_path, task_args, tree, visible, write_parallel_play, write_release,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root: mounts a tmpfs or switches uid')
KILLPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'support', 'killpoint')


@contextlib.contextmanager
def tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if done.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: %s' % done.stdout.strip())
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', path], check=False)


def remount(path, options):
    subprocess.run(['mount', '-o', 'remount,' + options, path], check=True)


def free_bytes(path):
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def probe(python):
    return subprocess.run([python, '-c', 'import platform, ssl; print(platform.python_version())'], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True, env={'PATH': '/usr/bin:/bin'}).stdout.strip()


@needs_root
def test_disk_full_during_extraction_fails_cleanly_then_converges(tmp_path, mirrors, old_install, old_tree, real_sha):
    """A 20 MB tmpfs as install root, a ~150 MB interpreter: ENOSPC mid-extraction."""
    with tmpfs(str(tmp_path / 'small'), '20m') as mount:
        root = seed(old_install, os.path.join(mount, 'pbs'))
        free = free_bytes(mount)
        args = task_args(root, '%s/real' % mirrors.primary.url, sha256=real_sha, timeout=10)
        run = parallel_play(tmp_path / 'work', {'disk': {'pbs': args}}, ['pbs'])
        failed = entry(run, 'pbs', 'disk')
        assert failed['status'] == 'failed', failed
        msg = failed['result']['msg']
        assert 'no space left on the device while extracting into %s' % root in msg, msg
        assert 'free some space or choose another install_root' in msg
        assert leftovers(root) == [] and visible(root) == [INSTALL_NAME]
        assert tree(os.path.join(root, INSTALL_NAME)) == old_tree
        assert abs(free_bytes(mount) - free) < 256 << 10  # the partial tree is gone, not just hidden

        remount(mount, 'size=600m')  # the fault removed: room enough
        rerun = parallel_play(tmp_path / 'work', {'disk': {'pbs': args, 'again': args}}, ['pbs', 'again'])
        result = entry(rerun, 'pbs', 'disk')
        assert result['status'] == 'ok' and result['result']['changed'], result
        assert probe(result['result']['python']) == '3.12.1'
        assert receipt(root)['sha256'] == real_sha and leftovers(root) == []
        assert not entry(rerun, 'again', 'disk')['result']['changed']


@needs_root
def test_read_only_install_root_gives_a_clear_error(tmp_path, mirrors, builds, old_install, old_tree):
    with tmpfs(str(tmp_path / 'ro'), '20m') as mount:
        root = seed(old_install, os.path.join(mount, 'pbs'))
        remount(mount, 'ro')
        args = task_args(root, mirrors.primary.alias('ro', 'good'), sha256=builds.new_sha)
        run = parallel_play(tmp_path / 'work', {'ro': {'pbs': args}}, ['pbs'])
        failed = entry(run, 'pbs', 'ro')
        assert failed['status'] == 'failed'
        assert 'install_root %s is on a read-only filesystem: choose a writable install_root' % root in \
            failed['result']['msg']
        assert tree(os.path.join(root, INSTALL_NAME)) == old_tree and leftovers(root) == []

        remount(mount, 'rw')
        rerun = parallel_play(tmp_path / 'work', {'ro': {'pbs': args}}, ['pbs'])
        assert entry(rerun, 'pbs', 'ro')['result']['changed'] and marker(root) == 'new' and leftovers(root) == []


@needs_root
def test_install_root_owned_by_another_user_gives_a_clear_error(tmp_path, mirrors, builds, old_install, old_tree):
    """The module runs as ``nobody`` (setpriv) on an install root that root owns."""
    base = tempfile.mkdtemp(prefix='pbs-reliability-', dir='/tmp')  # pytest's tmp_path is not reachable by nobody
    try:
        os.chmod(base, 0o755)
        root = seed(old_install, os.path.join(base, 'pbs'))
        wrapper = os.path.join(base, 'python-as-nobody')
        with open(wrapper, 'w') as handle:
            handle.write('#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$@"\n')
        os.chmod(wrapper, 0o755)
        args = task_args(root, mirrors.primary.alias('foreign', 'good'), sha256=builds.new_sha)
        run = parallel_play(tmp_path / 'work', {'foreign': {'pbs': args}}, ['pbs'],
                            hostvars={'foreign': {'ansible_python_interpreter': wrapper}})
        failed = entry(run, 'pbs', 'foreign')
        assert failed['status'] == 'failed', run.output[-3000:]
        msg = failed['result']['msg']
        assert 'cannot write to install_root %s (Permission denied)' % root in msg, msg
        assert 'run with become: true or choose an install_root this user owns' in msg
        assert tree(os.path.join(root, INSTALL_NAME)) == old_tree and leftovers(root) == []

        rerun = parallel_play(tmp_path / 'work', {'foreign': {'pbs': args}}, ['pbs'])  # as root now
        assert entry(rerun, 'pbs', 'foreign')['result']['changed'] and marker(root) == 'new'
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- two runs at once ---------------------------------------------------------------------------

def lock_waiters(lock_path):
    """Processes blocked on the flock of ``lock_path`` (from /proc/locks)."""
    inode = os.stat(lock_path).st_ino
    waiters = []
    with open('/proc/locks') as handle:
        for line in handle:
            fields = line.split()
            if '->' in fields and fields[fields.index('->') + 1] == 'FLOCK' and \
                    fields[-3].split(':')[-1] == str(inode):
                waiters.append(int(fields[fields.index('->') + 4]))
    return waiters


def wait_for(condition, timeout=60, what='condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError('timed out waiting for %s' % what)


def test_two_playbooks_at_once_one_installs_the_other_waits_and_reports_unchanged(tmp_path, mirrors, real_sha):
    """Real interpreter archive; no pin, so SHA256SUMS is read by whoever installs."""
    root = str(tmp_path / 'pbs')
    mirror = mirrors.primary.alias('both', 'real')
    release, reached = threading.Event(), threading.Event()
    mirrors.primary.program(asset_path('both'), hold(release, reached=reached))
    mirrors.primary.reset()
    procs = []
    try:
        for name in ('first', 'second'):
            work = tmp_path / name
            play, inventory = write_parallel_play(work, {name: {'pbs': task_args(root, mirror, timeout=30)}}, ['pbs'])
            procs.append(spawn_playbook(play, work, inventory, env={'ANSIBLE_PIPELINING': '1'}))
            if name == 'first':  # the first holds the lock and is downloading
                assert reached.wait(60), 'the first run never asked for the archive'
        wait_for(lambda: lock_waiters(os.path.join(root, '.lock')), what='the second run to wait on the lock')
        release.set()
        first, second = [Finished(proc) for proc in procs]
    finally:
        release.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        mirrors.clear()
    one, two = entry(first, 'pbs', 'first'), entry(second, 'pbs', 'second')
    assert one['status'] == 'ok' and one['result']['changed'], first.output[-3000:]
    assert two['status'] == 'ok' and not two['result']['changed'], second.output[-3000:]
    assert two['result']['path'] == one['result']['path'] and two['result']['sha256'] == real_sha
    assert mirrors.primary.under('/both/') == [('GET', sums_path('both'), 200), ('GET', asset_path('both'), 200)]
    assert probe(one['result']['python']) == '3.12.1'
    assert visible(root) == [INSTALL_NAME] and leftovers(root) == []


# -- SIGKILL at several points of an install -------------------------------------------------------

KILL_POINTS = ['mid-download', 'before-swap', 'between-renames', 'after-swap', 'before-links']
REMOVE_POINT = 'mid-remove'


@pytest.fixture(scope='module')
def killed(tmp_path_factory, mirrors, builds, old_install):
    """For each point: start an install over the old build, SIGKILL the module there, then rerun.

    All points run at once (one background ansible-playbook each), then one parallel rerun with
    pbs_python_info before and after it reports what the host shows.
    """
    base = tmp_path_factory.mktemp('kill')
    padded = tiny_archives.interpreter_archive(marker='new', pad=4 << 20)  # big enough to stop midway
    write_release(os.path.join(mirrors.primary.root, 'padded'), padded)
    release = threading.Event()
    cases, procs = {}, {}
    try:
        for point in KILL_POINTS + [REMOVE_POINT]:
            case = dict(root=str(base / point / 'root'), links=str(base / point / 'bin'), dir=str(base / point / 'kp'))
            os.makedirs(case['dir'])
            seed(old_install, case['root'])
            source = 'padded' if point == 'mid-download' else 'good'
            mirror, sha = mirrors.primary.alias('kill-' + point, source), builds.new_sha
            if point == 'mid-download':  # half the body comes, then nothing until the test is over
                sha = tiny_archives.sha256(padded)
                mirrors.primary.program(asset_path('kill-' + point), partial_then_hold(len(padded) // 2, release))
            case['args'] = task_args(case['root'], mirror, sha256=sha, timeout=60)
            if point == 'before-links':
                case['args']['link_dir'] = case['links']
            if point == REMOVE_POINT:
                case['args']['state'] = 'absent'
            play, inventory = write_parallel_play(base / point / 'work', {point: {'pbs': case['args']}}, ['pbs'])
            env = {'PYTHONPATH': KILLPOINT, 'PBS_KILLPOINT_DIR': case['dir'], 'PBS_KILLPOINT': point}
            procs[point] = spawn_playbook(play, base / point / 'work', inventory, env=env)
            cases[point] = case
        for point, case in cases.items():
            case['state_at_kill'] = kill_at(point, case)
            case['killed_run'] = Finished(procs[point])
        per_host = dict((point, {'info before': case['args'], 'pbs': case['args'], 'again': case['args'],
                                 'info after': case['args']}) for point, case in cases.items())
        rerun = parallel_play(base / 'rerun', per_host, ['info before', 'pbs', 'again', 'info after'])
    finally:
        release.set()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        mirrors.clear()
    for point, case in cases.items():
        for task in ('info before', 'pbs', 'again', 'info after'):
            case[task] = entry(rerun, task, point)
        case['sha'] = case['args'].get('sha256')
    return cases


def dead(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def kill_at(point, case):
    """Wait for the module to reach ``point``, SIGKILL it, return what the install root holds then."""
    root = case['root']
    pid_file, reached = os.path.join(case['dir'], 'module.pid'), os.path.join(case['dir'], 'reached')
    if point == 'mid-download':
        def extracting():
            staging = [n for n in os.listdir(root) if n.startswith('.staging-')] if os.path.isdir(root) else []
            return staging and os.path.exists(os.path.join(root, staging[0], 'bin')) and os.path.exists(pid_file)
        wait_for(extracting, what='the staging tree of %s' % point)
    else:
        wait_for(lambda: os.path.exists(reached), what='kill point %s' % point)
    with open(pid_file) as handle:
        pid = int(handle.read())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: dead(pid), what='pid %d to die' % pid)
    return dict(visible=visible(root), leftovers=leftovers(root), marker=marker(root), receipt=receipt(root))


@pytest.mark.parametrize('point', KILL_POINTS)
def test_sigkill_then_rerun_ends_with_the_old_or_the_complete_new_install(killed, builds, old_tree, point):
    case = killed[point]
    killed_task = entry(case['killed_run'], 'pbs', point)
    assert killed_task['status'] == 'failed', killed_task  # the killed task never reported success
    at_kill = case['state_at_kill']
    expected = {'mid-download': 'old', 'before-swap': 'old', 'between-renames': None, 'after-swap': 'new',
                'before-links': 'new'}[point]
    assert at_kill['marker'] == expected, at_kill
    if expected is None:  # the old tree is in .trash-*, the next run puts it back before anything else
        assert at_kill['visible'] == [] and any(n.startswith('.trash-') for n in at_kill['leftovers'])

    # What the host reports before the rerun: only complete installs, each working.
    reported = case['info before']['result']['installs']
    assert case['info before']['result']['unrecognized'] == []
    for install in reported:
        assert install['works'], install
        assert install['sha256'] == (builds.old_sha if at_kill['marker'] == 'old' else case['sha'])
    assert len(reported) == (0 if expected is None else 1)

    # The rerun converges on the complete new install, and leaves nothing behind.
    rerun, again = case['pbs'], case['again']
    assert rerun['status'] == 'ok', rerun
    assert rerun['result']['sha256'] == case['sha'] and marker(case['root']) == 'new'
    assert not again['result']['changed']
    assert leftovers(case['root']) == [] and visible(case['root']) == [INSTALL_NAME]
    if point == 'before-links':
        assert rerun['result']['changed']  # the links were still missing
        assert rerun['result']['links'] == {os.path.join(case['links'], 'python3.12'): rerun['result']['python']}
        assert os.listdir(case['links']) == ['python3.12']  # no temporary link left beside it
    if point == 'after-swap':
        assert not rerun['result']['changed']  # the new install was complete; only the old tree's trash goes
    after = case['info after']['result']['installs']
    assert [(i['sha256'], i['works']) for i in after] == [(case['sha'], True)]


def test_sigkill_during_absent_never_brings_a_half_deleted_install_back(killed):
    case = killed[REMOVE_POINT]
    assert entry(case['killed_run'], 'pbs', REMOVE_POINT)['status'] == 'failed'
    at_kill = case['state_at_kill']
    assert at_kill['visible'] == [] and len(at_kill['leftovers']) == 1  # renamed aside, partly deleted
    assert case['info before']['result']['installs'] == []
    rerun = case['pbs']
    assert rerun['status'] == 'ok' and not rerun['result']['changed'], rerun
    assert leftovers(case['root']) == [] and visible(case['root']) == []  # the rest is deleted, not restored
    assert case['info after']['result']['installs'] == []
