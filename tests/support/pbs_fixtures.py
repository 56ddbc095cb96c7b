"""Real PBS-layout archives and mirrors, built from the CPython interpreters on this machine.

PBS archives cannot be downloaded here, so tests, the demo and the benchmarks package a real
local CPython prefix exactly as PBS does (one ``python/`` top directory, relocatable via an
``$ORIGIN`` rpath) and serve it under real PBS asset names and tags. Built archives are cached
outside the checkout, keyed by the interpreter and this file's recipe, because packing a 300 MB
prefix costs seconds and the result never changes.
"""

import glob
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

CACHE = os.path.join(os.environ.get('PBS_PYTHON_CACHE', os.path.expanduser('~/.cache/pbs-python')), 'archives')
RECIPE = '4'  # bump when the packing recipe changes
HOST_TRIPLE = 'x86_64-unknown-linux-gnu'

# Tags whose real contents match interpreters found here (uv's download metadata lists them, see
# tests/unit/plugins/module_utils/fixtures/uv).
REAL_TAGS = {'3.12.1': '20240107', '3.11.7': '20240107', '3.10.13': '20240224', '3.9.18': '20240224',
             '3.8.18': '20240224', '3.13.0': '20241016'}


def find_interpreters():
    """Map full version -> prefix of every usable shared-libpython CPython 3.8+ on the machine."""
    found = {}
    candidates = sorted(glob.glob(os.path.expanduser('~/.pyenv/versions/3.*')))
    candidates.append(sys.base_prefix)
    for prefix in candidates:
        exe = sorted(glob.glob(os.path.join(prefix, 'bin', 'python3.[0-9]*')))
        exe = [e for e in exe if re.search(r'python3\.\d+$', e)]
        libs = glob.glob(os.path.join(prefix, 'lib', 'libpython3.*.so.1.0'))
        if not exe or not libs:
            continue
        out = subprocess.run([exe[0], '-c', 'import platform; print(platform.python_version())'],
                             capture_output=True, text=True, check=False)
        version = out.stdout.strip()
        if out.returncode == 0 and tuple(int(x) for x in version.split('.')[:2]) >= (3, 8):
            found.setdefault(version, os.path.realpath(prefix))
    return found


def interpreter(version_prefix):
    """Prefix of the newest local interpreter whose version starts with ``version_prefix``."""
    matches = sorted((v for v in find_interpreters() if (v + '.').startswith(version_prefix + '.')),
                     key=lambda v: tuple(int(x) for x in v.split('.')))
    if not matches:
        raise LookupError('no local CPython %s found (looked in ~/.pyenv/versions and %s)'
                          % (version_prefix, sys.base_prefix))
    return matches[-1], find_interpreters()[matches[-1]]


def _ignore(directory, names):
    drop = {'__pycache__', 'test', 'idlelib', 'tkinter', 'turtledemo'} if directory.endswith(
        tuple('python3.%d' % m for m in range(8, 20))) else {'__pycache__'}
    if os.path.basename(directory) == 'site-packages':
        drop = set(names) - {'README.txt'}
    if os.path.basename(directory) == 'bin':
        drop = {n for n in names if n.startswith(('pip', 'idle', '2to3', 'pydoc'))} | {'__pycache__'}
    return [n for n in names if n in drop]


def _record_build_paths_as_pbs(root, prefix):
    """Make the copy's build-time paths what PBS ships: prefix ``/install``, clang as the compiler.

    PBS builds under ``/install`` and records it in the sysconfig data and pkg-config files; the
    installer must rewrite them (tests build C extensions to prove it), so the fixtures carry the
    same paths rather than this machine's.
    """
    prefixes = sorted({prefix, os.path.abspath(prefix)} | set(_unresolved_prefixes(prefix)), key=len, reverse=True)
    compilers = {'gcc': 'clang', 'g++': 'clang++'}
    paths = glob.glob(os.path.join(root, 'lib', 'python3*', '_sysconfigdata_*.py'))
    paths += glob.glob(os.path.join(root, 'lib', 'pkgconfig', '*.pc'))
    for path in paths:
        if os.path.islink(path):
            continue
        with open(path) as handle:
            text = handle.read()
        for old in prefixes:
            text = text.replace(old, '/install')
        if path.endswith('.py'):
            text = re.sub(r"('(?:CC|CXX|LDSHARED|LDCXXSHARED|BLDSHARED|LINKCC)': ')(gcc|g\+\+)\b",
                          lambda m: m.group(1) + compilers[m.group(2)], text)
        with open(path, 'w') as handle:
            handle.write(text)


