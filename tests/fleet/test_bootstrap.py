"""Bootstrap: a real SSH host built without Python gets the pinned interpreter (raw commands unpack a
temporary copy, which runs the module), then runs ordinary modules on it; a hostile archive is refused."""

import gzip
import os
import tarfile

import pytest
import yaml

import fleet
import fleet_kit
import pbs_fixtures
import tiny_archives
from playbook import run_playbook
from reliability_kit import tree

pytestmark = fleet_kit.needs()

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
    # A lock file reaches the bootstrap too (through the role lookup): strict digests, no SHA256SUMS read.
    asset = 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'
    lock = tmp_path / 'site.lock.yml'
    lock.write_text(yaml.safe_dump({'lock_version': 1, 'assets': [{'asset': asset, 'sha256': mirror.sums[asset]}]}))
    inv['all'].setdefault('vars', {}).update({
        'pbs_python_mirrors': [mirror.url],  # the controller downloads: the host needs no route to it
        'pbs_python_cache_dir': str(tmp_path / 'cache'), 'pbs_python_lock_file': str(lock),
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
    mirror.reset()
    first = run_playbook(play, str(tmp_path / 'work'), inventory=inventory)
    assert first.rc == 0, first.output
    assert mirror.gets() == ['/20240107/' + asset]
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


def test_a_hostile_archive_is_refused_by_the_module_on_a_host_without_python(tmp_path, bare_host):
    """A real interpreter plus members aimed outside, pinned by sha256: the system tar that unpacks bootstrap's
    temporary copy writes nothing outside it, and the module, running on that copy, refuses the archive."""
    state, info = bare_host
    host_root = [h for h in info['hosts'] if h['name'] == HOST][0]['root']
    name = pbs_fixtures.asset('3.12.1', '20240107')
    hostile = [  # the module stops at the first; the system tar meets them all
        tiny_archives.entry('python/lib/escape', tarfile.SYMTYPE, linkname='../' * 12 + 'etc', mode=0o777),
        tiny_archives.entry('python/lib/escape/pwned-through-link', data=b'pwned\n'),
        tiny_archives.entry('/etc/pwned-absolute', data=b'pwned\n'),
        tiny_archives.entry('python/' + '../' * 12 + 'etc/pwned-dotdot', data=b'pwned\n'),
    ]
    with gzip.open(pbs_fixtures.build_archive('3.12.1'), 'rb') as handle:
        data = tiny_archives.gz(tiny_archives._strip_end(handle.read()) + tiny_archives._tar(hostile))  # pylint: disable=protected-access
    os.makedirs(str(tmp_path / 'mirror' / '20240107'))
    with open(str(tmp_path / 'mirror' / '20240107' / name), 'wb') as handle:
        handle.write(data)
    installs = os.path.join(host_root, 'opt', 'pbs-python')

    def installed():  # bytecode caches aside: modules run on an earlier install may write them
        return dict((k, v) for k, v in tree(installs).items()
                    if k != '.lock' and '__pycache__' not in k) if os.path.isdir(installs) else {}

    before = installed()
    play = [{'hosts': HOST, 'gather_facts': False, 'tasks': [{
        'name': 'hostile', 'ignore_errors': True, 'pbs.python.pbs_python_bootstrap': {
            'version': '3.12.1', 'build': '20240107', 'variant': 'install_only', 'sha256': tiny_archives.sha256(data),
            'mirror': ['file://%s' % (tmp_path / 'mirror')], 'cache_dir': str(tmp_path / 'cache')}}]}]
    run = run_playbook(play, str(tmp_path / 'work'), inventory=os.path.join(state, 'inventory.yml'))
    assert run.rc == 0, run.output
    entry = [r for r in run.results if r['task'] == 'hostile'][0]
    result = entry['result']
    assert entry['status'] == 'failed', result
    assert 'unusable archive: archive member python/lib/escape is a symlink to' in result['msg'], result['msg']
    assert 'leaves the install directory. Nothing was installed' in result['msg'], result['msg']
    assert installed() == before  # an earlier install (if any) untouched, nothing new
    assert os.listdir(os.path.join(host_root, 'root', '.ansible', 'tmp')) == []  # archive and copy removed
    for top in ('etc', 'opt', 'root', 'tmp', 'var/tmp'):
        for directory, dirs, files in os.walk(os.path.join(host_root, top)):
            assert not [n for n in dirs + files if 'pwned' in n], directory
