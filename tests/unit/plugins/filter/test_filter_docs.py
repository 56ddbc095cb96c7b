"""Each filter's sidecar doc (plugins/filter/<name>.yml) says what its Python function takes.

A plugin file holds several filters, so their docs live beside it in YAML that nothing executes:
without this check a renamed argument or a changed default leaves ansible-doc and the docs site
describing a filter that no longer exists in that form.
"""

import glob
import importlib
import inspect
import os

import pytest
import yaml

FILTERS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'filter')


def filters():
    found = {}
    for path in sorted(glob.glob(os.path.join(FILTERS, '*.py'))):
        module = importlib.import_module('ansible_collections.pbs.python.plugins.filter.'
                                         + os.path.basename(path)[:-3])
        found.update(module.FilterModule().filters())
    return found


FUNCTIONS = filters()


def sidecar(name):
    with open(os.path.join(FILTERS, name + '.yml')) as handle:
        return yaml.safe_load(handle)


def test_every_filter_has_a_sidecar_and_every_sidecar_a_filter():
    sidecars = set(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(FILTERS, '*.yml')))
    assert sidecars == set(FUNCTIONS)


@pytest.mark.parametrize('name', sorted(FUNCTIONS))
def test_options_are_the_functions_arguments(name):
    doc = sidecar(name)
    assert sorted(doc) == ['DOCUMENTATION', 'EXAMPLES', 'RETURN']
    documentation = doc['DOCUMENTATION']
    assert documentation['name'] == name
    params = list(inspect.signature(FUNCTIONS[name]).parameters.values())
    options = documentation['options']
    assert options['_input']['required'] is True
    assert set(options) - {'_input'} == set(p.name for p in params[1:])
    for param in params[1:]:
        option = options[param.name]
        if param.default is inspect.Parameter.empty:
            assert option.get('required') is True, param.name
        else:
            assert not option.get('required') and option.get('default') == param.default, param.name
    positional = [p.strip() for p in documentation.get('positional', '').split(',') if p.strip()]
    assert positional == [p.name for p in params[1:1 + len(positional)]]
    assert all(param.default is not inspect.Parameter.empty for param in params[1 + len(positional):])


@pytest.mark.parametrize('name', sorted(FUNCTIONS))
def test_examples_are_tasks_that_use_the_filter(name):
    examples = yaml.safe_load(sidecar(name)['EXAMPLES'])
    assert isinstance(examples, list) and all('name' in task for task in examples)
    assert 'pbs.python.%s' % name in sidecar(name)['EXAMPLES']
