# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SOURCE_DATE_EPOCH: image builds from the same pins write the same receipt bytes and mtimes.

Golden images (docs/golden-images.md) are compared byte for byte, mtimes included; the receipt's
``installed_at`` and the mtimes of the files the module writes would otherwise differ between builds. Real installs from a real archive (tiny_archives)
through the installer; only the transport is replaced by a file:// URL (``src``).
"""

import hashlib
import os
import subprocess

import pytest

from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.module_utils._installer import Installer
from ansible_collections.pbs.python.plugins.module_utils._pin import InstallError, Pin

import tiny_archives

TARGET = 'x86_64-unknown-linux-gnu'
BUILD = '20260814'
ARCHIVE = tiny_archives.interpreter_archive('3.12.14', marker='good')
NAME = 'cpython-3.12.14+%s-%s-install_only_stripped' % (BUILD, TARGET)


def run(argv):
    env = dict(os.environ, PYTHONHOME='', PYTHONPATH='')
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False)
    return proc.returncode, proc.stdout, proc.stderr


def install(tmp_path, where):
    src = tmp_path / (NAME + '.tar.gz')
    src.write_bytes(ARCHIVE)
    request = Pin('3.12.14', BUILD, src=str(src), sha256=hashlib.sha256(ARCHIVE).hexdigest())
    request.check(TARGET)
    root = str(tmp_path / where)
    Installer(root=root, target=TARGET, link_dir=None, fetcher=Fetcher({}, timeout=1, retries=0),
              check_mode=False, run=run).present(request)
    with open(os.path.join(root, NAME, 'PBS_RECEIPT.json'), 'rb') as handle:
        return handle.read()


def mtimes(tmp_path, where):
    return [int(os.stat(str(tmp_path / where / NAME / name)).st_mtime) for name in ('PBS_RECEIPT.json', 'BUILD')]


def test_source_date_epoch_is_the_install_time_and_two_installs_write_the_same_receipt(tmp_path, monkeypatch):
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1704067200')
    first = install(tmp_path, 'a')
    second = install(tmp_path, 'b')
    assert b'"installed_at": "2024-01-01T00:00:00Z"' in first
    assert first == second
    assert mtimes(tmp_path, 'a') == mtimes(tmp_path, 'b') == [1704067200, 1704067200]


def test_without_it_the_install_time_is_now(tmp_path, monkeypatch):
    monkeypatch.delenv('SOURCE_DATE_EPOCH', raising=False)
    assert b'"installed_at": "2024-01-01T00:00:00Z"' not in install(tmp_path, 'a')
    assert min(mtimes(tmp_path, 'a')) > 1704067200


@pytest.mark.parametrize('value', ['', 'yesterday', '-1', '1.5'])
def test_a_malformed_value_is_refused_before_anything_is_installed(tmp_path, monkeypatch, value):
    monkeypatch.setenv('SOURCE_DATE_EPOCH', value)
    with pytest.raises(InstallError, match='SOURCE_DATE_EPOCH'):
        install(tmp_path, 'a')
    assert not os.path.exists(str(tmp_path / 'a' / NAME))
