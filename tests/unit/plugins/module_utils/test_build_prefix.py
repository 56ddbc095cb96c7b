# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for moving PBS's ``/install`` build prefix to the real install directory.

The value cases are uv's own (crates/uv-python/src/sysconfig/mod.rs tests), so both tools patch
alike; the whole-file cases use this machine's real ``_sysconfigdata_`` with its prefix set to
``/install``, which is what a PBS archive ships.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import glob
import os
import sys

import pytest

from ansible_collections.pbs.python.plugins.module_utils._build_prefix import (
    BuildPrefixError, patch_pkgconfig, patch_sysconfigdata, patch_value, relocate,
)

REAL = '/real/prefix'


@pytest.mark.parametrize('key, value, expected', [
    ('BINDIR', '/install/bin', '/real/prefix/bin'),
    ('prefix', '/install', '/real/prefix'),
    ('BINLIBDEST', '/install/lib/python3.10', '/real/prefix/lib/python3.10'),
    ('BLDLIBRARY', '-L. -lpython3.10', '-L. -lpython3.10'),
    ('BUILDPYTHON', 'python.exe', 'python.exe'),
    ('CC', 'clang -pthread', 'cc -pthread'),
    ('CXX', 'clang++ -pthread', 'c++ -pthread'),
    ('AR', '/tools/llvm/bin/llvm-ar', 'ar'),
    ('CC', '/usr/bin/aarch64-linux-gnu-gcc', 'cc'),
    ('CXX', '/usr/bin/x86_64-linux-gnu-g++', 'c++'),
    ('LDSHARED', 'musl-clang -shared -L/install/lib', 'cc -shared -L/real/prefix/lib'),
    ('BLDSHARED', 'clang -bundle -undefined dynamic_lookup -arch arm64 -isysroot /Applications/MacOSX14.2.sdk',
     'cc -bundle -undefined dynamic_lookup -arch arm64'),
    ('CPPFLAGS', '-I. -I/install/include', '-I. -I/real/prefix/include'),
    ('CONFIG_ARGS', "'--prefix=/install' 'CC=clang'", "'--prefix=/install' 'CC=clang'"),  # quoted: not a path word
    ('LIBDIR', '/installer/lib', '/installer/lib'),  # only the /install directory itself
    ('CFLAGS', 'clang  -O3', 'clang  -O3'),  # not a compiler key: untouched, spacing too
    ('OPT', '-DNDEBUG   -g', '-DNDEBUG   -g'),
])
def test_values_are_patched_as_uv_patches_them(key, value, expected):
    assert patch_value(key, value, REAL) == expected


def _pbs_sysconfigdata():
    """This interpreter's real sysconfig data, with its prefix made PBS's ``/install``."""
    base = os.path.realpath(sys.base_prefix)
    found = [p for p in glob.glob(os.path.join(base, 'lib', 'python3*', '_sysconfigdata_*.py')) if not os.path.islink(p)]
    if not found:
        pytest.skip('no _sysconfigdata_ beside %s' % base)
    with open(found[0]) as handle:
        text = handle.read()
    assert base in text
    return text.replace(base, '/install')


def test_real_sysconfigdata_loses_every_install_path_and_keeps_the_rest():
    text = _pbs_sysconfigdata()
    before = ast.literal_eval(text.split('build_time_vars = ', 1)[1])
    patched = patch_sysconfigdata(text, '/opt/pbs/cpython-3.12.1')
    after = ast.literal_eval(patched.split('build_time_vars = ', 1)[1])

    assert set(after) == set(before) | {'PYTHON_BUILD_STANDALONE'} and after['PYTHON_BUILD_STANDALONE'] == 1
    assert after['prefix'] == '/opt/pbs/cpython-3.12.1'
    assert after['INCLUDEPY'].startswith('/opt/pbs/cpython-3.12.1/include/python3.')
    leftover = [k for k, v in after.items() if isinstance(v, str) and any(
        w == '/install' or w.startswith(('/install/', '-I/install', '-L/install')) for w in v.split())]
    assert leftover == []
    assert all(after[k] == v for k, v in before.items() if not isinstance(v, str))
    assert patch_sysconfigdata(patched, '/opt/pbs/cpython-3.12.1') is None  # a second pass changes nothing


@pytest.mark.parametrize('text', [
    "build_time_vars = {'a': 1\n",
    "other = {}\n",
    "build_time_vars = ['not', 'a', 'dict']\n",
    "build_time_vars = {1: 'a'}\n",
    "build_time_vars = {[]: 1}\n",
    "build_time_vars = %s1%s\n" % ('[' * 5000, ']' * 5000),
])
def test_unusable_sysconfigdata_is_refused(text):
    with pytest.raises(BuildPrefixError):
        patch_sysconfigdata(text, REAL)


def test_sysconfigdata_is_read_as_a_literal_and_never_run(tmp_path):
    marker = tmp_path / 'ran'
    text = "build_time_vars = dict(prefix=__import__('os').mkdir(%r) or '/install')\n" % str(marker)
    exec(compile(text, 'probe', 'exec'), {})  # run, it would patch fine: the marker proves it ran
    assert marker.exists()
    marker.rmdir()
    with pytest.raises(BuildPrefixError):
        patch_sysconfigdata(text, REAL)
    assert not marker.exists()


