"""The mirror builder (role pbs.python.pbs_mirror through the pbs.python.mirror playbook) against the
loopback "upstream" mirror: layout and checksums, reruns, a killed sync resumed with Range, a corrupt file
replaced, nginx serving the root, and uv installing a pinned build from it."""

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

import pytest
import yaml

import pbs_fixtures
from nginx_kit import free_port, stop_nginx
from playbook import run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
A = 'cpython-3.12.1+20240107-%s-install_only.tar.gz' % TRIPLE
C = 'cpython-3.13.0+20241016-%s-install_only_stripped.tar.gz' % TRIPLE
UPSTREAM_FILES = {'20240107': sorted([A, 'cpython-3.11.7+20240107-%s-install_only.tar.gz' % TRIPLE]),
                  '20241016': sorted([C, 'cpython-3.13.0+20241016-%s-install_only.tar.gz' % TRIPLE])}
CHUNK = 1 << 20
LOCAL = {'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}


def inventory(tmp_path):
    """Two groups of hosts whose pins the mirror takes the union of; both claim python3 (default)."""
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump({'all': {'children': {
        'web': {'hosts': {'web1': {'pbs_python_installs': [{'version': '3.13.0', 'build': '20241016',
                                                            'default': True}]}, 'web2': None},
                'vars': {'pbs_python_installs__web': [{'version': '3.12', 'build': '20240107',
                                                       'variant': 'install_only', 'default': True}]}},
        'db': {'hosts': {'db1': {'pbs_python_installs__db': [{'version': '3.12', 'build': '20240107',
                                                              'variant': 'install_only'}]}}},
    }}}))
    return str(path)


