"""Controller code stands on the pin model, never on the host installer or on another plugin's file.

A filter plugin is loaded by Ansible's plugin loader, not as a library; the installer is the host's
policy. Either import in controller code is how copies of one rule start to drift (issue 11).
"""

import ast
import glob
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..')
CONTROLLER = sorted(path for folder in ('action', 'lookup', 'filter', 'plugin_utils')
                    for path in glob.glob(os.path.join(ROOT, 'plugins', folder, '*.py')))
FORBIDDEN = ('ansible_collections.pbs.python.plugins.module_utils._installer',
             'ansible_collections.pbs.python.plugins.filter')


def imported(path):
    """Every module a file imports, at any depth (function-level imports count too)."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + ['%s.%s' % (node.module, alias.name) for alias in node.names]
    return names


def test_the_scan_sees_controller_files_and_their_imports():
    assert len(CONTROLLER) >= 7
    assert 'ansible_collections.pbs.python.plugins.module_utils._pin' in imported(
        os.path.join(ROOT, 'plugins', 'lookup', 'lock.py'))


@pytest.mark.parametrize('path', CONTROLLER, ids=[os.path.relpath(p, ROOT) for p in CONTROLLER])
def test_no_controller_file_imports_the_installer_or_a_filter(path):
    bad = [name for name in imported(path) if name.startswith(FORBIDDEN)]
    assert not bad, '%s imports %s: import the shared logic from module_utils/_pin.py' % (path, ', '.join(bad))
