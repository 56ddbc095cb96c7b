# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for host -> PBS target triple detection.

Fixtures in fixtures/platform/:
- cpuinfo-x86_64-amd-epyc-this-host.txt and bin-sh-debian12-x86_64.head
  (first 4 KiB of /usr/bin/dash) were captured from the Debian 12 dev host.
- The other cpuinfo-*.txt files are hand-written in the kernel's exact
  /proc/cpuinfo format, with the flag/Features lists those CPUs report.
ELF headers for other hosts are built by make_elf() below.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import os
import re
import struct

import pytest

from ansible_collections.pbs.python.plugins.module_utils import _platform

import uv_catalogue

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'platform')

# Every Linux/macOS triple in uv's download metadata (cpython entries).
PUBLISHED = {
    'aarch64-apple-darwin', 'x86_64-apple-darwin',
    'aarch64-unknown-linux-gnu', 'aarch64-unknown-linux-musl',
    'armv7-unknown-linux-gnueabi', 'armv7-unknown-linux-gnueabihf',
    'i686-unknown-linux-gnu', 'ppc64le-unknown-linux-gnu',
    'riscv64-unknown-linux-gnu', 's390x-unknown-linux-gnu',
    'x86_64-unknown-linux-gnu', 'x86_64-unknown-linux-musl',
    'x86_64_v2-unknown-linux-gnu', 'x86_64_v2-unknown-linux-musl',
    'x86_64_v3-unknown-linux-gnu', 'x86_64_v3-unknown-linux-musl',
    'x86_64_v4-unknown-linux-gnu', 'x86_64_v4-unknown-linux-musl',
}

EM_PPC64, EM_S390, EM_RISCV = 21, 22, 243
EF_ARM_HARD, EF_ARM_SOFT = 0x05000400, 0x05000200


def fixture(name):
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        return handle.read()


def cpuinfo(name):
    return fixture(name).decode('utf-8')


def make_elf(interp, machine, bits=64, endian='<', flags=0):
    """Minimal valid ELF executable: PT_PHDR, PT_INTERP and one PT_LOAD, then the path."""
    ident = b'\x7fELF' + bytes([2 if bits == 64 else 1, 1 if endian == '<' else 2, 1, 0]) + b'\0' * 8
    path = interp.encode('ascii') + b'\0'
    if bits == 64:
        ehsize, phentsize, head, ph = 64, 56, 'HHIQQQIHHHHHH', endian + 'IIQQQQQQ'
    else:
        ehsize, phentsize, head, ph = 52, 32, 'HHIIIIIHHHHHH', endian + 'IIIIIIII'
    phsize = 3 * phentsize
    off = ehsize + phsize
    total = off + len(path)
    # (type, flags, offset, size, align), packed in each class's field order
    segments = [(6, 4, ehsize, phsize, 8), (3, 4, off, len(path), 1), (1, 5, 0, total, 0x1000)]
    phdrs = b''
    for p_type, p_flags, p_offset, size, align in segments:
        if bits == 64:
            phdrs += struct.pack(ph, p_type, p_flags, p_offset, p_offset, p_offset, size, size, align)
        else:
            phdrs += struct.pack(ph, p_type, p_offset, p_offset, p_offset, size, size, p_flags, align)
    header = struct.pack(endian + head, 3, machine, 1, 0x1000, ehsize, 0, flags,
                         ehsize, phentsize, 3, 64 if bits == 64 else 40, 0, 0)
    return ident + header + phdrs + path


DEBIAN_SH = fixture('bin-sh-debian12-x86_64.head')
ALPINE_SH = make_elf('/lib/ld-musl-x86_64.so.1', _platform.EM_X86_64)
ARMHF_SH = make_elf('/lib/ld-linux-armhf.so.3', _platform.EM_ARM, bits=32, flags=EF_ARM_HARD)
ARMEL_SH = make_elf('/lib/ld-linux.so.3', _platform.EM_ARM, bits=32, flags=EF_ARM_SOFT)
I386_SH = make_elf('/lib/ld-linux.so.2', _platform.EM_386, bits=32)
AARCH64_SH = make_elf('/lib/ld-linux-aarch64.so.1', _platform.EM_AARCH64)
S390X_SH = make_elf('/lib/ld64.so.1', EM_S390, endian='>')
PPC64LE_SH = make_elf('/lib64/ld64.so.2', EM_PPC64, flags=2)  # ELFv2 ABI
RISCV64_SH = make_elf('/lib/ld-linux-riscv64-lp64d.so.1', EM_RISCV)