def mirror_run(workdir, inv, extra, check=False):
    """``ansible-playbook -i <inv> pbs.python.mirror -e @extra.json``, as the README shows it."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, 'extra.json')
    with open(path, 'w') as handle:
        json.dump(extra, handle)
    return run_playbook('- import_playbook: pbs.python.mirror\n', workdir, inventory=inv,
                        extra_args=['-e', '@' + path], check=check)


def sync_result(run):
    found = [r['result'] for r in run.results if r['task'].endswith('Sync the mirror root')]
    assert len(found) == 1, run.output[-3000:]
    return found[0]


def kill_tree(pid):
    """SIGKILL ``pid`` and every descendant, found before any dies (Ansible's workers call setsid)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return tree


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
        return response.status, response.headers, response.read()


@pytest.fixture(scope='module')
def built(mirror, tmp_path_factory):
    """One mirror built from the inventory's pins and served by nginx on a free port, stopped at the end."""
    tmp = tmp_path_factory.mktemp('mirror-builder')
    root = str(tmp / 'srv' / 'pbs')
    port = free_port()
    extra = {'pbs_mirror_root': root, 'pbs_mirror_upstream': [mirror.url], 'pbs_mirror_from_inventory': True,
             'pbs_mirror_listen': '127.0.0.1:%d' % port, 'pbs_mirror_nginx_user': 'root'}
    inv = inventory(tmp)
    mirror.reset()
    nginx_dir = root + '-nginx'
    started = time.time()
    try:
        run = mirror_run(str(tmp / 'work'), inv, extra)
        assert run.rc == 0, run.output
        yield dict(root=root, url='http://127.0.0.1:%d' % port, run=run, gets=mirror.gets('.tar.gz'),
                   inventory=inv, extra=extra, work=str(tmp / 'work'), nginx_dir=nginx_dir,
                   seconds=time.time() - started)
    finally:
        stop_nginx(nginx_dir)


def test_layout_holds_exactly_the_pinned_assets_with_their_checksums(built, mirror):
    root = built['root']
    assert sorted(os.listdir(root)) == ['.lock', '.pbs-mirror-state.json', '20240107', '20241016',
                                        'download-metadata.json']
    assert sorted(os.listdir(os.path.join(root, '20240107'))) == ['SHA256SUMS', A]  # not 3.11.7
    assert sorted(os.listdir(os.path.join(root, '20241016'))) == ['SHA256SUMS', C]  # not install_only
    for tag, name in (('20240107', A), ('20241016', C)):
        digest = pbs_fixtures.sha256_file(os.path.join(root, tag, name))
        assert digest == mirror.sums[name]
        with open(os.path.join(root, tag, 'SHA256SUMS')) as handle:
            assert handle.read() == '%s  %s\n' % (digest, name)
    assert sorted(built['gets']) == ['/20240107/' + A, '/20241016/' + C]  # each asset fetched once
    result = sync_result(built['run'])
    assert result['changed'] and sorted(result['downloaded']) == [A, C] and not result['kept']
    with open(os.path.join(root, 'download-metadata.json')) as handle:
        downloads = json.load(handle)
    assert downloads['cpython-3.12.1-linux-x86_64-gnu'] == {
        'name': 'cpython', 'arch': {'family': 'x86_64', 'variant': None}, 'os': 'linux', 'libc': 'gnu',
        'major': 3, 'minor': 12, 'patch': 1, 'prerelease': '', 'variant': None, 'build': '20240107',
        'sha256': mirror.sums[A],
        'url': 'https://github.com/astral-sh/python-build-standalone/releases/download/20240107/'
               + A.replace('+', '%2B')}
    assert sorted(downloads) == ['cpython-3.12.1-linux-x86_64-gnu', 'cpython-3.13.0-linux-x86_64-gnu']


def test_nginx_serves_the_root(built, mirror):
    url = built['url']
    status, headers, body = get('%s/20240107/%s' % (url, A.replace('+', '%2B')))
    with open(os.path.join(built['root'], '20240107', A), 'rb') as handle:
        assert status == 200 and body == handle.read()
    assert headers['Content-Type'] == 'application/gzip'
    status, headers, body = get('%s/20240107/' % url)  # directory listing
    assert status == 200 and headers['Content-Type'].startswith('text/html')
    assert A.replace('+', '%2B') in body.decode() or A in body.decode()
    status, headers, body = get('%s/20240107/SHA256SUMS' % url)
    assert headers['Content-Type'].startswith('text/plain') and body.decode() == '%s  %s\n' % (mirror.sums[A], A)
    status, headers, body = get('%s/download-metadata.json' % url)
    assert headers['Content-Type'].startswith('application/json') and json.loads(body)
    status, headers, body = get('%s/20240107/%s' % (url, A.replace('+', '%2B')), {'Range': 'bytes=10-19'})
    assert status == 206 and len(body) == 10
    for hidden in ('/.pbs-mirror-state.json', '/.lock'):
        with pytest.raises(urllib.error.HTTPError) as error:
            get(url + hidden)
        assert error.value.code == 404
    with open(os.path.join(built['nginx_dir'], 'access.log')) as handle:
        assert '"GET /20240107/%s HTTP/1.1" 200' % A.replace('+', '%2B') in handle.read()


def test_uv_installs_the_pinned_build_from_the_mirror(built, tmp_path):
    home = tmp_path / 'home'
    home.mkdir()
    env = {'PATH': os.environ['PATH'], 'HOME': str(home), 'UV_NO_CONFIG': '1',
           'UV_PYTHON_INSTALL_DIR': str(tmp_path / 'pythons'), 'UV_CACHE_DIR': str(tmp_path / 'uv-cache'),
           'UV_PYTHON_BIN_DIR': str(tmp_path / 'bin')}
    url = built['url']
    install = subprocess.run(['uv', 'python', 'install', '3.12', '--mirror', url,
                              '--python-downloads-json-url', url + '/download-metadata.json'],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=120, check=False)
    assert install.returncode == 0, install.stdout
    found = subprocess.run(['uv', 'python', 'find', '--managed-python', '3.12'], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
    assert found.returncode == 0 and found.stdout.startswith(str(tmp_path / 'pythons')), found.stdout
    version = subprocess.run([found.stdout.strip(), '-c', 'import platform; print(platform.python_version())'],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=60,
                             env={'PATH': os.environ['PATH']})
    assert version.stdout.strip() == '3.12.1'
    installs = [d for d in os.listdir(str(tmp_path / 'pythons')) if d.startswith('cpython-3.12.1')]
    assert installs == ['cpython-3.12.1-linux-x86_64-gnu']
    assert (tmp_path / 'pythons' / installs[0] / 'BUILD').read_text().strip() == '20240107'
    with open(os.path.join(built['nginx_dir'], 'access.log')) as handle:  # uv asked for %2B, got the + file
        assert re.search(r'"GET /20240107/%s HTTP/1.1" 200 \d+ "-" "uv/' % re.escape(A.replace('+', '%2B')),
                         handle.read())


def test_rerun_downloads_nothing_and_changes_nothing(built, mirror):
    with open(os.path.join(built['nginx_dir'], 'nginx.pid')) as handle:
        pid = handle.read()
    mirror.reset()
    again = mirror_run(built['work'], built['inventory'], built['extra'])
    assert again.rc == 0, again.output
    assert again.changed == [], [r['task'] for r in again.changed]
    assert mirror.gets('.tar.gz') == []
    result = sync_result(again)
    assert sorted(result['kept']) == [A, C] and not result['downloaded'] and not result['sha256sums']
    with open(os.path.join(built['nginx_dir'], 'nginx.pid')) as handle:
        assert handle.read() == pid  # the same nginx still serves, not restarted


def test_corrupt_file_is_replaced(built, mirror):
    path = os.path.join(built['root'], '20240107', A)
    with open(path, 'r+b') as handle:
        handle.seek(1000)
        handle.write(b'\0' * 64)
    mirror.reset()
    again = mirror_run(built['work'], built['inventory'], built['extra'])
    assert again.rc == 0, again.output
    result = sync_result(again)
    assert result['changed'] and result['replaced'] == [A] and result['kept'] == [C]
    assert mirror.gets('.tar.gz') == ['/20240107/' + A]
    assert pbs_fixtures.sha256_file(path) == mirror.sums[A]
    assert not sync_result(again)['sha256sums']  # the digest, and so SHA256SUMS, did not change


def test_changed_nginx_config_is_reloaded_not_restarted(built):
    with open(os.path.join(built['nginx_dir'], 'nginx.pid')) as handle:
        pid = handle.read()
    port = free_port()
    extra = dict(built['extra'], pbs_mirror_listen='127.0.0.1:%d' % port)
    again = mirror_run(built['work'], built['inventory'], extra)
    assert again.rc == 0, again.output
    assert sorted(r['task'].split(' : ')[-1] for r in again.changed) == [
        'Reload nginx with the changed configuration', 'Write the nginx configuration']
    deadline = time.time() + 10
    while True:  # a reload swaps the workers in the background
        try:
            status, dummy, body = get('http://127.0.0.1:%d/20240107/SHA256SUMS' % port)
            break
        except urllib.error.URLError:
            assert time.time() < deadline
            time.sleep(0.1)
    assert status == 200 and A in body.decode()
    with open(os.path.join(built['nginx_dir'], 'nginx.pid')) as handle:
        assert handle.read() == pid


def test_check_mode_predicts_the_sync_and_changes_nothing(mirror, tmp_path):
    root = str(tmp_path / 'pbs')
    extra = {'pbs_mirror_root': root, 'pbs_mirror_upstream': [mirror.url], 'pbs_mirror_listen': str(free_port()),
             'pbs_mirror_pins': [{'version': '3.12', 'build': '20240107', 'variant': 'install_only'}]}
    mirror.reset()
    run = mirror_run(str(tmp_path / 'work'), inventory(tmp_path), extra, check=True)
    assert run.rc == 0, run.output
    result = sync_result(run)
    assert result['changed'] and result['downloaded'] == [A] and result['held'] == ['20240107/' + A]
    assert not os.path.exists(root) and not os.path.exists(root + '-nginx')
    assert mirror.gets('.tar.gz') == []


# -- an interrupted sync ------------------------------------------------------------------------

def stalling_hook(data, half, sent, release):
    """Send the headers of the whole file and its first ``half`` bytes, slowly, then stall."""
    def hook(handler):
        handler.send_response(200)
        handler.send_header('Content-Type', 'application/gzip')
        handler.send_header('Content-Length', str(len(data)))
        handler.end_headers()
        for offset in range(0, half, CHUNK):
            handler.wfile.write(data[offset:min(offset + CHUNK, half)])
            handler.wfile.flush()
            time.sleep(0.01)
        sent.set()
        release.wait(60)
        handler.close_connection = True
        return True
    return hook


def ranged_hook(data, ranges):
    """Serve ``data`` honouring ``Range: bytes=N-`` (206), logging every Range header received."""
    def hook(handler):
        wanted = handler.headers.get('Range')
        ranges.append(wanted)
        start = int(re.match(r'bytes=(\d+)-$', wanted).group(1)) if wanted else 0
        handler.send_response(206 if wanted else 200)
        if wanted:
            handler.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)))
        handler.send_header('Content-Length', str(len(data) - start))
        handler.end_headers()
        for offset in range(start, len(data), CHUNK):
            block = data[offset:offset + CHUNK]
            handler.wfile.write(block)
            handler.server.count_bytes(unquote(urlsplit(handler.path).path), len(block))
        return True
    return hook


