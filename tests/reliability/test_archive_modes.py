"""Archive content and file modes, through real ansible-playbook runs against the loopback fault mirrors.

An archive may carry any mode (0777, setuid, sticky) and any metadata (pax headers by the
megabyte, a base-256 mtime of 2**80); the play may run under any umask. The installed tree must
come out 0755/0644 all the same, usable by every user through the links, the module's memory must
stay bounded before the digest is known, and a broken archive must fail over like any other.
"""

import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

import tiny_archives
from fault_mirror import serve
from reliability_kit import (
    INSTALL_NAME, VERSION, asset_path, entry, leftovers, marker, pbs_task, play, receipt, write_release,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root: runs the interpreter as nobody')
MINOR = '.'.join(VERSION.split('.')[:2])
SYSCONFIG = 'lib/python%s/_sysconfigdata__linux_x86_64-linux-gnu.py' % MINOR
# What the module process may reach: an interpreter, Ansible's module_utils and the pipeline's
# bounded queues (a normal install stays well under it; 300 pax headers of ~1 MiB each took ~340 MiB).
MODULE_RSS_BOUND_KIB = 100 * 1024


def modes_of(path):
    """Every entry under ``path`` (itself included): relative path -> ('dir'|'file'|'link', mode)."""
    found = {'.': ('dir', stat.S_IMODE(os.lstat(path).st_mode))}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            kind = 'link' if stat.S_ISLNK(info.st_mode) else 'dir' if stat.S_ISDIR(info.st_mode) else \
                'file' if stat.S_ISREG(info.st_mode) else 'other'
            found[os.path.relpath(full, path)] = (kind, stat.S_IMODE(info.st_mode))
    return found


def assert_data_filter_modes(path):
    """Directories 0755, files 0644 or 0755, nothing else (no device, no s-bit, no group/other write)."""
    for rel, (kind, mode) in modes_of(path).items():
        assert kind in ('dir', 'file', 'link'), rel
        if kind == 'dir':
            assert mode == 0o755, (rel, oct(mode))
        elif kind == 'file':
            assert mode in (0o644, 0o755), (rel, oct(mode))


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def hostile_modes_archive():
    """A stand-in interpreter whose members (the top directory too) carry 0777, 0666, s-bits and sticky bits."""
    members = []
    wanted = {'python/': 0o777, 'python/bin/': 0o1777, 'python/bin/python%s' % MINOR: 0o6777,
              'python/lib/': 0o2777, 'python/lib/python%s/' % MINOR: 0o777,
              'python/lib/python%s/os.py' % MINOR: 0o666, 'python/MARKER': 0o1666}
    for info, data in tiny_archives.interpreter_members(VERSION, marker='modes'):
        info.mode = wanted.get(info.name + ('/' if info.isdir() else ''), info.mode)
        members.append((info, data))
    members.append(tiny_archives.entry('python/' + SYSCONFIG, data=b"build_time_vars = {'prefix': '/install'}\n",
                                       mode=0o4666))
    members.append(tiny_archives.entry('python/lib/libstandin.so', data=b'\x7fELF stand-in', mode=0o2775))
    return tiny_archives.gz(tiny_archives._tar(members))  # pylint: disable=protected-access


def test_archive_modes_0777_setuid_and_sticky_install_as_0755_and_0644(tmp_path, mirrors, fault_root):
    data = hostile_modes_archive()
    write_release(os.path.join(fault_root, 'modes'), data)
    root, links = str(tmp_path / 'root'), str(tmp_path / 'links')
    run = play(tmp_path / 'work', [pbs_task('modes', root, '%s/modes' % mirrors.primary.url, ignore_errors=False,
                                            sha256=tiny_archives.sha256(data), link_dir=links, default=True)])
    assert run.rc == 0, run.output[-3000:]
    install = os.path.join(root, INSTALL_NAME)
    assert marker(root) == 'modes'
    assert_data_filter_modes(install)
    found = modes_of(install)
    assert found['.'] == found['bin'] == found['lib'] == ('dir', 0o755)
    assert found['bin/python%s' % MINOR] == ('file', 0o755)  # was setuid, setgid, 0777
    assert found['lib/libstandin.so'] == ('file', 0o755)  # was setgid, group-writable
    assert found['lib/python%s/os.py' % MINOR] == found['MARKER'] == ('file', 0o644)  # were 0666, sticky
    assert found[SYSCONFIG] == ('file', 0o644)  # setuid 0666, then rewritten by the relocation
    with open(os.path.join(install, SYSCONFIG)) as handle:
        assert "'prefix': '%s'" % install in handle.read()
    assert found['PBS_RECEIPT.json'] == found['BUILD'] == ('file', 0o644)
    assert os.path.realpath(os.path.join(links, 'python3')) == os.path.join(install, 'bin', 'python%s' % MINOR)


@needs_root
@pytest.mark.skipif(not shutil.which('runuser'), reason='needs runuser')
def test_under_umask_077_the_install_is_0755_and_nobody_runs_it_through_the_link(mirrors, real_sha):
    base = tempfile.mkdtemp(prefix='pbs-umask-', dir='/tmp')  # pytest's tmp_path is not reachable by nobody
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, 'opt', 'pbs', 'root')
        links = os.path.join(base, 'usr', 'local', 'bin')
        task = pbs_task('umask', root, '%s/real' % mirrors.primary.url, ignore_errors=False, sha256=real_sha,
                        link_dir=links, default=True, externally_managed=True, timeout=30)
        old = os.umask(0o077)  # inherited by ansible-playbook and the module it starts
        try:
            run = play(os.path.join(base, 'work'), [task])
        finally:
            os.umask(old)
        assert run.rc == 0, run.output[-3000:]
        for made in ('opt', 'opt/pbs', 'opt/pbs/root', 'usr', 'usr/local', 'usr/local/bin'):
            assert mode(os.path.join(base, made)) == 0o755, made
        install = os.path.join(root, INSTALL_NAME)
        assert_data_filter_modes(install)
        for name in ('PBS_RECEIPT.json', 'BUILD', 'lib/python%s/EXTERNALLY-MANAGED' % MINOR, SYSCONFIG):
            assert mode(os.path.join(install, name)) == 0o644, name
        assert leftovers(root) == []
        for link in ('python%s' % MINOR, 'python3'):
            done = subprocess.run(['runuser', '-u', 'nobody', '--', os.path.join(links, link), '-c',
                                   'import ssl, sqlite3; print(1)'], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, universal_newlines=True, check=False, cwd='/')
            assert (done.returncode, done.stdout) == (0, '1\n'), done.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)


