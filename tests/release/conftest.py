"""The collection as a user gets it: built with ansible-galaxy from a copy of the checkout (with a
developer's caches planted in it), installed from the tarball into an empty collections path.

The copy holds what git would commit (tracked and new, not ignored files), so a developer's
untracked junk does not decide the result, and the planted caches check that build_ignore keeps a
checkout's caches out whatever lies there.
"""

import os
import shutil

import pytest
import yaml

from release_kit import CHECKOUT, GALAXY, PLANTED, STAND_IN_REPOSITORY, TARBALL, committable_files, run


@pytest.fixture(scope='session')
def source_files():
    return committable_files()


@pytest.fixture(scope='session')
def release(tmp_path_factory, source_files):
    """Paths of the copy, the tarball and the installed collection, with the env that sees only it."""
    base = tmp_path_factory.mktemp('release')
    src = base / 'src'
    for path in source_files:
        os.makedirs(os.path.dirname(str(src / path)), exist_ok=True)
        shutil.copy2(os.path.join(CHECKOUT, path), str(src / path))
    for path in PLANTED:
        os.makedirs(os.path.dirname(str(src / path)) or str(src), exist_ok=True)
        (src / path).write_text('planted by tests/release: must not be in the tarball\n')
    if not GALAXY.get('repository'):
        galaxy = dict(GALAXY, repository=STAND_IN_REPOSITORY)
        (src / 'galaxy.yml').write_text(yaml.safe_dump(galaxy, sort_keys=False))

    env = dict(os.environ)
    colls = base / 'collections'
    colls.mkdir()
    env.update(ANSIBLE_COLLECTIONS_PATH=str(colls), ANSIBLE_LOCAL_TEMP=str(base / 'ansible-tmp'),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    dist = base / 'dist'
    built = run(['ansible-galaxy', 'collection', 'build', '--output-path', str(dist), str(src)], env=env, cwd=str(base))
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = dist / TARBALL
    installed = run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', str(colls), str(tarball)],
                    env=env, cwd=str(base))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    root = colls / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    assert (root / 'MANIFEST.json').is_file(), installed.stdout
    return dict(base=base, src=src, tarball=tarball, root=root, env=env)
