"""The pbs_python role's variables as module arguments (plugin_utils/_role.py), on the role's own defaults."""

import os
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pbs.python.plugins.action.pbs_python import ARGUMENT_SPEC, RULES
from ansible_collections.pbs.python.plugins.module_utils._pin import PinError
from ansible_collections.pbs.python.plugins.plugin_utils._role import install_arguments, module_options

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'pbs_python')
LOCK = {'lock_version': 1, 'assets': [
    {'asset': 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz', 'sha256': 'a' * 64,
     'pin': '3.12.1+20240107', 'target': 'x86_64-unknown-linux-gnu'}]}


def _load(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def host(**variables):
    """A host's variables: the role's defaults, then ``variables`` (inventory), plus an unrelated one."""
    return dict(_load('defaults', 'main.yml'), ansible_host='10.0.0.1', **variables)


def arguments(variables, locks=None):
    return install_arguments(list(variables), variables.get, (locks or {}).__getitem__)


WEB = [{'version': '3.12.1', 'build': '20240107', 'default': True}]
BATCH = [{'version': '3.11.7', 'build': '20240107'}, {'version': '3.12.1', 'build': '20240107'}]


def test_defaults_give_the_modules_defaults_and_no_pin():
    assert arguments(host()) == {
        'install_root': '/opt/pbs-python', 'cache_dir': '~/.cache/pbs-python/downloads', 'x86_64_level': 'baseline',
        'validate_certs': True, 'force_basic_auth': False, 'use_proxy': True, 'use_netrc': True, 'timeout': 30,
        'retries': 3, 'mirror': ['https://github.com/astral-sh/python-build-standalone/releases/download'],
        'checksums': {}, 'strict_checksums': False, 'prune': False, 'externally_managed': False, 'repair': False,
        'verify': False, 'delivery': 'host', 'link_dir': '/usr/local/bin', 'pins': []}


def test_pins_of_every_group_variable_are_merged_without_their_sources():
    args = arguments(host(pbs_python_installs__web=WEB, pbs_python_installs__batch=BATCH,
                          pbs_python_installs_extra=[{'version': '3.9.18', 'build': '20240224'}]))  # not a pin variable
    assert args['pins'] == [
        {'version': '3.11.7', 'build': '20240107', 'variant': 'install_only_stripped', 'freethreaded': False, 'default': False,
         'link': True},
        {'version': '3.12.1', 'build': '20240107', 'variant': 'install_only_stripped', 'freethreaded': False, 'default': True,
         'link': True}]


def test_conflicting_claims_name_both_variables():
    with pytest.raises(PinError, match='claim the default python3 link') as raised:
        arguments(host(pbs_python_installs__a=WEB, pbs_python_installs__b=[dict(WEB[0], version='3.11.7')]))
    assert '(pbs_python_installs__a)' in str(raised.value) and '(pbs_python_installs__b)' in str(raised.value)


def test_empty_values_leave_the_option_to_the_module_and_set_ones_reach_it():
    unset = arguments(host(pbs_python_link_dir=''))
    for name in ('target', 'ca_path', 'client_cert', 'client_key', 'headers', 'url_username', 'url_password',
                 'link_dir', 'take_over_links'):
        assert name not in unset, name
    given = arguments(host(pbs_python_target='aarch64-unknown-linux-gnu', pbs_python_headers={'X-Token': 't'},
                           pbs_python_url_password='secret', pbs_python_take_over_links=True,
                           pbs_python_mirrors=['https://pbs.internal/pbs'], pbs_python_prune=True))
    assert given['target'] == 'aarch64-unknown-linux-gnu' and given['headers'] == {'X-Token': 't'}
    assert given['url_password'] == 'secret' and given['take_over_links'] is True and given['prune'] is True
    assert given['mirror'] == ['https://pbs.internal/pbs']


def test_a_lock_file_adds_its_digests_to_the_checksums_and_makes_them_strict():
    args = arguments(host(pbs_python_lock_file='site.lock.yml', pbs_python_checksums={'other.tar.gz': 'b' * 64}),
                     locks={'site.lock.yml': LOCK})
    assert args['checksums'] == {'other.tar.gz': 'b' * 64, LOCK['assets'][0]['asset']: 'a' * 64}
    assert args['strict_checksums'] is True
    assert module_options(host(pbs_python_strict_checksums='yes').get, None)['strict_checksums'] is True
    unread = module_options(host(pbs_python_lock_file='site.lock.yml').get, None)  # the lock playbook writes it
    assert unread['checksums'] == {} and unread['strict_checksums'] is False


def test_a_strict_checksums_that_is_no_boolean_is_refused_not_taken_as_false():
    with pytest.raises(PinError, match='pbs_python_strict_checksums'):
        module_options(host(pbs_python_strict_checksums='enabled').get, None)


@pytest.mark.parametrize('content', [None, 'text', {'assets': [{'asset': 'x'}]}, {'lock_version': 1}])
def test_a_file_that_is_no_lock_file_is_refused_with_the_fix(content):
    with pytest.raises(PinError, match='pbs_python_lock_file bad.yml is not a pbs.python lock file.*pbs.python.lock '
                                       'playbook'):
        arguments(host(pbs_python_lock_file='bad.yml'), locks={'bad.yml': content})


def test_the_arguments_are_valid_for_the_module_with_every_option_set():
    args = arguments(host(pbs_python_installs=WEB, pbs_python_target='x86_64-unknown-linux-gnu', pbs_python_ca_path='/ca',
                          pbs_python_client_cert='/c', pbs_python_client_key='/k', pbs_python_headers={'a': 'b'},
                          pbs_python_url_username='u', pbs_python_url_password='p', pbs_python_take_over_links=True))
    result = ArgumentSpecValidator(ARGUMENT_SPEC, **RULES).validate(args)
    assert not result.error_messages


def test_every_documented_role_variable_reaches_the_module_or_its_task():
    """A variable in the role's argument spec that no code reads would be silently ignored."""
    read = set()
    variables = host(pbs_python_installs=WEB, pbs_python_lock_file='l.yml')

    def value(name):
        read.add(name)
        return variables.get(name)

    install_arguments(list(variables), value, {'l.yml': LOCK}.__getitem__)
    documented = set(_load('meta', 'argument_specs.yml')['argument_specs']['main']['options'])
    with open(os.path.join(ROLE, 'tasks', '_install.yml')) as handle:
        templates = ' '.join(re.findall(r'{{(.*?)}}', handle.read()))
    in_the_task = set(name for name in documented if re.search(r'\b%s\b' % name, templates))
    assert documented - read - in_the_task == set()
    assert in_the_task == {'pbs_python_proxy_env'}  # the task's environment: a task keyword, not an option
