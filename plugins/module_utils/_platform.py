# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

"""Work out which python-build-standalone target triple suits the managed host.

PBS names every asset by target triple. uv picks one from its own host
detection, but it never selects x86_64_v2..v4 and it runs the dynamic loader
to tell musl from glibc. This module follows uv's approach without executing
anything: the libc comes from the PT_INTERP loader name of /bin/sh, the ARM
float ABI from that loader name (or /proc/cpuinfo), and the x86-64 level from
the CPU flags. All functions are pure except detect_target(), which takes its
I/O as injectable callables so tests can replay recorded hosts.
"""

import os
import platform
import posixpath
import re
import struct

PT_INTERP = 3
EM_386, EM_ARM, EM_X86_64, EM_AARCH64 = 3, 40, 62, 183

# Userland architecture of a 32-bit ELF on a 64-bit kernel (uname lies there).
_USERLAND_32 = {EM_ARM: 'armv7', EM_386: 'i686'}

_ARCHES = {
    'x86_64': 'x86_64', 'amd64': 'x86_64',
    'aarch64': 'aarch64', 'arm64': 'aarch64',
    'armv7l': 'armv7', 'armv8l': 'armv7', 'armv7': 'armv7',
    'ppc64le': 'ppc64le', 's390x': 's390x', 'riscv64': 'riscv64',
    'i686': 'i686', 'i586': 'i686', 'i386': 'i686',
}
_MUSL_ARCHES = ('x86_64', 'aarch64')  # the only musl builds PBS publishes
_DARWIN_ARCHES = ('x86_64', 'aarch64')

# x86-64 psABI microarchitecture levels, as Linux spells the cpuinfo flags
# (pni = SSE3, abm = LZCNT). Each level also requires the ones below it.
_X86_64_LEVELS = (
    (2, frozenset('cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3'.split())),
    (3, frozenset('avx avx2 bmi1 bmi2 f16c fma abm movbe xsave'.split())),
    (4, frozenset('avx512f avx512bw avx512cd avx512dq avx512vl'.split())),
)
_LEVEL_NAMES = {'baseline': 1, 'v1': 1, 'v2': 2, 'v3': 3, 'v4': 4}

_MUSL_LOADER = re.compile(r'^ld-musl-[\w.-]+\.so\.\d+$')
# ld-linux-x86-64.so.2, ld-linux.so.2/.3, ld-linux-armhf.so.3, ld64.so.1/.2, ld.so.1
_GNU_LOADER = re.compile(r'^(ld-linux[\w.-]*|ld64|ld)\.so\.\d+$')

_HINT = "Set the module's 'target' option to the PBS triple explicitly."


def _elf_ident(data):
    """Return (ELF class, struct byte order) or None: every parser starts here."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 20 or data[:4] != b'\x7fELF':
        return None
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        return None
    return cls, '<' if enc == 1 else '>'


def elf_class(data):
    """Return 32 or 64 (or None): a 32-bit /bin/sh on a 64-bit kernel means a 32-bit userland."""
    ident = _elf_ident(data)
    return None if ident is None else (32 if ident[0] == 1 else 64)


def elf_machine(data):
    """Return e_machine (or None): the userland's real architecture, whatever uname says."""
    ident = _elf_ident(data)
    return None if ident is None else struct.unpack_from(ident[1] + 'H', data, 18)[0]


