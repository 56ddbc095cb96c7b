"""Every role's meta/argument_specs.yml documents exactly its defaults/main.yml, with the same defaults."""

import glob
import os
import re

import pytest
import yaml

ROLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', '*')))


@pytest.mark.parametrize('role', ROLES, ids=[os.path.basename(r) for r in ROLES])
def test_argument_specs_match_defaults(role):
    with open(os.path.join(role, 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle) or {}
    with open(os.path.join(role, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert sorted(options) == sorted(defaults)
    for name, spec in options.items():
        assert spec.get('default') == defaults[name], name
        assert spec.get('description'), name


# -- pbs_python: entry points, URL options and defaults, each defined once -------------------------

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'pbs_python')
CHECKOUT = os.path.join(ROLE, '..', '..')


def _yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def _specs():
    return _yaml(ROLE, 'meta', 'argument_specs.yml')['argument_specs']


def test_every_entry_point_the_collection_uses_or_documents_has_an_argument_spec():
    used = set()
    for path in glob.glob(os.path.join(CHECKOUT, 'playbooks', '*.yml')) + glob.glob(os.path.join(CHECKOUT, '*.md')) \
            + glob.glob(os.path.join(CHECKOUT, 'docs', '*.md')) + glob.glob(os.path.join(ROLE, '*.md')):
        with open(path) as handle:
            used.update(re.findall(r'tasks_from: *([\w.]+)', handle.read()))
    assert used >= {'bootstrap', 'pins'}
    assert used <= set(_specs()), 'entry points without an argument spec: %s' % (used - set(_specs()))
    for name in used:
        assert os.path.exists(os.path.join(ROLE, 'tasks', name + '.yml')), name


def test_other_entry_points_document_the_main_entry_point_options_unchanged():
    specs = _specs()
    for entry, spec in specs.items():
        for name, option in spec['options'].items():
            assert option == specs['main']['options'][name], (entry, name)


def _module_defaults(variables):
    """The role's shared module options for a host with ``variables`` (as the action plugin and the lookup build them)."""
    from ansible_collections.pbs.python.plugins.plugin_utils._role import module_options

    return module_options(variables.get, read_lock=None)


def test_the_role_exposes_every_url_option_of_the_module_with_its_default():
    from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC

    defaults = _yaml(ROLE, 'defaults', 'main.yml')
    given = dict((name, 'given-%s' % name) for name in URL_ARGUMENT_SPEC)  # a value no default has
    rendered = _module_defaults(dict(defaults, **dict(('pbs_python_' + name, value) for name, value in given.items())))
    unset = _module_defaults(defaults)
    for name, spec in URL_ARGUMENT_SPEC.items():
        variable = 'pbs_python_' + name
        for entry in ('main', 'bootstrap'):
            assert variable in _specs()[entry]['options'], (entry, variable)
        assert rendered[name] == given[name], (name, rendered.get(name))
        assert unset.get(name, spec.get('default')) == spec.get('default'), (name, unset.get(name))
        assert defaults[variable] == (spec.get('default') if spec.get('default') is not None
                                      else {} if spec['type'] == 'dict' else ''), variable
        assert bool(_specs()['main']['options'][variable].get('no_log')) == bool(spec.get('no_log')), variable


def test_role_and_module_share_the_pin_constants():
    from ansible_collections.pbs.python.plugins.module_utils._naming import UPSTREAM
    from ansible_collections.pbs.python.plugins.module_utils._pin import (
        DEFAULT_CACHE_DIR, DEFAULT_INSTALL_ROOT, DEFAULT_X86_64_LEVEL, DELIVERIES, OPTIONS, X86_64_LEVELS,
    )

    defaults, options = _yaml(ROLE, 'defaults', 'main.yml'), _specs()['main']['options']
    assert defaults['pbs_python_mirrors'] == [UPSTREAM] == OPTIONS['mirror']['default']
    assert defaults['pbs_python_cache_dir'] == DEFAULT_CACHE_DIR
    assert defaults['pbs_python_install_root'] == DEFAULT_INSTALL_ROOT
    assert defaults['pbs_python_x86_64_level'] == DEFAULT_X86_64_LEVEL
    assert options['pbs_python_x86_64_level']['choices'] == list(X86_64_LEVELS)
    assert options['pbs_python_delivery']['choices'] == list(DELIVERIES)
    assert defaults['pbs_python_delivery'] == OPTIONS['delivery']['default']


@pytest.mark.parametrize('plugin', ['modules/pbs_python.py', 'modules/pbs_python_info.py', 'lookup/lock.py'])
def test_documented_defaults_and_choices_are_the_constants(plugin):
    """ansible-doc shows DOCUMENTATION, the code runs the spec: both from _pin's constants."""
    import importlib

    from ansible_collections.pbs.python.plugins.module_utils._pin import DEFAULT_CACHE_DIR, OPTIONS

    name = 'ansible_collections.pbs.python.plugins.' + plugin[:-3].replace('/', '.')
    documented = yaml.safe_load(importlib.import_module(name).DOCUMENTATION)['options']
    if plugin == 'lookup/lock.py':
        assert documented['mirrors']['default'] == OPTIONS['mirror']['default']
        assert documented['cache_dir']['default'] == DEFAULT_CACHE_DIR
        return
    if plugin == 'modules/pbs_python.py':
        from ansible_collections.pbs.python.plugins.modules.pbs_python import ARGUMENT_SPEC as spec
    else:
        from ansible_collections.pbs.python.plugins.modules.pbs_python_info import ARGUMENT_SPEC as spec

        for option in ('install_root', 'x86_64_level'):  # pbs_python's, shared
            assert spec[option] == OPTIONS[option], option
    for option, doc in documented.items():
        for key in ('default', 'choices'):
            if key in doc or key in spec.get(option, {}):
                assert doc.get(key) == spec[option].get(key), (option, key)


def test_the_shared_mapping_suits_every_member_of_the_action_group():
    """module_defaults of a group reach every member: an option one of them lacks would fail its task."""
    from ansible_collections.pbs.python.plugins.action.pbs_python import ARGUMENT_SPEC as module_spec
    from ansible_collections.pbs.python.plugins.action.pbs_python_bootstrap import ARGUMENT_SPEC as bootstrap_spec

    groups = _yaml(CHECKOUT, 'meta', 'runtime.yml')['action_groups']
    assert groups['pbs_python'] == ['pbs_python', 'pbs_python_bootstrap']
    mapping = _module_defaults(dict(_yaml(ROLE, 'defaults', 'main.yml'), pbs_python_target='x', pbs_python_ca_path='x',
                                    pbs_python_client_cert='x', pbs_python_client_key='x', pbs_python_headers={'x': 'x'},
                                    pbs_python_url_username='x', pbs_python_url_password='x'))  # nothing omitted
    assert len(mapping) == 19
    assert set(mapping) <= set(module_spec) and set(mapping) <= set(bootstrap_spec)
    for name in mapping:
        assert bootstrap_spec[name].get('type') == module_spec[name].get('type'), name
