"""Tiny handmade PBS-layout archives: stand-in interpreters and hostile tar.gz files.

A stand-in interpreter is a shell script at ``python/bin/python3.X`` that answers the module's
version probe, so an install through the module costs milliseconds instead of extracting a
150 MB tree; the module cannot tell it from a real one and needs nothing else. Hostile archives
are written with ``tarfile`` (which writes whatever names and types it is given) or from raw
header blocks where a huge archive must stay cheap to build.
"""

import gzip
import hashlib
import io
import os
import tarfile
import zlib

BLOCK = 512


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def _tar(members, fmt=tarfile.GNU_FORMAT):
    """A tar stream from (TarInfo, data-or-None) pairs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def gz(data, mtime=0):
    return gzip.compress(data, compresslevel=6, mtime=mtime)


def entry(name, kind=tarfile.REGTYPE, data=b'', mode=0o644, linkname='', devmajor=0, devminor=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 1700000000
    info.uname = info.gname = 'root'
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    info.linkname = linkname
    info.devmajor, info.devminor = devmajor, devminor
    return info, (data if kind == tarfile.REGTYPE else None)


def interpreter_members(version='3.12.1', marker='old', pad=0, seed=b'', runs=None):
    """Members of a stand-in install_only tree for Python ``version``.

    ``marker`` lands in ``python/MARKER`` so a test can tell two builds of one name apart on
    disk; ``pad`` adds that many incompressible bytes (``python/lib/pad.bin``) so a download
    takes long enough to interrupt. With ``runs`` (a real Python), the stand-in hands every call
    but the version probe to it, so modules run on the stand-in (bootstrap runs the module there).
    """
    minor = '.'.join(version.split('.')[:2])
    script = ('#!/bin/sh\n# stand-in for CPython %s: answers the version probe of pbs_python\n'
              % version).encode()
    if runs:
        script += ('case "$*" in *"\'candidate\': \'rc\'"*) ;; *) exec %s "$@" ;; esac\n' % runs).encode()
    script += ('echo %s\n' % version).encode()
    members = [
        entry('python/', tarfile.DIRTYPE, mode=0o755),
        entry('python/bin/', tarfile.DIRTYPE, mode=0o755),
        entry('python/bin/python%s' % minor, data=script, mode=0o755),
        entry('python/bin/python3', tarfile.SYMTYPE, linkname='python%s' % minor, mode=0o777),
        entry('python/lib/', tarfile.DIRTYPE, mode=0o755),
        entry('python/lib/python%s/' % minor, tarfile.DIRTYPE, mode=0o755),
        entry('python/lib/python%s/os.py' % minor, data=b'# stand-in\n'),
        entry('python/MARKER', data=marker.encode() + b'\n'),
    ]
    if pad:
        members.append(entry('python/lib/pad.bin', data=_incompressible(pad, seed + marker.encode())))
    return members


def _incompressible(size, seed):
    out, counter = [], 0
    while size > 0:
        block = hashlib.sha512(seed + counter.to_bytes(8, 'big')).digest()
        out.append(block[:size])
        size -= len(block)
        counter += 1
    return b''.join(out)


def interpreter_archive(version='3.12.1', marker='old', pad=0, runs=None):
    return gz(_tar(interpreter_members(version, marker, pad, runs=runs)))


def hostile_archive(kind, outside, runs=None):
    """A small tar.gz that a PBS install must refuse; ``outside`` is a directory it aims at.

    Every archive starts like a real stand-in interpreter, then adds its hostile member(s).
    """
    members = interpreter_members(marker='hostile-%s' % kind, runs=runs)
    rel_outside = os.path.relpath(outside, '/')
    if kind == 'absolute':
        members.append(entry(os.path.join(outside, 'absolute-pwned'), data=b'pwned\n'))
    elif kind == 'dotdot':
        members.append(entry('python/../../../../../../../../../../%s/dotdot-pwned' % rel_outside, data=b'pwned\n'))
    elif kind == 'symlink':
        members.append(entry('python/lib/escape', tarfile.SYMTYPE, linkname='../' * 12 + rel_outside, mode=0o777))
        members.append(entry('python/lib/escape/symlink-pwned', data=b'pwned\n'))
    elif kind == 'symlink-absolute':
        members.append(entry('python/lib/escape', tarfile.SYMTYPE, linkname=outside, mode=0o777))
        members.append(entry('python/lib/escape/symlink-pwned', data=b'pwned\n'))
    elif kind == 'hardlink':
        members.append(entry('python/lib/hard', tarfile.LNKTYPE, linkname=os.path.join(outside, 'victim')))
    elif kind == 'hardlink-dotdot':
        members.append(entry('python/lib/hard', tarfile.LNKTYPE,
                             linkname='python/../' + '../' * 12 + rel_outside + '/victim'))
    elif kind == 'device':
        members.append(entry('python/lib/null', tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3))
    elif kind == 'fifo':
        members.append(entry('python/lib/fifo', tarfile.FIFOTYPE, mode=0o644))
    elif kind == 'outside-python':
        members.append(entry('etc/cron.d/outside-python-pwned', data=b'* * * * * root true\n'))
    else:
        raise ValueError(kind)
    return gz(_tar(members))


def many_members_archive(count, runs=None):
    """A stand-in interpreter followed by ``count`` headers for the directory ``python/``.

    Cheap to build and to store (identical header blocks compress to almost nothing), yet every
    header is a member the extractor has to count.
    """
    head = _strip_end(_tar(interpreter_members(marker='many', runs=runs)))
    one, dummy = entry('python/', tarfile.DIRTYPE, mode=0o755)
    header = one.tobuf(tarfile.GNU_FORMAT, 'utf-8', 'surrogateescape')
    assert len(header) == BLOCK
    return gz(head + header * count + b'\0' * (2 * BLOCK))


def _strip_end(tar_bytes):
    """The tar stream without its trailing zero blocks, so more members can follow."""
    end = len(tar_bytes)
    while end >= BLOCK and tar_bytes[end - BLOCK:end] == b'\0' * BLOCK:
        end -= BLOCK
    return tar_bytes[:end]


def bomb_archive(declared=5 << 30, chunk=64 << 20):
    """A decompression bomb: one member of ``declared`` bytes of zeros, a few MB on the wire.

    Concatenated gzip members are legal gzip; one compressed 64 MiB run of zeros repeated makes
    the whole ``declared`` payload, so the archive really inflates to more than the limit.
    """
    head = _strip_end(_tar(interpreter_members(marker='bomb')))
    info, dummy = entry('python/lib/bomb.bin')
    info.size = declared
    header = info.tobuf(tarfile.GNU_FORMAT, 'utf-8', 'surrogateescape')
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = compressor.compress(b'\0' * chunk) + compressor.flush()
    copies, rest = divmod(declared, chunk)
    parts = [gz(head + header)] + [zeros] * copies
    if rest:
        parts.append(gz(b'\0' * rest))
    parts.append(gz(b'\0' * ((-declared) % BLOCK + 2 * BLOCK)))
    return b''.join(parts)


def truncated(data, keep=0.5):
    return data[:max(1, int(len(data) * keep))]