def elf_interpreter(data):
    """Return the PT_INTERP path of an ELF image prefix, or None.

    The loader path tells the C library (and ARM float ABI) without running
    anything on the host. Never raises: garbage or truncation gives None.
    """
    ident = _elf_ident(data)
    if not ident:
        return None
    cls, order = ident
    # Offsets of e_phoff and e_phentsize, e_phoff's format, program header format and size.
    if cls == 2:
        phoff_at, phent_at, phoff_fmt, ph_fmt, ph_min = 32, 54, 'Q', 'IIQQQQ', 56
    else:
        phoff_at, phent_at, phoff_fmt, ph_fmt, ph_min = 28, 42, 'I', 'IIIII', 32
    try:
        phoff = struct.unpack_from(order + phoff_fmt, data, phoff_at)[0]
        phentsize, phnum = struct.unpack_from(order + 'HH', data, phent_at)
        if phentsize < ph_min:
            return None
        for i in range(phnum):
            fields = struct.unpack_from(order + ph_fmt, data, phoff + i * phentsize)
            if fields[0] != PT_INTERP:
                continue
            # ELF64: type flags offset vaddr paddr filesz; ELF32: type offset vaddr paddr filesz
            offset, size = (fields[2], fields[5]) if cls == 2 else (fields[1], fields[4])
            if offset + size > len(data):
                return None
            path = bytes(data[offset:offset + size]).split(b'\0', 1)[0].decode('utf-8')
            return path or None
    except (struct.error, UnicodeDecodeError, OverflowError):
        return None
    return None


def libc_from_interpreter(path):
    """Return 'musl', 'gnu' or None from the dynamic loader's file name."""
    name = posixpath.basename(path or '')
    if _MUSL_LOADER.match(name):
        return 'musl'
    if _GNU_LOADER.match(name):
        return 'gnu'
    return None


def cpu_flags(cpuinfo_text):
    """Return the lower-case CPU feature set of the first processor in /proc/cpuinfo.

    x86 calls the line 'flags', ARM 'Features' (s390x 'features'); CPUs in
    one host share an ISA, so the first such line is enough.
    """
    for line in (cpuinfo_text or '').splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip().lower() in ('flags', 'features'):
            return set(value.lower().split())
    return set()


def x86_64_level(flags):
    """Return the highest x86-64 psABI level (1..4) the CPU flags satisfy."""
    flags = set(flags or ())
    level = 1
    for candidate, needed in _X86_64_LEVELS:
        if not needed <= flags:
            break
        level = candidate
    return level


def arm_float_abi(interpreter, flags):
    """Return 'gnueabihf' or 'gnueabi' for a 32-bit ARM host.

    The loader name describes the userland itself, so it wins: a soft-float
    (armel) userland on a VFP-capable CPU, e.g. an armel container on an arm64
    host, cannot load a hard-float build. Otherwise use uv's cpuinfo rule.
    """
    name = posixpath.basename(interpreter or '')
    if 'armhf' in name:
        return 'gnueabihf'
    if name == 'ld-linux.so.3':  # glibc's soft-float ARM EABI loader
        return 'gnueabi'
    if any(f == 'fp' or f.startswith('vfp') for f in flags or ()):
        return 'gnueabihf'
    return 'gnueabi'


def parse_level(value):
    """Return 1..4 or 'auto' for the module's x86_64_level option."""
    text = str(value).strip().lower()
    if text == 'auto':
        return 'auto'
    if text in _LEVEL_NAMES:
        return _LEVEL_NAMES[text]
    raise ValueError("x86_64_level must be one of baseline, v1, v2, v3, v4, auto; got %r" % (value,))


