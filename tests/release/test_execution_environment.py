"""An execution environment built with this collection gets what its controller side needs.

meta/execution-environment.yml points ansible-builder at meta/ee-requirements.txt and
meta/ee-bindep.txt. They must list the third-party imports of the code that runs on the controller
(none today: httpx is gone), and the build context ansible-builder generates must read them from
the installed tarball: its own introspect script is run here as its Containerfile runs it.
"""

import ast
import glob
import os
import shutil
import sys

import yaml

from release_kit import CHECKOUT, TARBALL, run

CONTROLLER_SIDE = ('action', 'filter', 'lookup', 'plugin_utils', 'module_utils', 'doc_fragments')
EE_DEFINITION = """\
version: 3
images:
  base_image:
    name: quay.io/ansible/awx-ee:latest
dependencies:
  ansible_core:
    package_pip: ansible-core
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: collections/%s
        type: file
additional_build_files:
  - src: %s
    dest: collections
""" % (TARBALL, TARBALL)


def requirement_lines(path):
    with open(path) as handle:
        return [line.split('#')[0].strip() for line in handle if line.split('#')[0].strip()]


def third_party_imports():
    """Top-level modules imported by controller-side code that neither Python nor ansible-core provide."""
    found = set()
    for folder in CONTROLLER_SIDE:
        for path in glob.glob(os.path.join(CHECKOUT, 'plugins', folder, '*.py')):
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split('.')[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split('.')[0])
    return sorted(name for name in found
                  if name not in sys.stdlib_module_names and name not in ('ansible', 'ansible_collections'))


def test_declared_requirements_are_the_controller_sides_imports():
    with open(os.path.join(CHECKOUT, 'meta', 'execution-environment.yml')) as handle:
        meta = yaml.safe_load(handle)
    assert meta['version'] == 1
    python = requirement_lines(os.path.join(CHECKOUT, meta['dependencies']['python']))
    assert [line.split('>')[0].split('=')[0].split('<')[0].strip() for line in python] == third_party_imports()
    assert requirement_lines(os.path.join(CHECKOUT, meta['dependencies']['system'])) == []


def introspect(script, collections, tmp_path):
    pip, bindep = tmp_path / 'requirements.txt', tmp_path / 'bindep.txt'
    proc = run([sys.executable, script, 'introspect', '--write-pip', str(pip), '--write-bindep', str(bindep),
                collections])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout)
    return data, (pip.read_text() if pip.exists() else ''), (bindep.read_text() if bindep.exists() else '')


def test_ansible_builder_context_carries_the_collection_and_reads_its_requirements(release, tmp_path):
    work = tmp_path / 'ee'
    work.mkdir()
    shutil.copy(str(release['tarball']), str(work / TARBALL))
    (work / 'execution-environment.yml').write_text(EE_DEFINITION)
    proc = run(['ansible-builder', 'create', '-f', 'execution-environment.yml', '-c', 'context'], cwd=str(work))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    context = work / 'context'
    containerfile = next(p for p in (context / 'Containerfile', context / 'Dockerfile') if p.exists()).read_text()
    assert 'introspect' in containerfile and 'requirements.yml' in containerfile
    assert (context / '_build' / 'collections' / TARBALL).is_file()
    with open(str(context / '_build' / 'requirements.yml')) as handle:
        assert yaml.safe_load(handle)['collections'] == [{'name': 'collections/' + TARBALL, 'type': 'file'}]

    # The image's galaxy stage: install the context's tarball; its builder stage: introspect it.
    colls = tmp_path / 'usr-share-ansible-collections'
    installed = run(['ansible-galaxy', 'collection', 'install', '--offline', '--force', '-p', str(colls),
                     str(context / '_build' / 'collections' / TARBALL)], env=release['env'])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = str(context / '_build' / 'scripts' / 'introspect.py')
    data, pip, bindep = introspect(script, str(colls), tmp_path)
    assert data == {'python': [], 'system': []} or data == {'python': {}, 'system': {}}, data
    assert pip == '' and bindep == ''

    # The script reads the collection's declared files (not a default): a requirement added there shows.
    root = colls / 'ansible_collections' / 'pbs' / 'python'
    with open(str(root / 'meta' / 'ee-requirements.txt'), 'a') as handle:
        handle.write('probe-package>=1\n')
    with open(str(root / 'meta' / 'ee-bindep.txt'), 'a') as handle:
        handle.write('probe-system-package [platform:rpm]\n')
    (tmp_path / 'probe').mkdir()
    data, pip, bindep = introspect(script, str(colls), tmp_path / 'probe')
    assert 'probe-package>=1' in pip and 'pbs.python' in pip, pip
    assert 'probe-system-package' in bindep and 'pbs.python' in bindep, bindep
