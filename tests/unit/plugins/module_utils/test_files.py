# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the umask-independent directory and atomic-write helpers, and the bootstrap's
standalone relocation script that carries them to hosts without Ansible."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.pbs.python.plugins.module_utils._files import file_mode, make_dirs, write_atomic


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_make_dirs_makes_missing_directories_0755_and_leaves_existing_ones(tmp_path, umask_077):
    existing = tmp_path / 'existing'
    existing.mkdir()
    os.chmod(str(existing), 0o700)
    created = make_dirs(str(existing / 'a' / 'b'))
    assert created == [str(existing / 'a'), str(existing / 'a' / 'b')]
    assert mode(str(existing / 'a')) == mode(str(existing / 'a' / 'b')) == 0o755
    assert mode(str(existing)) == 0o700  # not ours to change
    assert make_dirs(str(existing / 'a' / 'b')) == []


def test_make_dirs_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OSError):
        make_dirs(str(tmp_path / 'file' / 'sub'))


@pytest.mark.parametrize('wanted', [0o644, 0o755])
def test_write_atomic_sets_the_mode_whatever_the_umask(tmp_path, umask_077, wanted):
    path = str(tmp_path / 'receipt')
    write_atomic(path, 'old\n')
    write_atomic(path, u'caf\xe9 \udcff\n', wanted)
    with open(path, 'rb') as handle:
        assert handle.read() == b'caf\xc3\xa9 \xff\n'
    assert mode(path) == wanted and os.listdir(str(tmp_path)) == ['receipt']


def test_write_atomic_leaves_the_old_file_when_writing_fails(tmp_path):
    path = str(tmp_path / 'receipt')
    write_atomic(path, b'old\n')
    with pytest.raises(TypeError):
        write_atomic(path, b'new\n', mode='not a mode')
    with open(path, 'rb') as handle:
        assert handle.read() == b'old\n'
    assert os.listdir(str(tmp_path)) == ['receipt']


@pytest.mark.parametrize('archive, wanted', [(0o777, 0o755), (0o4755, 0o755), (0o700, 0o755), (0o666, 0o644),
                                             (0o1600, 0o644), (0o070, 0o644), (0, 0o644)])
def test_file_mode_follows_the_data_filter(archive, wanted):
    assert file_mode(archive) == wanted


def test_relocation_rewrites_with_the_data_filter_modes(tmp_path, umask_077):
    """Files _build_prefix rewrites come out 0644 whatever their old mode and the umask."""
    from ansible_collections.pbs.python.plugins.module_utils._build_prefix import relocate

    data = tmp_path / 'tree' / 'lib' / 'python3.12' / '_sysconfigdata__linux_x86_64-linux-gnu.py'
    data.parent.mkdir(parents=True)
    data.write_text("build_time_vars = {'prefix': '/install', 'CC': 'clang'}\n")
    os.chmod(str(data), 0o4666)
    relocate(str(tmp_path / 'tree'), '/opt/real')
    assert "'prefix': '/opt/real'" in data.read_text() and "'CC': 'cc'" in data.read_text()
    assert mode(str(data)) == 0o644