# --- ELF parsing ---------------------------------------------------------

def test_real_debian_bin_sh():
    assert _platform.elf_interpreter(DEBIAN_SH) == '/lib64/ld-linux-x86-64.so.2'
    assert _platform.elf_class(DEBIAN_SH) == 64
    assert _platform.elf_machine(DEBIAN_SH) == _platform.EM_X86_64


@pytest.mark.parametrize('data, interp, bits, machine', [
    (ALPINE_SH, '/lib/ld-musl-x86_64.so.1', 64, 62),
    (ARMHF_SH, '/lib/ld-linux-armhf.so.3', 32, 40),
    (ARMEL_SH, '/lib/ld-linux.so.3', 32, 40),
    (I386_SH, '/lib/ld-linux.so.2', 32, 3),
    (AARCH64_SH, '/lib/ld-linux-aarch64.so.1', 64, 183),
    (S390X_SH, '/lib/ld64.so.1', 64, 22),
    (PPC64LE_SH, '/lib64/ld64.so.2', 64, 21),
    (RISCV64_SH, '/lib/ld-linux-riscv64-lp64d.so.1', 64, 243),
    (make_elf('/lib/ld.so.1', EM_S390, bits=32, endian='>'), '/lib/ld.so.1', 32, 22),
])
def test_synthetic_elf(data, interp, bits, machine):
    assert _platform.elf_interpreter(data) == interp
    assert _platform.elf_class(data) == bits
    assert _platform.elf_machine(data) == machine


def test_big_endian_is_not_read_as_little_endian():
    # Flip only EI_DATA: the offsets become nonsense and the parser must cope.
    swapped = S390X_SH[:5] + b'\x01' + S390X_SH[6:]
    assert _platform.elf_interpreter(swapped) is None
    assert _platform.elf_machine(swapped) == EM_S390 << 8


@pytest.mark.parametrize('data', [
    None, b'', b'\x7fELF', b'#!/bin/sh\necho hi\n' * 10, b'\0' * 128, u'\x7fELF text',
    b'\x7fELF\x03\x01' + b'\0' * 100,                # bad class
    b'\x7fELF\x02\x03' + b'\0' * 100,                # bad byte order
    DEBIAN_SH[:0x318 + 10],                          # interpreter string cut short
    DEBIAN_SH[:0x318] + b'\xff\xfe' + DEBIAN_SH[0x31a:],  # not UTF-8
    DEBIAN_SH[:54] + b'\x00\x00' + DEBIAN_SH[56:],   # phentsize 0
    DEBIAN_SH[:32] + b'\xff' * 8 + DEBIAN_SH[40:],   # phoff far beyond the data
    make_elf('/lib/ld.so.1', 3)[:-30],
])
def test_garbage_gives_none(data):
    assert _platform.elf_interpreter(data) is None


def test_every_truncation_of_real_header_is_safe():
    for size in range(len(DEBIAN_SH)):
        result = _platform.elf_interpreter(DEBIAN_SH[:size])
        assert result in (None, '/lib64/ld-linux-x86-64.so.2')
    assert _platform.elf_interpreter(bytearray(DEBIAN_SH)) == '/lib64/ld-linux-x86-64.so.2'


def test_static_binary_has_no_interpreter():
    data = bytearray(make_elf('/lib/ld-musl-x86_64.so.1', 62))
    struct.pack_into('<I', data, 64 + 56, 4)  # PT_INTERP -> PT_NOTE
    assert _platform.elf_interpreter(bytes(data)) is None


# --- loader, cpuinfo, levels ------------------------------------------------

