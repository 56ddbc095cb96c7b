"""Publishable as is: the tarball holds exactly what users need, every plugin and role entry point is
documented from the installed copy, galaxy-importer accepts it with Automation Hub's stricter
settings, and ansible-lint's production profile passes on the collection root.

galaxy-importer runs offline: its ansible-test step (a container pull) is off, and so is the 1.0.0
version requirement (this is 0.x); everything else Automation Hub checks is on.
"""

import glob
import json
import os
import sys
import tarfile

import pytest
import yaml

from release_kit import CHECKOUT, GALAXY, PLANTED, STAND_IN_REPOSITORY, run

FQ = '%s.%s' % (GALAXY['namespace'], GALAXY['name'])
# What users run and read. Everything else in the checkout is developer tooling or tests.
SHIPPED_DIRS = ('docs/', 'examples/', 'meta/', 'playbooks/', 'plugins/', 'roles/')
SHIPPED_FILES = ('README.md', 'CONTRIBUTING.md', 'COPYING', 'CHANGELOG.md', 'changelogs/changelog.yaml',
                 'changelogs/config.yaml', 'tests/config.yml')
GENERATED = ('MANIFEST.json', 'FILES.json')
# ansible-core 2.21's own bundled collection has no metadata; it says so on every listing.
CORE_NOISE = ('_protomatter',)
# Lines galaxy-importer prints when it cannot reach the network; none so far (see the module docstring).
OFFLINE_NOISE = ()


def shipped(path):
    return path.startswith(SHIPPED_DIRS) or path in SHIPPED_FILES


def tarball_files(tarball):
    with tarfile.open(str(tarball)) as archive:
        return sorted(m.name for m in archive.getmembers() if m.isfile())


def test_tarball_holds_exactly_what_users_need(release, source_files):
    files = tarball_files(release['tarball'])
    expected = sorted(p for p in source_files if shipped(p)) + list(GENERATED)
    assert sorted(files) == sorted(expected)
    for path in PLANTED:
        assert path not in files
    assert not [p for p in files if '/.' in '/' + p or '__pycache__' in p or p.endswith('.pyc')]


def test_nothing_shipped_refers_to_what_is_left_out(release):
    """A user's copy has no tools/, bench/ or Makefile: no shipped playbook or role may call them."""
    for path in glob.glob(str(release['root'] / '**' / '*.yml'), recursive=True):
        with open(path) as handle:
            text = handle.read()
        for left_out in ('tools/dev', 'tools/bootstrap', 'bench/', 'make test'):
            assert left_out not in text, (path, left_out)


def ansible_doc(release, *args):
    proc = run(['ansible-doc', '-j'] + list(args), env=release['env'], cwd=str(release['base']))
    noise = [line for line in proc.stderr.splitlines()
             if line.strip() and not any(n in line for n in CORE_NOISE)]
    assert proc.returncode == 0 and not noise, proc.stderr
    return json.loads(proc.stdout)


def expected_plugins():
    def names(folder, ext):
        paths = glob.glob(os.path.join(CHECKOUT, 'plugins', folder, '*' + ext))
        return sorted(os.path.basename(p)[:-len(ext)] for p in paths if not os.path.basename(p).startswith('_'))
    return {'module': names('modules', '.py'), 'lookup': names('lookup', '.py'), 'filter': names('filter', '.yml')}


@pytest.mark.parametrize('kind', ['module', 'lookup', 'filter'])
def test_ansible_doc_documents_every_plugin_of_the_installed_copy(release, kind):
    expected = expected_plugins()[kind]
    assert expected
    listed = ansible_doc(release, '-t', kind, '-l', FQ)
    assert sorted(listed) == ['%s.%s' % (FQ, name) for name in expected]
    docs = ansible_doc(release, '-t', kind, *sorted(listed))
    for name in sorted(listed):
        doc = docs[name]['doc']
        assert doc['short_description'] and doc['description'], name
        assert docs[name]['examples'], name
        assert docs[name]['return'], name
        assert doc['filename'].startswith(str(release['root']) + os.sep), doc['filename']


def role_entry_points():
    found = {}
    for path in sorted(glob.glob(os.path.join(CHECKOUT, 'roles', '*', 'meta', 'argument_specs.yml'))):
        with open(path) as handle:
            found[path.split(os.sep)[-3]] = sorted(yaml.safe_load(handle)['argument_specs'])
    return found


