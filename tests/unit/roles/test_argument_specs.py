"""Every role's meta/argument_specs.yml documents exactly its defaults/main.yml, with the same defaults."""

import glob
import os

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