@pytest.mark.parametrize('path, libc', [
    ('/lib64/ld-linux-x86-64.so.2', 'gnu'), ('/lib/ld-linux.so.2', 'gnu'),
    ('/lib/ld-linux.so.3', 'gnu'), ('/lib/ld-linux-armhf.so.3', 'gnu'),
    ('/lib/ld-linux-aarch64.so.1', 'gnu'), ('/lib64/ld64.so.2', 'gnu'), ('/lib/ld64.so.1', 'gnu'),
    ('/lib/ld.so.1', 'gnu'), ('/lib/ld-linux-riscv64-lp64d.so.1', 'gnu'),
    ('/nix/store/abc-glibc-2.39/lib/ld-linux-x86-64.so.2', 'gnu'),
    ('/lib/ld-musl-x86_64.so.1', 'musl'), ('/lib/ld-musl-aarch64.so.1', 'musl'),
    ('/lib/ld-musl-armhf.so.1', 'musl'),
    ('/system/bin/linker64', None), ('', None), (None, None), ('/lib/ld-2.31.so.bak', None),
])
def test_libc_from_interpreter(path, libc):
    assert _platform.libc_from_interpreter(path) == libc


@pytest.mark.parametrize('name, level', [
    ('cpuinfo-x86_64-amd-epyc-this-host.txt', 4),
    ('cpuinfo-x86_64-xeon-skylake-sp-avx512.txt', 4),
    ('cpuinfo-x86_64-core-i7-920-nehalem.txt', 2),
    ('cpuinfo-x86_64-core2-duo-e8400.txt', 1),
])
def test_x86_64_level_from_recorded_cpuinfo(name, level):
    flags = _platform.cpu_flags(cpuinfo(name))
    assert {'sse2', 'cmov'} <= flags
    assert _platform.x86_64_level(flags) == level


def test_x86_64_level_boundaries():
    v2 = 'cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3'.split()
    v3 = v2 + 'avx avx2 bmi1 bmi2 f16c fma abm movbe xsave'.split()
    v4 = v3 + 'avx512f avx512bw avx512cd avx512dq avx512vl'.split()
    assert _platform.x86_64_level([]) == 1
    assert _platform.x86_64_level(v2) == 2
    assert _platform.x86_64_level(v2[1:]) == 1
    assert _platform.x86_64_level(v3) == 3
    assert _platform.x86_64_level([f for f in v3 if f != 'abm']) == 2  # no LZCNT
    assert _platform.x86_64_level(v4) == 4
    assert _platform.x86_64_level(v4[:-1]) == 3
    assert _platform.x86_64_level(v4[len(v2):]) == 1  # levels are cumulative


@pytest.mark.parametrize('name, present, absent', [
    ('cpuinfo-armv7l-rpi4-raspios-32bit.txt', {'vfp', 'neon', 'vfpv4'}, {'fp'}),
    ('cpuinfo-aarch64-rpi4-64bit-kernel.txt', {'fp', 'asimd'}, {'vfp'}),
    ('cpuinfo-armv7l-cortex-a9-nofpu.txt', {'thumb', 'edsp'}, {'vfp', 'fp'}),
    ('cpuinfo-aarch64-aws-graviton2.txt', {'fp', 'atomics', 'asimddp'}, set()),
    ('cpuinfo-s390x-z15.txt', {'zarch', 'vxe2'}, set()),
])
def test_cpu_flags_non_x86(name, present, absent):
    flags = _platform.cpu_flags(cpuinfo(name))
    assert present <= flags and not absent & flags


def test_cpu_flags_without_flags_line():
    assert _platform.cpu_flags(cpuinfo('cpuinfo-ppc64le-power9.txt')) == set()
    assert _platform.cpu_flags('') == set()
    assert _platform.cpu_flags(None) == set()