@pytest.mark.parametrize('role', sorted(role_entry_points()))
def test_ansible_doc_documents_every_role_entry_point_of_the_installed_copy(release, role):
    listed = ansible_doc(release, '-t', 'role', '-l', FQ)
    assert sorted(listed) == ['%s.%s' % (FQ, r) for r in sorted(role_entry_points())]
    for entry in role_entry_points()[role]:
        doc = ansible_doc(release, '-t', 'role', '-e', entry, '%s.%s' % (FQ, role))['%s.%s' % (FQ, role)]
        assert doc['path'] == str(release['root']), doc['path']
        spec = doc['entry_points'][entry]
        assert spec['short_description'] and spec.get('options'), (role, entry)


def test_galaxy_importer_accepts_it_with_automation_hub_settings(release, tmp_path):
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    config = tmp_path / 'galaxy-importer.cfg'
    config.write_text('\n'.join([
        '[galaxy-importer]',
        'check_required_tags = True',
        'check_changelog = True',
        'run_ansible_doc = True',
        'run_ansible_lint = True',
        'offline_ansible_lint = True',
        'run_ansible_test = False',        # pulls a container image: not offline
        'require_v1_or_greater = False',   # 0.x
        'tmp_root_dir = %s' % tmp,
        'ansible_local_tmp = %s' % (tmp / 'ansible'),
    ]) + '\n')
    env = dict(release['env'], GALAXY_IMPORTER_CONFIG=str(config))
    env.pop('ANSIBLE_COLLECTIONS_PATH')
    proc = run([sys.executable, '-m', 'galaxy_importer.main', str(release['tarball'])], env=env, cwd=str(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert 'Importer processing completed successfully' in output, output
    complaints = [line for line in output.splitlines()
                  if any(w in line for w in ('WARNING', 'ERROR', 'Error', 'Traceback', 'Missing documentation'))
                  and not any(n in line for n in OFFLINE_NOISE)]
    assert not complaints, output
    with open(str(tmp_path / 'importer_result.json')) as handle:
        result = json.load(handle)
    documented = dict((c['content_name'], c) for c in result['docs_blob']['contents']
                      if c['content_type'] in ('module', 'lookup', 'filter'))
    for kind, names in expected_plugins().items():
        for name in names:
            assert documented[name]['doc_strings'], (kind, name)
    assert result['metadata']['tags'] and 'tools' in result['metadata']['tags']


def test_ansible_lint_production_profile_on_the_collection_root():
    proc = run(['ansible-lint', '--profile', 'production', '--nocolor'], cwd=CHECKOUT, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    if GALAXY.get('repository'):
        assert "Profile 'production' was required, and it passed" in output, output[-3000:]
    else:
        # The one finding allowed while the project has no public home (warn_list in .ansible-lint).
        assert 'galaxy[no-repository]' in output and 'Passed: 0 failure(s), 1 warning(s)' in output, output[-6000:]


@pytest.mark.xfail(strict=True, reason='galaxy.yml names no repository until the project has a public home; '
                   'galaxy-importer requires one (the release test imports a copy with %s)' % STAND_IN_REPOSITORY)
def test_galaxy_yml_names_a_repository():
    assert GALAXY.get('repository') and '.invalid' not in GALAXY['repository'] and 'example' not in GALAXY['repository']


def test_demo_playbook_runs_from_the_installed_copy(release):
    """`make demo`'s playbook (install, then a no-op with no request) with only the installed tarball
    on the collections path: a file the tarball lacks would fail here, not in the checkout."""
    proc = run([sys.executable, os.path.join(CHECKOUT, 'tools', 'demo.py')], env=release['env'],
               cwd=str(release['base']))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert output.count('failed=0') == 2 and 'changed=1' in output, output[-6000:]
    assert output.rstrip().count('mirror requests during this run: none') == 1, output[-6000:]


def test_antsibull_docs_lint_passes_on_every_plugin():
    """The check the docs site and Galaxy rely on: every plugin's documentation validates."""
    proc = run(['antsibull-docs', 'lint-collection-docs', '--plugin-docs', '.'], cwd=CHECKOUT)
    output = '\n'.join(line for line in (proc.stdout + proc.stderr).splitlines() if '_protomatter' not in line)
    assert proc.returncode == 0 and not output.strip(), output


def test_changelog_fragments_and_changelog_are_valid():
    for args in (['antsibull-changelog', 'lint'],
                 ['antsibull-changelog', 'lint-changelog-yaml', '--strict', 'changelogs/changelog.yaml']):
        proc = run(args, cwd=CHECKOUT)
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (args, proc.stdout + proc.stderr)
    with open(os.path.join(CHECKOUT, 'changelogs', 'changelog.yaml')) as handle:
        releases = yaml.safe_load(handle)['releases']
    assert GALAXY['version'] in releases, 'galaxy.yml version %s has no release in the changelog' % GALAXY['version']
