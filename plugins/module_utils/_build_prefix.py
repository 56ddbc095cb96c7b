# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point a PBS tree's build-time paths at the directory it really lives in.

PBS builds every interpreter under the prefix ``/install`` and ships that prefix in the
sysconfig data and pkg-config files, so building a C extension against an unpatched interpreter
looks for ``Python.h`` in ``/install/include`` and calls the build machine's ``clang``. uv
rewrites both at install time; this applies uv's rules to the staged tree before it is swapped
in, so an interpreter from this collection builds extensions exactly as one from uv does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import io
import os
import re

from ansible_collections.pbs.python.plugins.module_utils._files import file_mode, write_atomic

BUILD_PREFIX = '/install'
# The build compilers PBS records (clang, or a cross gcc under /usr/bin) mean nothing on a host.
_COMPILER_KEYS = frozenset(['CC', 'CXX', 'BLDSHARED', 'LDSHARED', 'LDCXXSHARED', 'LINKCC'])
_C_COMPILER = re.compile(r'^(?:clang|musl-clang|/usr/bin/[\w.+-]+-gcc)$')
_CXX_COMPILER = re.compile(r'^(?:clang\+\+|/usr/bin/[\w.+-]+-g\+\+)$')
_PREFIXED = re.compile(r'^(-[IL])?%s(?=/|$)' % re.escape(BUILD_PREFIX))
_PKGCONFIG_PREFIX = re.compile(r'^([A-Za-z]+)=%s$' % re.escape(BUILD_PREFIX))
_HEADER = '# system configuration generated and used by the sysconfig module\n'


class BuildPrefixError(Exception):
    """The tree's sysconfig data cannot be read: the interpreter could not build extensions."""


def patch_value(key, value, prefix):
    """One ``build_time_vars`` value with ``/install`` moved to ``prefix`` and the compilers made generic.

    Works word by word, as uv does; a value with nothing to change is returned untouched, spacing
    included.
    """
    if key == 'AR':
        return 'ar'  # PBS records its own llvm-ar
    words = value.split()
    patched, drop_next = [], False
    for word in words:
        if drop_next:  # the SDK path after -isysroot exists only on the build machine
            drop_next = False
            continue
        if word == '-isysroot':
            drop_next = True
            continue
        word = _PREFIXED.sub(lambda match: (match.group(1) or '') + prefix, word)
        if key in _COMPILER_KEYS:
            word = 'cc' if _C_COMPILER.match(word) else 'c++' if _CXX_COMPILER.match(word) else word
        patched.append(word)
    return value if patched == words else ' '.join(patched)


def patch_sysconfigdata(text, prefix):
    """The patched source of a ``_sysconfigdata_*.py``, or None when it needs no change.

    The file is parsed as a literal, never executed: it comes from the archive.
    """
    try:
        tree = ast.parse(text)
        assignment = [node for node in tree.body if isinstance(node, ast.Assign)
                      and [getattr(target, 'id', None) for target in node.targets] == ['build_time_vars']]
        build_vars = ast.literal_eval(assignment[0].value) if assignment else None
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise BuildPrefixError('unreadable sysconfig data (%s)' % (exc or type(exc).__name__))
    if not isinstance(build_vars, dict) or not all(isinstance(key, str) for key in build_vars):
        raise BuildPrefixError('no build_time_vars dictionary of names in the sysconfig data')
    patched = dict((key, patch_value(key, value, prefix) if isinstance(value, str) else value)
                   for key, value in build_vars.items())
    patched['PYTHON_BUILD_STANDALONE'] = 1  # as uv marks it: build tools (maturin, pyo3) look for it
    if patched == build_vars:
        return None
    # Written out by hand: pprint would import dataclasses and inspect (~11 ms) into the module.
    items = ''.join(' %r: %r,\n' % (key, patched[key]) for key in sorted(patched))
    return '%sbuild_time_vars = {\n%s}\n' % (_HEADER, items)


def patch_pkgconfig(text):
    """``prefix=/install`` lines made relative to the .pc file, or None when there are none."""
    lines = text.split('\n')
    patched = [_PKGCONFIG_PREFIX.sub(r'\1=${pcfiledir}/../..', line) for line in lines]
    return None if patched == lines else '\n'.join(patched)


def _rewrite(path, patch, *args):
    with io.open(path, encoding='utf-8', errors='surrogateescape') as handle:
        text = handle.read()
    new = patch(text, *args)
    if new is None:
        return False
    # Atomic: a live install never shows half a file; 0644/0755 whatever the umask or the old mode.
    write_atomic(path, new, file_mode(os.stat(path).st_mode))
    return True


def relocate(tree, prefix):
    """Patch the tree at ``tree`` for its home ``prefix`` (absolute); returns ``(rewritten, removed)``,
    the paths of the files it rewrote and of the stale bytecode it deleted (both only inside the tree).

    Both are reported so that a caller keeping a record of the tree (the installer's manifest) can
    refresh exactly those paths instead of guessing them. Only regular files that really lie inside
    the tree are rewritten, whatever made it (the module's extractor refuses links that leave it; a
    shell ``tar`` in bootstrap does not).
    """
    inside = os.path.realpath(tree) + os.sep
    rewritten, removed = [], []

    def files(*pattern):
        for path in sorted(glob.glob(os.path.join(glob.escape(tree), *pattern))):
            if not os.path.islink(path) and os.path.isfile(path) and os.path.realpath(path).startswith(inside):
                yield path

    try:
        for path in files('lib', 'python3*', '_sysconfigdata_*.py'):
            try:
                if _rewrite(path, patch_sysconfigdata, prefix):
                    rewritten.append(path)
            except BuildPrefixError as exc:
                raise BuildPrefixError('%s: %s' % (os.path.relpath(path, tree), exc))
            stem = glob.escape(os.path.basename(path)[:-len('.py')])
            for stale in glob.glob(os.path.join(glob.escape(os.path.dirname(path)), '__pycache__', stem + '.*.pyc')):
                if (os.path.realpath(os.path.dirname(stale)) + os.sep).startswith(inside):  # not a linked-out __pycache__
                    os.unlink(stale)  # from the unpatched source; an unchecked-hash .pyc would even win over it
                    removed.append(stale)
        for path in files('lib', 'pkgconfig', '*.pc'):
            if _rewrite(path, patch_pkgconfig):
                rewritten.append(path)
    except (IOError, OSError) as exc:
        raise BuildPrefixError('cannot rewrite its build paths (%s)' % exc)
    return rewritten, removed