@pytest.mark.parametrize('interp, name, abi', [
    ('/lib/ld-linux-armhf.so.3', 'cpuinfo-armv7l-rpi4-raspios-32bit.txt', 'gnueabihf'),
    ('/lib/ld-linux-armhf.so.3', 'cpuinfo-armv7l-cortex-a9-nofpu.txt', 'gnueabihf'),
    ('/lib/ld-linux.so.3', 'cpuinfo-armv7l-cortex-a9-nofpu.txt', 'gnueabi'),
    # armel userland on a VFP CPU (e.g. an armel container on arm64): the loader decides.
    ('/lib/ld-linux.so.3', 'cpuinfo-aarch64-rpi4-64bit-kernel.txt', 'gnueabi'),
    (None, 'cpuinfo-armv7l-rpi4-raspios-32bit.txt', 'gnueabihf'),
    (None, 'cpuinfo-aarch64-rpi4-64bit-kernel.txt', 'gnueabihf'),
    (None, 'cpuinfo-armv7l-cortex-a9-nofpu.txt', 'gnueabi'),
])
def test_arm_float_abi(interp, name, abi):
    assert _platform.arm_float_abi(interp, _platform.cpu_flags(cpuinfo(name))) == abi


@pytest.mark.parametrize('value, level', [
    ('baseline', 1), ('v1', 1), ('v2', 2), ('v3', 3), ('v4', 4), ('auto', 'auto'), (' V3 ', 3),
])
def test_parse_level(value, level):
    assert _platform.parse_level(value) == level


@pytest.mark.parametrize('value', ['v5', 'x86-64-v3', '', None, 3])
def test_parse_level_rejects(value):
    with pytest.raises(ValueError, match='x86_64_level'):
        _platform.parse_level(value)


# --- target_triple ----------------------------------------------------------

@pytest.mark.parametrize('args, triple', [
    (('Linux', 'x86_64'), 'x86_64-unknown-linux-gnu'),
    (('Linux', 'amd64', 'musl', 'gnueabihf', 3), 'x86_64_v3-unknown-linux-musl'),
    (('Linux', 'aarch64', 'musl'), 'aarch64-unknown-linux-musl'),
    (('Linux', 'arm64'), 'aarch64-unknown-linux-gnu'),
    (('Linux', 'armv7l', 'gnu', 'gnueabi'), 'armv7-unknown-linux-gnueabi'),
    (('Linux', 'armv8l'), 'armv7-unknown-linux-gnueabihf'),
    (('Linux', 'i386'), 'i686-unknown-linux-gnu'),
    (('Linux', 'ppc64le'), 'ppc64le-unknown-linux-gnu'),
    (('Darwin', 'arm64'), 'aarch64-apple-darwin'),
    (('Darwin', 'x86_64', 'gnu'), 'x86_64-apple-darwin'),
])
def test_target_triple(args, triple):
    assert _platform.target_triple(*args) == triple


@pytest.mark.parametrize('args, message', [
    (('Linux', 'armv7l', 'musl'), 'no musl build for armv7'),
    (('Linux', 'riscv64', 'musl'), 'no musl build for riscv64'),
    (('Linux', 'mips64'), "'mips64'.*supported are.*x86_64.*'target'"),
    (('Linux', 'armv6l'), "'armv6l'"),
    (('Linux', 'x86_64', 'uclibc'), "'uclibc'"),
    (('Linux', 'aarch64', 'gnu', 'gnueabihf', 3), 'only applies to x86_64'),
    (('Linux', 'x86_64', 'gnu', 'gnueabihf', 5), 'level must be 1..4'),
    (('Linux', 'armv7l', 'gnu', 'eabi'), 'gnueabihf or gnueabi'),
    (('Darwin', 'x86_64', 'gnu', 'gnueabihf', 3), 'not available on macOS'),
    (('Darwin', 'ppc'), "macOS machine 'ppc'"),
    (('FreeBSD', 'amd64'), "'FreeBSD'.*Linux and Darwin.*'target'"),
    (('Windows', 'AMD64'), "'Windows'"),
])
def test_target_triple_errors(args, message):
    with pytest.raises(ValueError, match=message):
        _platform.target_triple(*args)


def _reachable():
    machines = ['x86_64', 'amd64', 'aarch64', 'arm64', 'armv7l', 'armv8l', 'ppc64le', 's390x',
                'riscv64', 'i686']
    found = set()
    for combo in itertools.product(['Linux', 'Darwin'], machines, ['gnu', 'musl'],
                                   ['gnueabihf', 'gnueabi'], [1, 2, 3, 4]):
        try:
            found.add(_platform.target_triple(*combo))
        except ValueError:
            pass
    return found