def rss_wrapper(directory):
    """An interpreter for Ansible that runs the module under /usr/bin/python3 and logs its peak RSS (KiB)."""
    log = os.path.join(directory, 'module-rss.log')
    wrapper = os.path.join(directory, 'python-rss')
    with open(wrapper, 'w') as handle:
        handle.write('#!/usr/bin/python3\nimport resource, subprocess, sys\n'
                     'rc = subprocess.call(["/usr/bin/python3"] + sys.argv[1:])\n'
                     'with open(%r, "a") as log:\n'
                     '    log.write("%%d\\n" %% resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n'
                     'sys.exit(rc)\n' % log)
    os.chmod(wrapper, 0o755)
    return wrapper, log


def pax_header(size):
    """A pax header holding one record of about ``size`` bytes, of a key the reader does not use."""
    body = b' comment=' + b'x' * (size - 20) + b'\n'
    length = len(body) + len(str(len(body)))
    record = b'%d' % (len(body) + len(str(length))) + body
    info = tarfile.TarInfo('././@PaxHeader')
    info.type, info.size = tarfile.XHDTYPE, len(record)
    return info.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape') + record + b'\x00' * (-len(record) % 512)


BOMB_HEADER = (1 << 20) - 600


def pax_bomb():
    """The review's case: 300 pax headers just under 1 MiB each, one after another (~1 MB on the wire)."""
    head = tiny_archives._strip_end(tiny_archives._tar(tiny_archives.interpreter_members(VERSION, 'bomb')))  # pylint: disable=protected-access
    return tiny_archives.gz(head + pax_header(BOMB_HEADER) * 300 + b'\x00' * 1024)


def many_pax_headers():
    """100,000 members with a 60 KiB pax header each (each under the per-member cap): 6 GB of
    metadata, ~6 MB on the wire as 1,000 gzip members of 100 each."""
    directory, dummy = tiny_archives.entry('python/', tarfile.DIRTYPE, mode=0o755)
    unit = pax_header(60 << 10) + directory.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape')
    head = tiny_archives._strip_end(tiny_archives._tar(tiny_archives.interpreter_members(VERSION, 'many')))  # pylint: disable=protected-access
    return tiny_archives.gz(head) + tiny_archives.gz(unit * 100) * 1000 + tiny_archives.gz(b'\x00' * 1024)


