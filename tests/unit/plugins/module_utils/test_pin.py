# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pin model: one spelling per pin, refused before any download, and settled from the most trusted source.

SUMS is an excerpt of real PBS releases: the x86_64-unknown-linux-gnu install_only_stripped assets of
20240726 (3.12) and 20260814 (3.13, 3.14 and the 3.15 release candidate, plain and free-threaded),
with the digests uv's download metadata (crates/uv-python/download-metadata.json) lists for them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pbs.python.plugins.module_utils import _platform
from ansible_collections.pbs.python.plugins.module_utils._naming import VARIANTS, check_build, check_target
from ansible_collections.pbs.python.plugins.module_utils._pin import (
    DEFAULT_VARIANT, OPTIONS, X86_64_LEVELS, ChecksumMismatch, InstallError, Pin, PinError, check_version,
    missing, normalize_pin, unpinned,
)
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums

T = 'x86_64-unknown-linux-gnu'
SUMS = parse_sha256sums('''\
ca076aee4329f53f988346eb0521ad2a2cf7f723b6296088d03b98d8f22f5420  cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz
081bb8b530aca66746bfc5ec5ba0150a75a5b3a4046a3df4fb9fb0b378be5111  cpython-3.13.15+20260814-x86_64-unknown-linux-gnu-freethreaded-install_only_stripped.tar.gz
aaca2af2ab4d7b68a712660d1334c0cfd5ec13c0312ccd30c29122d8d0342320  cpython-3.13.15+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz
301a3326f279ca7d97d531fc8f50bc27c94a5b80c48e9f5ffcc7499bddb60ae1  cpython-3.14.7+20260814-x86_64-unknown-linux-gnu-freethreaded-install_only_stripped.tar.gz
cefba034445d2875408d1fd4d5700ae6731563aeb54dcb39fd8164ab5c457533  cpython-3.14.7+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz
080b757ca7e3836c12b37e5eaf56bc196950aca5e91f0bd8bc181c2d383fb4bf  cpython-3.15.0rc1+20260814-x86_64-unknown-linux-gnu-freethreaded-install_only_stripped.tar.gz
fb9ab27055be979c3298f0b5edf5a995dc087cfb365de627b3ceaa2c292f473b  cpython-3.15.0rc1+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz
''')
ASSET_314 = 'cpython-3.14.7+20260814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz'


def no_network():
    raise AssertionError('SHA256SUMS was read although the pin was settled without it')


# -- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize('text', ['3.12', '3.12.4', '3.15.0rc1', '3.14.0b4', '3.10'])
def test_a_version_is_kept_exactly_as_written(text):
    assert check_version(text) == text


@pytest.mark.parametrize('text', [' 3.12', '3.12 ', '3.12\n', '3.12.4\r\n', '\t3.12.4', '3.15.0rc1\n'])
def test_whitespace_around_a_version_is_refused_and_the_message_shows_the_fix(text):
    with pytest.raises(PinError) as info:
        check_version(text)
    assert repr(text) in str(info.value) and 'write it as %r' % text.strip() in str(info.value)


@pytest.mark.parametrize('field,value', [('version', '3.12.4\n'), ('build', '20240726\n'), ('version', ' 3.12')])
def test_a_pin_with_a_trailing_newline_is_refused_before_anything_reads_the_network(field, value):
    fields = dict(version='3.12.4', build='20240726')
    fields[field] = value
    with pytest.raises(ValueError):  # PinError for the version, check_build's ValueError for the build
        Pin(fields['version'], fields['build'], mirrors=['https://mirror.invalid/pbs']).choose(T, no_network)


def test_build_and_target_refuse_a_trailing_newline_too():
    with pytest.raises(ValueError, match='8-digit tag'):
        check_build('20240726\n')
    with pytest.raises(ValueError, match='target triple'):
        check_target(T + '\n')


def test_normalize_pin_fills_defaults_and_keeps_the_source():
    assert normalize_pin({'version': '3.12', 'build': 20240726}, 'pbs_python_installs__web') == dict(
        version='3.12', build='20240726', variant=DEFAULT_VARIANT, freethreaded=False, default=False, link=True,
        sources=['pbs_python_installs__web'])


@pytest.mark.parametrize('raw,words', [
    ({'version': 3.1, 'build': '20240726'}, ['YAML number', 'quote it']),
    ({'version': '3.12', 'build': '20240726', 'linked': True}, ['unknown pin keys linked']),
    ({'version': '3.12'}, ['needs both version and build']),
    ('3.12+20240726', ['must be a dict']),
    ({'version': '3.12\n', 'build': '20240726'}, ['surrounding whitespace', "write it as '3.12'"]),
    ({'version': '3.12', 'build': '2024-07-26'}, ['8-digit tag']),
    ({'version': '3.12', 'build': '20240726', 'variant': 'full'}, ["variant 'full'", 'install_only_stripped']),
])
def test_normalize_pin_refuses_with_the_source_named(raw, words):
    with pytest.raises(PinError) as info:
        normalize_pin(raw, 'pbs_python_installs__web')
    assert str(info.value).startswith('pbs_python_installs__web: ')
    for word in words:
        assert word in str(info.value)