def _unresolved_prefixes(prefix):
    """Other spellings of ``prefix`` (pyenv's symlinked paths) that the build may have recorded."""
    versions = os.path.expanduser('~/.pyenv/versions')
    for name in os.listdir(versions) if os.path.isdir(versions) else []:
        path = os.path.join(versions, name)
        if os.path.realpath(path) == prefix:
            yield path


def build_archive(version):
    """Path of a cached PBS-layout ``.tar.gz`` of the local interpreter ``version``."""
    prefix = find_interpreters()[version]
    key = hashlib.sha256(('%s|%s|%s' % (RECIPE, prefix, os.stat(prefix).st_mtime)).encode()).hexdigest()[:12]
    out = os.path.join(CACHE, 'cpython-%s-%s.tar.gz' % (version, key))
    if os.path.exists(out):
        return out
    os.makedirs(CACHE, exist_ok=True)
    minor = '.'.join(version.split('.')[:2])
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = os.path.join(tmp, 'python')
        shutil.copytree(prefix, root, symlinks=True, ignore=_ignore)
        _record_build_paths_as_pbs(root, prefix)
        exe = os.path.join(root, 'bin', 'python' + minor)
        subprocess.run(['patchelf', '--set-rpath', '$ORIGIN/../lib', exe], check=True)
        for link in ('python3', 'python'):
            path = os.path.join(root, 'bin', link)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink('python' + minor, path)
        partial = out + '.partial'
        # GNU tar + gzip, as PBS's own archives are plain gzip'd tars with one python/ directory.
        subprocess.run(['tar', '-C', tmp, '-czf', partial, 'python'], check=True)
        os.rename(partial, out)
    return out


def stamped_archive(version, stamp):
    """The archive of ``version`` with ``stamp`` as its gzip header mtime: same files, other bytes.

    Stands in for another PBS build of the same Python version (a synthetic tag): its sha256
    differs from every other build's, so receipts and checksums can tell the builds apart.
    """
    source = build_archive(version)
    out = '%s-s%d.tar.gz' % (source[:-len('.tar.gz')], stamp)
    if os.path.exists(out):
        return out
    with open(source, 'rb') as handle:
        data = bytearray(handle.read())
    if data[:3] != b'\x1f\x8b\x08' or data[3] & 0x02:  # gzip, deflate, no header CRC to keep right
        raise ValueError('%s is not a plain gzip stream' % source)
    data[4:8] = struct.pack('<I', stamp & 0xffffffff)
    partial = '%s.partial-%d' % (out, os.getpid())
    with open(partial, 'wb') as handle:
        handle.write(data)
    os.rename(partial, out)
    return out


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def asset(version, tag, triple=HOST_TRIPLE, variant='install_only', freethreaded=False):
    return 'cpython-%s+%s-%s-%s%s.tar.gz' % (version, tag, triple, 'freethreaded-' if freethreaded else '', variant)


def make_mirror(root, pins, extra_sums=None):
    """Lay out ``<root>/<TAG>/<asset>`` plus one SHA256SUMS per tag, as upstream does.

    ``pins`` are dicts with version, tag and optional triple/variant/source (a local version
    whose archive provides the bytes, default: the pinned version itself) and stamp (an int: serve
    the same files as other bytes, see ``stamped_archive``, for a second build of one version).
    Files are hard links into the archive cache, so a mirror costs no disk. Returns {asset: sha256}.
    """
    sums = {}
    for pin in pins:
        tag = pin['tag']
        name = asset(pin['version'], tag, pin.get('triple', HOST_TRIPLE), pin.get('variant', 'install_only'),
                     pin.get('freethreaded', False))
        if pin.get('stamp') is not None:
            source = stamped_archive(pin.get('source', pin['version']), pin['stamp'])
        else:
            source = build_archive(pin.get('source', pin['version']))
        os.makedirs(os.path.join(root, tag), exist_ok=True)
        dest = os.path.join(root, tag, name)
        if not os.path.exists(dest):
            try:
                os.link(source, dest)
            except OSError:
                shutil.copyfile(source, dest)
        sums.setdefault(tag, {})[name] = sha256_file(dest)
    for tag, extra in (extra_sums or {}).items():
        sums.setdefault(tag, {}).update(extra)
    for tag, entries in sums.items():
        with open(os.path.join(root, tag, 'SHA256SUMS'), 'w') as handle:
            handle.writelines('%s  %s\n' % (entries[n], n) for n in sorted(entries))
    return {name: digest for entries in sums.values() for name, digest in entries.items()}


def tar_members(path):
    with tarfile.open(path) as archive:
        return archive.getnames()
