"""Compatibility matrix: the collection's promises, run for real.

``meta/runtime.yml`` promises ansible-core 2.16 and later on the controller, and the module promises
target hosts with only a system Python 3.8+ and its standard library. Each row below runs real
``ansible-playbook`` processes of one ansible-core release under one controller Python, with the
module executed by one target Python, against the session's loopback mirror: a first run installs,
a second run is a no-op that touches no network.

Controller venvs come from the package registry once and are cached under
``$PBS_PYTHON_CACHE/compat``; a row whose interpreters this machine lacks is skipped, naming them.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from playbook import localhost_play, published_play, run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
ASSET_312 = 'cpython-3.12.1+20240107-%s-install_only' % TRIPLE
CACHE = os.environ.get('PBS_PYTHON_CACHE', os.path.expanduser('~/.cache/pbs-python'))
COMPAT = os.path.join(CACHE, 'compat')
RECIPE = '1'  # bump when the venv recipe below changes
DEBIAN_PYTHON = '/usr/bin/python3'


def pyenv_python(minor):
    """``~/.pyenv/versions/<X.Y.Z>/bin/python<X.Y>`` of the newest patch of ``minor``, or None.

    pyenv's shims are not used: for 3.12 and 3.13 they do not resolve here.
    """
    found = [p for p in glob.glob(os.path.expanduser('~/.pyenv/versions/%s.*/bin/python%s' % (minor, minor)))
             if os.access(p, os.X_OK)]
    found.sort(key=lambda p: [int(x) if x.isdigit() else -1 for x in p.split('/')[-3].split('.')])
    return found[-1] if found else None


def python_version(python):
    out = subprocess.run([python, '-c', 'import platform; print(platform.python_version())'],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return out.stdout.strip()


def _bootstrap_venv(core, python):
    """The bootstrap venv, when it is exactly ansible-core ``core`` on ``python``'s minor."""
    venv = os.environ.get('PBS_PYTHON_VENV')
    if not venv or not os.path.isfile(os.path.join(venv, '.complete')):
        return None
    code = 'import platform, ansible.release as r; print(platform.python_version(), r.__version__)'
    out = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c', code], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False)
    if out.returncode != 0:
        return None
    have_python, have_core = out.stdout.split()
    want_minor = python_version(python).rsplit('.', 1)[0]
    if have_core == core and have_python.rsplit('.', 1)[0] == want_minor:
        return venv
    return None


def controller_venv(core, python):
    """A venv of ``python`` with ``ansible-core==core`` from the registry, built once and cached.

    Built in a temporary directory beside its final place and renamed there only once complete
    (with a ``.complete`` marker inside), so an interrupted build is never mistaken for a venv.
    """
    reused = _bootstrap_venv(core, python)
    if reused:
        return reused
    requirements = ['ansible-core==%s' % core, 'PyYAML']
    real = os.path.realpath(python)
    minor = python_version(python).rsplit('.', 1)[0]
    key = hashlib.sha256('\n'.join([RECIPE, real, python_version(python)] + requirements).encode()).hexdigest()[:12]
    name = 'venv-%s-py%s-%s' % (core, minor.replace('.', ''), key)
    venv = os.path.join(COMPAT, name)
    if os.path.isfile(os.path.join(venv, '.complete')):
        return venv
    os.makedirs(COMPAT, exist_ok=True)
    _sweep_stale_builds(name)
    if os.path.exists(venv):  # not ours to trust: no marker
        shutil.rmtree(venv)
    build = tempfile.mkdtemp(prefix='.build-%s-' % name, dir=COMPAT)
    log = os.path.join(COMPAT, name + '.pip.log')
    try:
        subprocess.run([python, '-m', 'venv', build], check=True)
        with open(log, 'w') as handle:
            proc = subprocess.run([os.path.join(build, 'bin', 'python'), '-m', 'pip', 'install', '-q',
                                   '--disable-pip-version-check'] + requirements,
                                  stdout=handle, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            with open(log) as handle:
                pytest.fail('pip could not install %s for %s (log %s):\n%s'
                            % (' '.join(requirements), python, log, handle.read()[-6000:]), pytrace=False)
        _relocate_scripts(build, venv)
        open(os.path.join(build, '.complete'), 'w').close()
        try:
            os.rename(build, venv)
        except OSError:  # another run finished the same venv first
            if not os.path.isfile(os.path.join(venv, '.complete')):
                raise
    finally:
        if os.path.isdir(build):
            shutil.rmtree(build)
    return venv


def _relocate_scripts(build, venv):
    """Point the scripts pip wrote in ``build/bin`` (shebangs, activate) at the final venv path."""
    old, new = build.encode(), venv.encode()
    bindir = os.path.join(build, 'bin')
    for entry in os.listdir(bindir):
        path = os.path.join(bindir, entry)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, 'rb') as handle:
            data = handle.read()
        if old in data:
            with open(path, 'wb') as handle:
                handle.write(data.replace(old, new))