def test_exactly_the_published_triples_are_reachable():
    # Nothing unpublished (musl on armv7/ppc64le/..., x86_64_vN on macOS) is produced either.
    assert _reachable() == PUBLISHED


def test_published_list_matches_uv_metadata():
    entries = uv_catalogue.load().values()
    pattern = re.compile(r'/cpython-[^/-]+-([a-z0-9_]+-(?:unknown-linux-[a-z]+|apple-darwin))-')
    triples = set()
    for entry in entries:
        if entry['name'] == 'cpython' and entry['os'] in ('linux', 'darwin'):
            triples.add(pattern.search(entry['url']).group(1))
    assert triples == PUBLISHED


# --- detect_target end to end ----------------------------------------------

def host(system, machine, files, translated=''):
    """Injectable I/O for one recorded host; fails loudly on unexpected sysctl use."""
    def read_file(path):
        return files.get(path)

    def sysctl(name):
        assert system == 'Darwin' and name == 'sysctl.proc_translated'
        return translated
    return dict(read_file=read_file, uname=lambda: (system, machine), sysctl=sysctl)


def linux(machine, sh, cpu, **extra):
    files = {'/bin/sh': sh, '/proc/cpuinfo': fixture(cpu) if cpu else None}
    files.update(extra)
    return host('Linux', machine, files)


THIS_HOST = 'cpuinfo-x86_64-amd-epyc-this-host.txt'


def test_debian_x86_64_baseline_and_auto():
    debian = linux('x86_64', DEBIAN_SH, THIS_HOST)
    assert _platform.detect_target(**debian) == 'x86_64-unknown-linux-gnu'
    assert _platform.detect_target('baseline', **debian) == 'x86_64-unknown-linux-gnu'
    assert _platform.detect_target('auto', **debian) == 'x86_64_v4-unknown-linux-gnu'
    assert _platform.detect_target('v3', **debian) == 'x86_64_v3-unknown-linux-gnu'


def test_explicit_level_the_cpu_lacks():
    nehalem = linux('x86_64', DEBIAN_SH, 'cpuinfo-x86_64-core-i7-920-nehalem.txt')
    assert _platform.detect_target('v2', **nehalem) == 'x86_64_v2-unknown-linux-gnu'
    assert _platform.detect_target('auto', **nehalem) == 'x86_64_v2-unknown-linux-gnu'
    with pytest.raises(ValueError, match='v4 requested but this CPU supports only v2'):
        _platform.detect_target('v4', **nehalem)
    core2 = linux('x86_64', DEBIAN_SH, 'cpuinfo-x86_64-core2-duo-e8400.txt')
    assert _platform.detect_target('auto', **core2) == 'x86_64-unknown-linux-gnu'
    with pytest.raises(ValueError, match='supports only baseline'):
        _platform.detect_target('v2', **core2)


def test_unreadable_cpuinfo_trusts_explicit_level():
    blind = linux('x86_64', DEBIAN_SH, None)
    assert _platform.detect_target('v3', **blind) == 'x86_64_v3-unknown-linux-gnu'
    assert _platform.detect_target('auto', **blind) == 'x86_64-unknown-linux-gnu'


def test_alpine_x86_64_musl():
    alpine = linux('x86_64', ALPINE_SH, 'cpuinfo-x86_64-xeon-skylake-sp-avx512.txt')
    assert _platform.detect_target(**alpine) == 'x86_64-unknown-linux-musl'
    assert _platform.detect_target('auto', **alpine) == 'x86_64_v4-unknown-linux-musl'


def test_falls_back_to_usr_bin_env():
    files = linux('x86_64', None, THIS_HOST, **{'/usr/bin/env': ALPINE_SH})
    assert _platform.detect_target(**files) == 'x86_64-unknown-linux-musl'


def test_no_loader_found_is_an_error():
    with pytest.raises(ValueError, match='C library.*target'):
        _platform.detect_target(**linux('x86_64', b'#!/bin/busybox sh\n', THIS_HOST))


