"""Lock file: pins resolved once into exact assets and digests; later runs install exactly those bytes."""

import os
import shutil

import yaml

import pbs_fixtures
from mirror_server import MirrorServer
from playbook import run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
ASSET = 'cpython-3.12.1+20240107-%s-install_only.tar.gz' % TRIPLE


def inventory(tmp_path, mirror_url, root, lock=None):
    group_vars = {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'pbs_python_mirrors': [mirror_url], 'pbs_python_install_root': root, 'pbs_python_link_dir': '',
        'pbs_python_target': TRIPLE,
        'pbs_python_installs__web': [{'version': '3.12', 'build': '20240107', 'variant': 'install_only'}],
    }
    if lock:
        group_vars['pbs_python_lock_file'] = lock
    path = tmp_path / ('inventory-%d.yml' % len(list(tmp_path.glob('inventory-*'))))
    path.write_text(yaml.safe_dump({'all': {'children': {'web': {'hosts': {'box': None}, 'vars': group_vars}}}}))
    return str(path)


def site(tmp_path, inv):
    play = [{'hosts': 'all', 'gather_facts': False, 'roles': ['pbs.python.pbs_python']}]
    return run_playbook(play, str(tmp_path / 'work'), inventory=inv)


def test_lock_then_install_exactly_the_locked_bytes_and_refuse_changed_ones(tmp_path, mirror):
    lock = str(tmp_path / 'pbs-python.lock.yml')
    made = run_playbook('- import_playbook: pbs.python.lock\n', str(tmp_path / 'work'),
                        inventory=inventory(tmp_path, mirror.url, str(tmp_path / 'root')),
                        extra_args=['-e', 'pbs_python_lock_file=%s' % lock])
    assert made.rc == 0, made.output
    with open(lock) as handle:
        entries = yaml.safe_load(handle)['assets']
    assert entries == [{'pin': '3.12+20240107', 'version': '3.12.1', 'build': '20240107', 'variant': 'install_only',
                        'freethreaded': False, 'target': TRIPLE, 'asset': ASSET, 'sha256': mirror.sums[ASSET]}]

    # The role finds a relative lock file beside the playbook, as lookup('file') would.
    shutil.copy(lock, str(tmp_path / 'work' / 'site.lock.yml'))
    mirror.reset()
    run = site(tmp_path, inventory(tmp_path, mirror.url, str(tmp_path / 'root'), 'site.lock.yml'))
    assert run.rc == 0, run.output
    assert mirror.gets() == ['/20240107/' + ASSET]  # never SHA256SUMS

    # A year later the mirror serves other bytes under the same name, with a matching SHA256SUMS.
    swapped = str(tmp_path / 'swapped')
    pbs_fixtures.make_mirror(swapped, [dict(version='3.12.1', tag='20240107', source='3.11.7')])
    with MirrorServer(swapped) as evil:
        refused = site(tmp_path, inventory(tmp_path, evil.url, str(tmp_path / 'fresh'), lock))
    assert refused.rc != 0
    message = [r for r in refused.results if r['status'] == 'failed'][0]['result']['results'][0]['msg']
    assert 'checksum mismatch' in message and mirror.sums[ASSET] in message
    root = tmp_path / 'fresh'
    assert not root.exists() or sorted(os.listdir(root)) == ['.lock']
    shutil.rmtree(swapped)


def test_the_lock_lookup_reaches_a_mirror_behind_authentication(tmp_path):
    """Credentials or an Authorization header, as the hosts and controller delivery send them."""
    import base64
    import hashlib

    from fault_mirror import FaultMirror
    from playbook import localhost_play

    digest = hashlib.sha256(b'bytes').hexdigest()
    (tmp_path / 'mirror' / '20240107').mkdir(parents=True)
    (tmp_path / 'mirror' / '20240107' / 'SHA256SUMS').write_text('%s  %s\n' % (digest, ASSET))
    token = 'Basic ' + base64.b64encode(b'reader:s3cret').decode()
    with FaultMirror(str(tmp_path / 'mirror')) as server:
        server.require_auth('/20240107/', token)
        lookup = ("{{ lookup('pbs.python.lock', [{'version': '3.12', 'build': '20240107', 'variant': 'install_only'}], "
                  "wantlist=True, mirrors=['%s'], retries=0, %%s) }}" % server.url)
        tasks = [
            # A cache each: a SHA256SUMS read once is reused for a while, and each case must ask the mirror.
            {'name': 'user', 'ansible.builtin.set_fact': {'r': lookup % (
                "url_username='reader', url_password='s3cret', cache_dir='%s'" % (tmp_path / 'c1'))}},
            {'name': 'header', 'ansible.builtin.set_fact': {'r': lookup % (
                "headers={'Authorization': '%s'}, cache_dir='%s'" % (token, tmp_path / 'c2'))}},
            {'name': 'none', 'ansible.builtin.set_fact': {'r': lookup % ("cache_dir='%s'" % (tmp_path / 'c3'))},
             'ignore_errors': True},
        ]
        run = run_playbook(localhost_play(tasks), str(tmp_path / 'work'))
    for name in ('user', 'header'):
        entries = run.result(name)['ansible_facts']['r']
        assert [(e['asset'], e['version'], e['sha256']) for e in entries] == [(ASSET, '3.12.1', digest)], name
    assert '401' in run.result('none')['msg']