def _sweep_stale_builds(name, age=3600):
    """Remove temporary build dirs of ``name`` left by interrupted runs (older than ``age`` s)."""
    for path in glob.glob(os.path.join(COMPAT, '.build-%s-*' % name)):
        try:
            if time.time() - os.stat(path).st_mtime > age:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


class Cell(object):
    """One row: ansible-core ``core`` on controller Python ``controller``, modules on ``target``."""

    def __init__(self, core, controller, target_minor, target_glob, label=None):
        self.core = core                  # exact ansible-core version
        self.controller = controller      # controller Python minor, from pyenv
        self.target_minor = target_minor
        self.target_glob = target_glob    # where the target interpreter is looked for
        found = sorted(glob.glob(os.path.expanduser(target_glob)),
                       key=lambda p: [int(x) if x.isdigit() else -1 for x in p.split('/')[-3].split('.')])
        self.target = found[-1] if found and os.access(found[-1], os.X_OK) else None
        self.id = 'core%s-ctl%s-target%s' % (core.rsplit('.', 1)[0], controller, label or target_minor)


# The newest patch of each ansible-core line the registry offers (pip index versions ansible-core).
# Targets: the oldest Python each release supports (ansible_test/_util/target/common/constants.py:
# 2.16 to 2.19 start at 3.8; 2.18's row takes 3.9 to cover another minor), plus Debian 12's system
# Python 3.11.2 (whose tarfile lacks filter=) and the newest, for the current release.
CELLS = [
    Cell('2.16.19', '3.12', '3.8', '~/.pyenv/versions/3.8.18/bin/python3.8'),
    Cell('2.18.19', '3.11', '3.9', '~/.pyenv/versions/3.9.*/bin/python3.9'),
    Cell('2.19.14', '3.11', '3.8', '~/.pyenv/versions/3.8.*/bin/python3.8'),
    Cell('2.21.5', '3.13', '3.11', DEBIAN_PYTHON, label='3.11-debian'),
    Cell('2.21.5', '3.13', '3.13', '~/.pyenv/versions/3.13.*/bin/python3.13'),
]


def pbs_task(mirror, root):
    return {'name': 'pbs', 'register': 'r', 'pbs.python.pbs_python': dict(
        version='3.12', build='20240107', variant='install_only', target=TRIPLE,
        mirror=mirror.url, install_root=root[0], link_dir=root[1])}


def whoami_task():
    """What actually ran: ansible-core version, controller Python, and the module's Python."""
    return {'name': 'whoami', 'ansible.builtin.setup': {'gather_subset': ['!all', '!min', 'python']}}


CONTROLLERS = sorted({(c.core, c.controller) for c in CELLS})
MODULES = sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'plugins', 'modules')) if n.endswith('.py')
    and not n.startswith('_'))


def need(controller_minor, target=None, target_minor=None, target_where=None):
    """The controller interpreter, or skip naming every interpreter this machine lacks."""
    controller = pyenv_python(controller_minor)
    wanted = [('controller Python %s (~/.pyenv/versions/%s.*/bin/python%s)' % ((controller_minor,) * 3),
               controller)]
    if target_minor:
        wanted.append(('target Python %s (%s)' % (target_minor, target_where), target))
    missing = [what for what, path in wanted if not path]
    if missing:
        pytest.skip('not on this machine: ' + ', '.join(missing))
    return controller


@pytest.mark.parametrize('core,controller_minor', CONTROLLERS,
                         ids=['core%s-ctl%s' % (core.rsplit('.', 1)[0], py) for core, py in CONTROLLERS])
def test_ansible_doc_reads_every_module(core, controller_minor):
    """Each ansible-core parses the modules' DOCUMENTATION (YAML, doc fragments) as users see it."""
    venv = controller_venv(core, need(controller_minor))
    names = ['pbs.python.' + m for m in MODULES]
    proc = subprocess.run([os.path.join(venv, 'bin', 'ansible-doc'), '-j'] + names, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False,
                          env=dict(os.environ, PATH=os.path.join(venv, 'bin') + os.pathsep + os.environ['PATH']))
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == names
    for name in names:
        assert docs[name]['doc']['module'] == name.rsplit('.', 1)[-1]


