# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests of the SHA256SUMS parser: a mirror may send any text as SHA256SUMS.

Whatever it sends, the parser returns a mapping of names to lowercase digests or raises
ValueError (which the installer turns into a failover to the next mirror); and every file a
coreutils-style tool could write parses back to exactly what it lists.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums

SETTINGS = settings(max_examples=200, deadline=None, database=None)
HEX = st.text('0123456789abcdefABCDEF', min_size=64, max_size=64)
# str.splitlines splits on these too; a name cannot hold them, nor start with white space.
LINE_BREAKS = '\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'
NAMES = st.text(st.characters(blacklist_characters=LINE_BREAKS, blacklist_categories=('Cs',)), min_size=1,
                max_size=80).filter(lambda name: not name[0].isspace())
LINES = st.one_of(
    st.tuples(HEX, st.sampled_from(['  ', ' *']), NAMES).map(''.join),
    st.text(max_size=120),
    st.just(''),
    st.sampled_from(['<!DOCTYPE html>', '{"message": "Not Found"}', '0' * 63 + '  x', 'g' * 64 + '  x']),
)


@SETTINGS
@given(text=st.one_of(st.text(max_size=2000), st.lists(LINES, max_size=12).map('\n'.join)))
def test_any_text_gives_digests_or_a_value_error(text):
    try:
        sums = parse_sha256sums(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert sums and all(re.match('^[0-9a-f]{64}$', digest) for digest in sums.values())
    assert all(name and not name[0].isspace() for name in sums)


@SETTINGS
@given(listed=st.dictionaries(NAMES, HEX, min_size=1, max_size=20), binary=st.booleans(), crlf=st.booleans(),
       repeat=st.booleans())
def test_files_written_by_sha256sum_parse_back(listed, binary, crlf, repeat):
    names = sorted(listed) * (2 if repeat else 1)  # the same name twice with the same digest is fine
    text = ''.join('%s%s%s%s' % (listed[name], ' *' if binary else '  ', name, '\r\n' if crlf else '\n')
                   for name in names)
    assert parse_sha256sums(text) == dict((name, digest.lower()) for name, digest in listed.items())


@SETTINGS
@given(name=NAMES, first=HEX, second=HEX)
def test_one_name_with_two_digests_is_refused_naming_both(name, first, second):
    text = '%s  %s\n%s  %s\n' % (first, name, second, name)
    if first.lower() == second.lower():
        assert parse_sha256sums(text) == {name: first.lower()}
        return
    with pytest.raises(ValueError) as info:
        parse_sha256sums(text)
    assert first.lower() in str(info.value) and second.lower() in str(info.value)