def test_pkgconfig_prefix_becomes_relative_to_the_pc_file():
    text = ('# See: man pkg-config\nprefix=/install\nexec_prefix=${prefix}\nlibdir=${exec_prefix}/lib\n'
            'includedir=${prefix}/include\n\nName: Python\nCflags: -I${includedir}/python3.10\n')
    patched = patch_pkgconfig(text)
    assert patched == text.replace('prefix=/install\n', 'prefix=${pcfiledir}/../..\n')
    assert patch_pkgconfig(patched) is None


def test_relocate_patches_the_tree_and_drops_stale_bytecode(tmp_path):
    lib = tmp_path / 'lib' / 'python3.12'
    (lib / '__pycache__').mkdir(parents=True)
    (lib / '_sysconfigdata__linux_x86_64-linux-gnu.py').write_text(_pbs_sysconfigdata())
    stale = lib / '__pycache__' / '_sysconfigdata__linux_x86_64-linux-gnu.cpython-312.pyc'
    stale.write_bytes(b'old')
    other = lib / '__pycache__' / 'os.cpython-312.pyc'
    other.write_bytes(b'keep')
    (tmp_path / 'lib' / 'pkgconfig').mkdir()
    (tmp_path / 'lib' / 'pkgconfig' / 'python-3.12.pc').write_text('prefix=/install\nName: Python\n')
    os.symlink('python-3.12.pc', str(tmp_path / 'lib' / 'pkgconfig' / 'python3.pc'))

    rewritten, removed = relocate(str(tmp_path), '/opt/x')
    assert sorted(os.path.relpath(p, str(tmp_path)) for p in rewritten) == [
        'lib/pkgconfig/python-3.12.pc', 'lib/python3.12/_sysconfigdata__linux_x86_64-linux-gnu.py']
    assert removed == [str(stale)]
    assert not stale.exists() and other.exists()
    assert (tmp_path / 'lib' / 'pkgconfig' / 'python3.pc').is_symlink()
    assert relocate(str(tmp_path), '/opt/x') == ([], [])


def _pbs_tree(root):
    lib = root / 'lib' / 'python3.12'
    lib.mkdir(parents=True)
    (lib / '_sysconfigdata__linux_x86_64-linux-gnu.py').write_text(_pbs_sysconfigdata())
    return lib


def test_a_root_with_glob_characters_is_relocated(tmp_path):
    tree = tmp_path / 'root[1]*?'
    _pbs_tree(tree)
    rewritten, removed = relocate(str(tree), '/opt/x')
    assert len(rewritten) == 1 and removed == []


def test_files_reached_through_links_out_of_the_tree_are_left_alone(tmp_path):
    outside = _pbs_tree(tmp_path / 'outside')
    before = (outside / '_sysconfigdata__linux_x86_64-linux-gnu.py').read_text()
    tree = tmp_path / 'tree'
    tree.mkdir()
    os.symlink(str(tmp_path / 'outside' / 'lib'), str(tree / 'lib'))  # as a shell tar would unpack it
    assert relocate(str(tree), '/opt/x') == ([], [])
    assert (outside / '_sysconfigdata__linux_x86_64-linux-gnu.py').read_text() == before


def test_a_tree_that_cannot_be_rewritten_is_refused_with_the_reason(tmp_path):
    lib = _pbs_tree(tmp_path)
    (lib / '__pycache__' / '_sysconfigdata__linux_x86_64-linux-gnu.cpython-312.pyc').mkdir(parents=True)
    with pytest.raises(BuildPrefixError, match='cannot rewrite its build paths'):
        relocate(str(tmp_path), '/opt/x')


def test_stale_bytecode_is_reported_as_removed_even_when_the_source_needs_no_change(tmp_path):
    """The installer refreshes its manifest from what relocate reports: a deleted .pyc must be in it."""
    lib = _pbs_tree(tmp_path)
    relocate(str(tmp_path), '/opt/x')  # already patched: the second pass rewrites nothing
    stale = lib / '__pycache__' / '_sysconfigdata__linux_x86_64-linux-gnu.cpython-312.opt-1.pyc'
    stale.parent.mkdir()
    stale.write_bytes(b'old')
    assert relocate(str(tmp_path), '/opt/x') == ([], [str(stale)])
    assert not stale.exists()


def test_bytecode_reached_through_a_linked_out_pycache_is_left_alone(tmp_path):
    """A ``__pycache__`` link to elsewhere (an old bootstrap's shell tar kept it) leads to files that are not ours."""
    lib = _pbs_tree(tmp_path / 'tree')
    victim_dir = tmp_path / 'outside'
    victim_dir.mkdir()
    victim = victim_dir / '_sysconfigdata__linux_x86_64-linux-gnu.cpython-312.pyc'
    victim.write_bytes(b'not ours')
    os.symlink(str(victim_dir), str(lib / '__pycache__'))
    rewritten, removed = relocate(str(tmp_path / 'tree'), '/opt/x')
    assert len(rewritten) == 1 and removed == []
    assert victim.read_bytes() == b'not ours'