@pytest.mark.parametrize('cell', CELLS, ids=[c.id for c in CELLS])
def test_install_and_noop_rerun(cell, tmp_path, host_root, request):
    controller = need(cell.controller, cell.target, cell.target_minor, cell.target_glob)
    mirror = request.getfixturevalue('mirror')  # after the skip: the mirror is built from local interpreters
    assert python_version(cell.target).rsplit('.', 1)[0] == cell.target_minor

    venv = controller_venv(cell.core, controller)
    bindir = os.path.join(venv, 'bin')
    env = {'PATH': bindir + os.pathsep + os.environ.get('PATH', ''),
           'ANSIBLE_COLLECTIONS_PATH': os.environ['ANSIBLE_COLLECTIONS_PATH']}
    assert shutil.which('ansible-playbook', path=env['PATH']) == os.path.join(bindir, 'ansible-playbook')

    def play(tasks):
        return run_playbook(localhost_play(tasks, python=cell.target), str(tmp_path / 'work'), env=env)

    mirror.reset()
    first = play([whoami_task(), pbs_task(mirror, host_root),
                  {'name': 'versions', 'ansible.builtin.debug': {
                      'msg': '{{ ansible_version.full }} {{ ansible_playbook_python }}'}}])
    assert first.rc == 0, first.output
    core, playbook_python = first.result('versions')['msg'].split()
    assert core == cell.core, first.output
    assert playbook_python.startswith(bindir) and python_version(playbook_python).startswith(cell.controller + '.')
    facts = first.result('whoami')['ansible_facts']['ansible_python']
    assert '%d.%d' % (facts['version']['major'], facts['version']['minor']) == cell.target_minor
    assert facts['executable'] == cell.target

    result = first.result('pbs')
    assert result['changed'] and result['version'] == '3.12.1', first.output
    assert result['path'] == os.path.join(host_root[0], ASSET_312)
    assert result['sha256'] == mirror.sums[ASSET_312 + '.tar.gz']
    assert mirror.gets() == ['/20240107/SHA256SUMS', '/20240107/%s.tar.gz' % ASSET_312]
    probe = subprocess.run(
        [result['python'], '-c', 'import ssl, sqlite3, sys; print(sys.prefix, ssl.__file__, sqlite3.__file__)'],
        stdout=subprocess.PIPE, universal_newlines=True, check=True, env={'PATH': '/usr/bin:/bin'})
    assert [p.startswith(result['path']) for p in probe.stdout.split()] == [True, True, True]
    assert os.readlink(os.path.join(host_root[1], 'python3.12')) == result['python']

    # The no-op through the role, run with its install tag alone: its action plugin reads the role's variables
    # with this ansible-core's templar, and the play's module_defaults override them (the install root: the
    # role's default would reinstall).
    def role_play(pins, **keywords):
        role = dict({'role': 'pbs.python.pbs_python', 'vars': {
            'mirror_url': mirror.url, 'pbs_python_mirrors': ['{{ mirror_url }}'], 'pbs_python_link_dir': host_root[1],
            'pbs_python_target': TRIPLE, 'pbs_python_installs': pins}}, **keywords)
        return {'hosts': 'localhost', 'gather_facts': False, 'connection': 'local',
                'vars': {'ansible_python_interpreter': cell.target}, 'roles': [role],
                'module_defaults': {'pbs.python.pbs_python': {'install_root': host_root[0]}}}

    pin = {'version': '3.12', 'build': '20240107', 'variant': 'install_only'}
    mirror.reset()
    second = run_playbook([role_play([pin]), published_play('localhost')], str(tmp_path / 'work'), env=env,
                          extra_args=['--tags', 'pbs_python_install'])
    installed = second.result('pbs.python.pbs_python : Install the pinned builds')
    assert second.rc == 0 and not installed['changed'], second.output
    assert installed['interpreters'] == {'3.12': result['python']}
    assert mirror.requests == []
    # The variables outlive the role's play: set by the install task's action from ansible-core 2.21, by a
    # set_fact task before it (chosen when the role is loaded), under each of the install task's tags.
    assert second.result('published')['msg'] == {'interpreters': {'3.12': result['python']},
                                                 'default_interpreter': ''}  # no pin is the default
    set_facts = [r for r in second.results if r['task'].endswith('Publish the interpreters by minor version')]
    assert len(set_facts) == (0 if tuple(map(int, cell.core.split('.')[:2])) >= (2, 21) else 1), second.output

    # A failed install publishes nothing, on every version, even when the play goes on (ignore_errors):
    # not the interpreters it reached before failing (the 3.12 pin here; no mirror has build 20991231).
    failed = run_playbook([role_play([pin, dict(pin, version='3.11.7', build='20991231')], ignore_errors=True),
                           localhost_play([{'name': 'after', 'ansible.builtin.debug': {
                               'msg': "{{ pbs_python_interpreters | default('unset') }}"}}], python=cell.target)[0]],
                          str(tmp_path / 'work'), env=env)
    assert failed.rc == 0, failed.output
    assert [r['status'] for r in failed.results if r['task'].endswith('Install the pinned builds')] == ['failed']
    assert failed.result('after')['msg'] == 'unset', failed.output


def test_matrix_covers_the_promised_floors():
    """The rows reach the oldest ansible-core and target Python the collection promises."""
    with open(os.path.join(os.path.dirname(__file__), '..', '..', 'meta', 'runtime.yml')) as handle:
        assert "requires_ansible: '>=2.16.0'" in handle.read()
    assert min(tuple(map(int, c.core.split('.')[:2])) for c in CELLS) == (2, 16)
    assert min(tuple(map(int, c.target_minor.split('.'))) for c in CELLS) == (3, 8)