def test_raspberry_pi_32bit_userland_on_64bit_kernel():
    pi = linux('aarch64', ARMHF_SH, 'cpuinfo-aarch64-rpi4-64bit-kernel.txt')
    assert _platform.detect_target(**pi) == 'armv7-unknown-linux-gnueabihf'
    assert _platform.detect_target('auto', **pi) == 'armv7-unknown-linux-gnueabihf'


def test_raspberry_pi_32bit_kernel():
    pi = linux('armv7l', ARMHF_SH, 'cpuinfo-armv7l-rpi4-raspios-32bit.txt')
    assert _platform.detect_target(**pi) == 'armv7-unknown-linux-gnueabihf'


def test_soft_float_armv7():
    board = linux('armv7l', ARMEL_SH, 'cpuinfo-armv7l-cortex-a9-nofpu.txt')
    assert _platform.detect_target(**board) == 'armv7-unknown-linux-gnueabi'


def test_i386_userland_on_x86_64_kernel():
    box = linux('x86_64', I386_SH, THIS_HOST)
    assert _platform.detect_target('auto', **box) == 'i686-unknown-linux-gnu'


@pytest.mark.parametrize('machine, sh, cpu, triple', [
    ('aarch64', AARCH64_SH, 'cpuinfo-aarch64-aws-graviton2.txt', 'aarch64-unknown-linux-gnu'),
    ('aarch64', make_elf('/lib/ld-musl-aarch64.so.1', 183), 'cpuinfo-aarch64-aws-graviton2.txt',
     'aarch64-unknown-linux-musl'),
    ('ppc64le', PPC64LE_SH, 'cpuinfo-ppc64le-power9.txt', 'ppc64le-unknown-linux-gnu'),
    ('s390x', S390X_SH, 'cpuinfo-s390x-z15.txt', 's390x-unknown-linux-gnu'),
    ('riscv64', RISCV64_SH, None, 'riscv64-unknown-linux-gnu'),
])
def test_other_linux_hosts(machine, sh, cpu, triple):
    assert _platform.detect_target('auto', **linux(machine, sh, cpu)) == triple


def test_explicit_level_on_arm_is_an_error():
    graviton = linux('aarch64', AARCH64_SH, 'cpuinfo-aarch64-aws-graviton2.txt')
    with pytest.raises(ValueError, match='only applies to x86_64'):
        _platform.detect_target('v3', **graviton)


def test_alpine_on_armv7_is_an_error():
    musl_pi = linux('armv7l', make_elf('/lib/ld-musl-armhf.so.1', 40, bits=32),
                    'cpuinfo-armv7l-rpi4-raspios-32bit.txt')
    with pytest.raises(ValueError, match='no musl build for armv7'):
        _platform.detect_target(**musl_pi)


def test_macos_arm64():
    mac = host('Darwin', 'arm64', {}, translated='0')
    assert _platform.detect_target('auto', **mac) == 'aarch64-apple-darwin'


def test_macos_x86_64_under_rosetta():
    assert _platform.detect_target(**host('Darwin', 'x86_64', {}, translated='1')) == 'aarch64-apple-darwin'


def test_macos_intel():
    intel = host('Darwin', 'x86_64', {}, translated='')  # key absent: sysctl fails
    assert _platform.detect_target('auto', **intel) == 'x86_64-apple-darwin'
    with pytest.raises(ValueError, match='not available on macOS'):
        _platform.detect_target('v3', **intel)


def test_freebsd_is_a_clear_error():
    with pytest.raises(ValueError) as err:
        _platform.detect_target(**host('FreeBSD', 'amd64', {}))
    assert 'FreeBSD' in str(err.value) and "'target'" in str(err.value)


def test_unknown_linux_machine_is_reported_before_reading_files():
    with pytest.raises(ValueError, match="'loongarch64'"):
        _platform.detect_target(**host('Linux', 'loongarch64', {}))


def test_default_io_on_this_host():
    # The real callables run on the test machine and give a published triple.
    assert _platform.detect_target() in PUBLISHED
    assert _platform._no_sysctl('sysctl.proc_translated') == ''