def test_pax_header_bombs_are_refused_in_bounded_memory_before_the_digest(tmp_path, mirrors, builds):
    bombs = {'pax-bomb': pax_bomb(), 'pax-many': many_pax_headers()}
    wrapper, log = rss_wrapper(str(tmp_path))
    tasks = [pbs_task('normal', str(tmp_path / 'normal'), mirrors.primary.alias('pax-normal', 'good'),
                      sha256=builds.new_sha)]
    for name, data in bombs.items():
        mirrors.primary.program(asset_path(name), then=serve(data))
        # The pin is the good build's: before the caps, the wrong pin was all that stopped the bomb.
        tasks.append(pbs_task(name, str(tmp_path / name), '%s/%s' % (mirrors.primary.url, name),
                              sha256=builds.new_sha))
    try:
        run = play(tmp_path / 'work', [dict(t, vars={'ansible_python_interpreter': wrapper}) for t in tasks])
    finally:
        for name in bombs:
            mirrors.primary.hooks.pop(asset_path(name), None)
    assert entry(run, 'normal')['status'] == 'ok' and run.result('normal')['changed'], run.output[-3000:]
    assert entry(run, 'pax-bomb')['status'] == entry(run, 'pax-many')['status'] == 'failed'
    bomb, many = run.result('pax-bomb'), run.result('pax-many')
    assert 'unusable archive: archive member 9 has %d bytes of metadata headers' % (BOMB_HEADER - 20 + 9 + 8) \
        in bomb['msg'], bomb['msg']
    assert 'more than 16 MiB of metadata headers' in many['msg'], many['msg']
    for result in (bomb, many):
        assert 'checksum mismatch' not in result['msg']
        assert 'Nothing was installed' in result['msg']
    with open(log) as handle:
        peaks = [int(line) for line in handle]
    assert len(peaks) == 3 and max(peaks) < MODULE_RSS_BOUND_KIB, peaks
    for name in bombs:
        assert not os.path.exists(str(tmp_path / name)) or os.listdir(str(tmp_path / name)) in ([], ['.lock'])


def mtime_overflow_archive():
    members = tiny_archives.interpreter_members(VERSION, marker='mtime')
    for info, dummy in members:
        if info.name == 'python/bin/python%s' % MINOR:
            info.mtime = 2 ** 80  # GNU base-256: tarfile writes it, os.utime cannot take it
    return tiny_archives.gz(tiny_archives._tar(members))  # pylint: disable=protected-access


def test_base256_mtime_2_80_is_an_unusable_archive_that_fails_over_to_the_next_mirror(tmp_path, mirrors, builds):
    primary, secondary = mirrors.primary.alias('mtime', 'good'), mirrors.secondary.alias('mtime', 'good')
    mirrors.primary.program(asset_path('mtime'), then=serve(mtime_overflow_archive()))
    alone, failover = str(tmp_path / 'alone'), str(tmp_path / 'failover')
    try:
        run = play(tmp_path / 'work', [pbs_task('alone', alone, primary, sha256=builds.new_sha),
                                       pbs_task('failover', failover, [primary, secondary], sha256=builds.new_sha)])
    finally:
        mirrors.primary.hooks.pop(asset_path('mtime'), None)
    assert entry(run, 'alone')['status'] == 'failed', run.output[-3000:]
    refused = run.result('alone')
    assert 'unusable archive: archive member python/bin/python%s has an unusable mtime %d' % (MINOR, 2 ** 80) \
        in refused['msg'], refused['msg']
    assert 'Traceback' not in run.output and 'OverflowError' not in run.output
    assert not os.path.exists(alone) or os.listdir(alone) == ['.lock']
    assert entry(run, 'failover')['status'] == 'ok' and run.result('failover')['changed'], run.output[-3000:]
    assert marker(failover) == 'new' and receipt(failover)['sha256'] == builds.new_sha
    assert receipt(failover)['url'].startswith(secondary)
    # One GET per task on the first mirror: an unusable archive is not transient, so not retried there.
    assert mirrors.primary.under('/mtime/') == [('GET', asset_path('mtime'), 200)] * 2
    assert mirrors.secondary.under('/mtime/') == [('GET', asset_path('mtime'), 200)]
    assert leftovers(failover) == []