def test_killed_sync_resumes_with_a_range_request(mirror, tmp_path):
    root = str(tmp_path / 'pbs')
    partial = os.path.join(root, '20240107', A + '.partial')
    with open(os.path.join(mirror.root, '20240107', A), 'rb') as handle:
        data = handle.read()
    half = len(data) // 2 // CHUNK * CHUNK
    extra = {'pbs_mirror_root': root, 'pbs_mirror_upstream': [mirror.url], 'pbs_mirror_nginx': False,
             'pbs_mirror_pins': [{'version': '3.12', 'build': '20240107', 'variant': 'install_only'}]}
    work = str(tmp_path / 'work')
    os.makedirs(work)
    with open(os.path.join(work, 'extra.json'), 'w') as handle:
        json.dump(extra, handle)
    sent, release = threading.Event(), threading.Event()
    path = '/20240107/' + A
    mirror.hooks[path] = stalling_hook(data, half, sent, release)
    inv = os.path.join(work, 'inventory.yml')
    with open(inv, 'w') as handle:
        yaml.safe_dump({'all': {'hosts': {'localhost': LOCAL}}}, handle)
    log = os.path.join(work, 'killed.log')
    with open(log, 'w') as output:
        proc = subprocess.Popen(['ansible-playbook', '-i', inv, 'pbs.python.mirror', '-e', '@extra.json'],
                                cwd=work, env=dict(os.environ, ANSIBLE_NOCOLOR='1'), stdout=output,
                                stderr=subprocess.STDOUT)
    try:
        if not sent.wait(45):
            with open(log) as handle:
                pytest.fail('the sync never asked for the archive:\n' + handle.read()[-3000:])
        deadline = time.time() + 30
        while time.time() < deadline and not (os.path.exists(partial) and os.path.getsize(partial) == half):
            time.sleep(0.05)
        assert os.path.getsize(partial) == half, 'the module did not write what it received'
    finally:
        killed = kill_tree(proc.pid)  # ansible-playbook, its worker (in a session of its own), the module
        proc.wait(30)
        release.set()
        mirror.hooks.pop(path, None)
    assert len(killed) >= 3 and os.path.getsize(partial) == half and not os.path.exists(partial[:-len('.partial')])

    ranges = []
    mirror.hooks[path] = ranged_hook(data, ranges)
    mirror.reset()
    try:
        again = mirror_run(work, inv, extra)
    finally:
        mirror.hooks.pop(path, None)
    assert again.rc == 0, again.output
    assert ranges == ['bytes=%d-' % half]
    assert mirror.bytes_by_path == {path: len(data) - half}  # only the missing half crossed the wire
    result = sync_result(again)
    assert result['downloaded'] == [A] and result['resumed'] == [A], result
    assert pbs_fixtures.sha256_file(os.path.join(root, '20240107', A)) == hashlib.sha256(data).hexdigest()
    assert not os.path.exists(partial)
    with open(os.path.join(root, '20240107', 'SHA256SUMS')) as handle:
        assert handle.read() == '%s  %s\n' % (mirror.sums[A], A)
