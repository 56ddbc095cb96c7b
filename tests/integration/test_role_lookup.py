"""The pbs.python.role lookup: the role's mapping of its variables, through ansible-playbook (templated values too)."""

import yaml

from playbook import localhost_play, run_playbook

ASSET = 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'


def test_pins_and_options_as_the_role_reads_them(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    # Relative to the playbook, as lookup('file') and the role's install task find it.
    (work / 'site.lock.yml').write_text(yaml.safe_dump({'lock_version': 1, 'assets': [
        {'asset': ASSET, 'sha256': 'a' * 64}]}))
    play = localhost_play([
        {'name': 'pins', 'ansible.builtin.set_fact': {'pins': "{{ lookup('pbs.python.role', 'pins') }}"}},
        {'name': 'options', 'ansible.builtin.set_fact': {'options': "{{ lookup('pbs.python.role', 'options') }}"}},
        {'name': 'unlocked', 'ansible.builtin.set_fact': {
            'options': "{{ lookup('pbs.python.role', 'options', lock=false) }}"}},
        {'name': 'wrong', 'ansible.builtin.debug': {'msg': "{{ lookup('pbs.python.role', 'pin') }}"},
         'ignore_errors': True},
        {'name': 'missing', 'ansible.builtin.debug': {'msg': "{{ lookup('pbs.python.role', 'options') }}"},
         'vars': {'pbs_python_lock_file': 'absent.lock.yml'}, 'ignore_errors': True},
    ])
    play[0]['vars'] = {
        'pbs_python_installs__web': [{'version': '3.12', 'build': '20240107', 'default': True}],
        'pbs_python_installs__batch': [{'version': '3.11.7', 'build': '20240107'}],
        'mirror_host': 'pbs.internal', 'pbs_python_mirrors': ['https://{{ mirror_host }}/pbs'],
        'pbs_python_lock_file': 'site.lock.yml', 'pbs_python_install_root': '/opt/pbs',
        'pbs_python_target': '', 'pbs_python_timeout': 10,
    }
    run = run_playbook(play, str(work))
    assert run.rc == 0, run.output
    pins = run.result('pins')['ansible_facts']['pins']
    assert [(p['version'], p['default'], p['sources']) for p in pins] == [
        ('3.11.7', False, ['pbs_python_installs__batch']), ('3.12', True, ['pbs_python_installs__web'])]
    options = run.result('options')['ansible_facts']['options']
    assert options == {'mirror': ['https://pbs.internal/pbs'], 'install_root': '/opt/pbs', 'timeout': 10,
                       'checksums': {ASSET: 'a' * 64}, 'strict_checksums': True}
    unlocked = run.result('unlocked')['ansible_facts']['options']
    assert unlocked['checksums'] == {} and unlocked['strict_checksums'] is False
    assert "'pin' is neither pins nor options" in run.result('wrong')['msg']
    assert 'pbs_python_lock_file' in run.result('missing')['msg'] and 'absent.lock.yml' in run.result('missing')['msg']