def target_triple(system, machine, libc='gnu', arm_abi='gnueabihf', level=1):
    """Return the PBS target triple, or raise ValueError naming what is unsupported."""
    arch = _ARCHES.get(str(machine).lower())
    if level not in (1, 2, 3, 4):
        raise ValueError('x86_64 level must be 1..4, got %r' % (level,))
    if system == 'Darwin':
        if arch not in _DARWIN_ARCHES:
            raise ValueError('Unsupported macOS machine %r: PBS publishes x86_64 and arm64 builds only. %s'
                             % (machine, _HINT))
        if level > 1:
            raise ValueError('x86_64_level v%d is not available on macOS: PBS publishes only baseline '
                             'x86_64-apple-darwin. Use baseline or auto.' % level)
        return '%s-apple-darwin' % arch
    if system != 'Linux':
        raise ValueError('Unsupported system %r: automatic detection supports Linux and Darwin (macOS). %s'
                         % (system, _HINT))
    if arch is None:
        raise ValueError('Unsupported Linux machine %r: supported are %s. %s'
                         % (machine, ', '.join(sorted(_ARCHES)), _HINT))
    if level > 1 and arch != 'x86_64':
        raise ValueError('x86_64_level v%d only applies to x86_64 hosts, this one is %s. Use baseline or auto.'
                         % (level, arch))
    if libc not in ('gnu', 'musl'):
        raise ValueError('Unsupported C library %r: supported are gnu (glibc) and musl. %s' % (libc, _HINT))
    if libc == 'musl' and arch not in _MUSL_ARCHES:
        raise ValueError('PBS publishes no musl build for %s (musl builds exist for %s only). %s'
                         % (arch, ' and '.join(_MUSL_ARCHES), _HINT))
    if arch == 'armv7':
        if arm_abi not in ('gnueabihf', 'gnueabi'):
            raise ValueError('ARM float ABI must be gnueabihf or gnueabi, got %r' % (arm_abi,))
        return 'armv7-unknown-linux-%s' % arm_abi
    if level > 1:
        arch = 'x86_64_v%d' % level
    return '%s-unknown-linux-%s' % (arch, libc)


_cpu_level = x86_64_level  # detect_target's parameter shadows the function name


def _read_head(path, size=65536):
    """Return the first bytes of a file, or None if it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            return handle.read(size)
    except (IOError, OSError):
        return None


def _uname():
    """Return (system, machine), e.g. ('Linux', 'aarch64') or ('Darwin', 'arm64')."""
    return platform.system(), os.uname()[4]


def _no_sysctl(name):
    """Default sysctl reader: none. The module injects one built on run_command (macOS only)."""
    return ''


def detect_target(x86_64_level='baseline', read_file=_read_head, uname=_uname, sysctl=_no_sysctl):
    """Return the PBS triple for this host: the only function here doing I/O.

    read_file(path) returns bytes or None, uname() returns (system, machine),
    sysctl(name) returns a string ('' on failure).
    """
    wanted = parse_level(x86_64_level)
    system, machine = uname()
    if system == 'Darwin':
        # Under Rosetta 2 uname says x86_64 although the hardware is arm64.
        if sysctl('sysctl.proc_translated') == '1':
            machine = 'arm64'
        return target_triple(system, machine, level=1 if wanted == 'auto' else wanted)
    if system != 'Linux' or machine.lower() not in _ARCHES:
        return target_triple(system, machine)  # raises with a clear message
    arch = _ARCHES[machine.lower()]
    interpreter = head = None
    for path in ('/bin/sh', '/usr/bin/env', '/bin/ls'):
        head = read_file(path)
        interpreter = elf_interpreter(head)
        if interpreter:
            break
    libc = libc_from_interpreter(interpreter)
    if libc is None:
        raise ValueError('Cannot tell the C library: no known dynamic loader in /bin/sh, /usr/bin/env '
                         'or /bin/ls (found %r). %s' % (interpreter, _HINT))
    if arch in ('aarch64', 'x86_64') and elf_class(head) == 32:
        arch = _USERLAND_32.get(elf_machine(head), arch)
    cpuinfo = read_file('/proc/cpuinfo') or b''
    flags = cpu_flags(cpuinfo.decode('utf-8', 'replace'))
    level = 1
    if arch == 'x86_64':
        supported = _cpu_level(flags) if flags else None
        if wanted == 'auto':
            level = supported or 1
        elif supported is not None and wanted > supported:
            raise ValueError('x86_64_level v%d requested but this CPU supports only %s (per /proc/cpuinfo).'
                             % (wanted, 'baseline' if supported == 1 else 'v%d' % supported))
        else:
            level = wanted
    elif wanted != 'auto':
        level = wanted  # target_triple rejects v2+ on other architectures
    return target_triple(system, arch, libc, arm_float_abi(interpreter, flags), level)
