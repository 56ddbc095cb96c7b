"""Issue 10: a pin has one spelling, refused before any download; the role's check mode predicts every pin form.

Both run real ``ansible-playbook`` processes on localhost against the loopback mirror, whose request
log shows that nothing was asked for.
"""

import os

import pytest
import yaml

from pbs_fixtures import HOST_TRIPLE
from playbook import localhost_play, published_play, run_playbook

# One pin of each form: X.Y, X.Y.Z, a pre-release, a free-threaded X.Y. None is installed yet.
PINS = [
    {'version': '3.12', 'build': '20240107', 'variant': 'install_only', 'default': True},
    {'version': '3.13.0', 'build': '20241016'},
    {'version': '3.15.0rc1', 'build': '20260814'},
    {'version': '3.14', 'build': '20260814', 'freethreaded': True},
]


def role_result(run, task):
    """The result of the role's task ``task`` (Ansible prefixes role tasks with the role's name)."""
    found = [r['result'] for r in run.results if r['task'].split(' : ')[-1] == task]
    assert len(found) == 1, (task, [r['task'] for r in run.results])
    return found[0]


def inventory(tmp_path, **group_vars):
    host = dict({'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3'}, **group_vars)
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump({'all': {'hosts': {'box': host}}}))
    return str(path)


@pytest.mark.parametrize('delivery', ['host', 'controller'])
def test_role_check_mode_predicts_every_pin_form(tmp_path, mirror, delivery):
    root, links, cache = tmp_path / 'pbs', tmp_path / 'bin', tmp_path / 'cache'
    inv = inventory(tmp_path, pbs_python_installs=PINS, pbs_python_mirrors=[mirror.url], pbs_python_install_root=str(root),
                    pbs_python_link_dir=str(links), pbs_python_target=HOST_TRIPLE, pbs_python_delivery=delivery,
                    pbs_python_cache_dir=str(cache))
    mirror.reset()
    run = run_playbook([{'hosts': 'all', 'gather_facts': False, 'roles': ['pbs.python.pbs_python']}, published_play()],
                       str(tmp_path / 'work'), inventory=inv, check=True, diff=True)
    assert run.rc == 0, run.output[-4000:]

    installs = role_result(run, 'Install the pinned builds')['results']
    assert [r['version'] for r in installs] == ['3.12.*', '3.13.0', '3.14.*', '3.15.0rc1']  # merge_pins sorts
    assert all(r['changed'] for r in installs)
    published = run.result('published')['msg']
    expected = {'3.12': 'python3.12', '3.13': 'python3.13', '3.14t': 'python3.14t', '3.15': 'python3.15'}
    assert sorted(published['interpreters']) == sorted(expected)
    for minor, name in expected.items():
        assert os.path.basename(published['interpreters'][minor]) == name
        assert published['interpreters'][minor].startswith(str(root) + '/cpython-%s' % minor.rstrip('t'))
    assert published['default_interpreter'] == published['interpreters']['3.12']
    # Predicted, not done: no request, nothing on disk, nothing cached.
    assert mirror.requests == []
    assert not root.exists() and not links.exists() and not cache.exists()


@pytest.mark.parametrize('delivery', ['host', 'controller'])
def test_a_version_with_whitespace_is_refused_before_any_download(tmp_path, mirror, delivery):
    root, cache = tmp_path / 'pbs', tmp_path / 'cache'
    versions = ['3.12.1\n', ' 3.12.1', '3.12\n']
    tasks = [{'name': 'version %r' % version, 'ignore_errors': True,
              'pbs.python.pbs_python': {'version': version, 'build': '20240107', 'variant': 'install_only',
                                        'mirror': [mirror.url], 'install_root': str(root), 'target': HOST_TRIPLE,
                                        'delivery': delivery, 'cache_dir': str(cache)}}
             for version in versions]
    tasks.append({'name': 'pin with a newline', 'ignore_errors': True, 'ansible.builtin.set_fact': {
        'merged': "{{ {'pbs_python_installs__web': pins} | pbs.python.merge_pins }}"}})
    play = localhost_play(tasks)
    play[0]['vars']['pins'] = [{'version': '3.12\n', 'build': '20240107'}]
    mirror.reset()
    run = run_playbook(play, str(tmp_path / 'work'))
    assert run.rc == 0, run.output[-4000:]
    status = dict((r['task'], r['status']) for r in run.results)
    for version in versions:
        result = run.result('version %r' % version)
        assert status['version %r' % version] == 'failed' and 'surrounding whitespace' in result['msg'], result
        assert "write it as '%s'" % version.strip() in result['msg']
    refused = run.result('pin with a newline')
    assert status['pin with a newline'] == 'failed', refused
    assert "pbs_python_installs__web: version '3.12\\n' has surrounding whitespace" in refused['msg'], refused['msg']
    assert mirror.requests == []
    assert not root.exists() and not cache.exists()