def test_unpinned_and_missing_compare_pins_with_installs():
    pins = [normalize_pin({'version': '3.14', 'build': '20260814'}, 'a'),
            normalize_pin({'version': '3.13.15', 'build': '20260814', 'freethreaded': True}, 'a')]
    installs = [dict(version='3.14.7', build='20260814', variant=DEFAULT_VARIANT, freethreaded=False, works=True),
                dict(version='3.13.15', build='20260814', variant=DEFAULT_VARIANT, freethreaded=False, works=True)]
    assert unpinned(installs, pins) == [installs[1]]  # the plain 3.13 build: the pin asks for free-threaded
    assert missing(installs, pins) == [pins[1]]


# -- resolution ----------------------------------------------------------------------------------

@pytest.mark.parametrize('version,freethreaded,exact', [
    ('3.14', False, '3.14.7'),
    ('3.14', True, '3.14.7'),
    ('3.13.15', True, '3.13.15'),
    ('3.15', False, '3.15.0rc1'),  # only a release candidate in this build: taken, as uv does
    ('3.15.0rc1', True, '3.15.0rc1'),
])
def test_choose_reads_the_mirror_sums_for_every_pin_form(version, freethreaded, exact):
    name, digest, version_found = Pin(version, '20260814', freethreaded=freethreaded).choose(T, lambda: SUMS)
    assert version_found == exact and SUMS[name] == digest
    assert ('-freethreaded-' in name) == freethreaded and name.startswith('cpython-%s+20260814-' % exact)


def test_pinned_checksums_settle_an_x_y_pin_without_reading_sums():
    pin = Pin('3.14', '20260814', checksums={ASSET_314: SUMS[ASSET_314]})
    assert pin.choose(T, no_network) == (ASSET_314, SUMS[ASSET_314], '3.14.7')
    assert pin.locked(T) == (ASSET_314, SUMS[ASSET_314], '3.14.7')
    assert pin.pinned_digest('3.14.7', T) == SUMS[ASSET_314]
    assert pin.pinned_digest('3.14.8', T) is None  # another patch is not what the lock names


def test_strict_refuses_an_asset_the_lock_does_not_list():
    pin = Pin('3.13', '20260814', checksums={ASSET_314: SUMS[ASSET_314]}, strict=True)
    with pytest.raises(InstallError, match='not in the pinned checksums'):
        pin.choose(T, no_network)


def test_a_pinned_sha256_that_the_mirror_contradicts_is_a_mismatch():
    other = SUMS['cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz']
    pin = Pin('3.14.7', '20260814', sha256='sha256:' + other.upper())
    with pytest.raises(ChecksumMismatch) as info:
        pin.choose(T, lambda: SUMS)
    assert SUMS[ASSET_314] in str(info.value)


def test_a_trusted_cache_with_other_bytes_than_the_pin_is_ignored():
    other = dict(SUMS, **{ASSET_314: '0' * 64})
    pin = Pin('3.14.7', '20260814', sha256=SUMS[ASSET_314])
    assert pin.choose(T, lambda: SUMS, trusted=other)[1] == SUMS[ASSET_314]
    assert Pin('3.14', '20260814').choose(T, no_network, trusted=SUMS)[2] == '3.14.7'


def test_check_refuses_disagreeing_sha256_and_checksums_and_unpublished_builds():
    with pytest.raises(ChecksumMismatch, match='disagree'):
        Pin('3.14.7', '20260814', sha256=SUMS[ASSET_314], checksums={ASSET_314: '1' * 64}).check(T)
    with pytest.raises(ValueError, match='free-threaded'):
        Pin('3.12', '20240726', freethreaded=True).check(T)


def test_from_params_reads_the_module_options():
    params = dict((name, spec.get('default')) for name, spec in OPTIONS.items())
    params.update(version='3.14', build='20260814', variant='install_only', checksums={ASSET_314: SUMS[ASSET_314]},
                  _src='/tmp/a.tar.gz', _origin='https://mirror/x')
    pin = Pin.from_params(params)
    assert (pin.version, pin.build, pin.variant, pin.src, pin.origin) == (
        '3.14', '20260814', 'install_only', '/tmp/a.tar.gz', 'https://mirror/x')


# -- one definition of the choices ------------------------------------------------------------------

def test_option_choices_come_from_the_constants():
    assert OPTIONS['variant']['choices'] == list(VARIANTS) and DEFAULT_VARIANT == VARIANTS[0]
    assert OPTIONS['x86_64_level']['choices'] == list(X86_64_LEVELS)
    assert set(X86_64_LEVELS) == set(_platform._LEVEL_NAMES) | {'auto'}
    for level in X86_64_LEVELS:
        _platform.parse_level(level)
