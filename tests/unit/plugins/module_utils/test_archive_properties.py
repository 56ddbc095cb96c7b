# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests of the tar reader: hypothesis writes the hostile archives.

Everything before the end of the stream is unverified (the digest is known only then), so for
any stream whatsoever the reader must keep three promises: nothing is written outside the
destination, the only error is its own ``ArchiveError``, and memory stays bounded. The streams
are raw tar headers with any names (``..``, absolute, over 255 bytes), types (links out of the
tree, devices, FIFOs, pax and GNU long-name headers), modes, sizes and mtimes (octal, base-256
up to 2**88, negative), pax records of any key and length (up to 1 MiB), cut anywhere, gzipped
or not, or plain random bytes.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import os
import shutil
import stat
import tempfile
import tracemalloc

from hypothesis import HealthCheck, event, given, settings, strategies as st

from ansible_collections.pbs.python.plugins.module_utils._archive import (
    ArchiveError, MAX_METADATA, MAX_METADATA_TOTAL, extract_tar_gz,
)

CHUNK = 64 << 10
# The pipeline's two queues hold four chunks each, plus the current ones, plus at most 64 KiB of
# metadata for one member (about 0.7 MiB in all). Before the caps, one 1 MiB pax header after
# another piled up in memory until the digest check (~340 MiB for 300 of them).
MEMORY_BOUND = 2 << 20
ABS = '@ABS@'  # replaced by the absolute path of the directory outside the destination
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# --- hostile tar streams ----------------------------------------------------------------------

def number_field(value, length):
    """A tar number as tar writers store it: octal text, else GNU base-256 (0x80, or 0xff if negative)."""
    if 0 <= value < 8 ** (length - 1):
        return b'%0*o\x00' % (length - 1, value)
    if value >= 0:
        return b'\x80' + (value % 256 ** (length - 1)).to_bytes(length - 1, 'big')
    return (256 ** length + max(value, -256 ** (length - 1))).to_bytes(length, 'big')


def header(name, kind, size, mode, mtime, linkname, raw_checksum=None):
    block = bytearray(512)

    def put(offset, length, value):
        value = value[:length]
        block[offset:offset + len(value)] = value

    put(0, 100, name)
    put(100, 8, number_field(mode, 8) if isinstance(mode, int) else mode)
    put(108, 8, b'0000000\x00')
    put(116, 8, b'0000000\x00')
    put(124, 12, number_field(size, 12) if isinstance(size, int) else size)
    put(136, 12, number_field(mtime, 12) if isinstance(mtime, int) else mtime)
    put(148, 8, b' ' * 8)
    put(156, 1, kind)
    put(157, 100, linkname)
    put(257, 8, b'ustar\x0000')
    put(148, 8, raw_checksum if raw_checksum is not None else b'%06o\x00 ' % sum(block))
    return bytes(block)


def pax_record(key, value):
    body = b' ' + key + b'=' + value + b'\n'
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return str(length).encode() + body


COMPONENTS = st.sampled_from(['python', 'python', 'python', 'bin', 'lib', 'python3.12', 'a', '.', '..', '',
                              'n' * 256, '\x00', 'caf\xe9', 'outside'])
NAMES = st.one_of(
    st.lists(COMPONENTS, max_size=4).map(lambda parts: '/'.join(['python'] + parts)),
    st.lists(COMPONENTS, max_size=4).map(lambda parts: '/'.join(['python'] + parts)),
    st.lists(COMPONENTS, min_size=1, max_size=6).map('/'.join),
    st.lists(COMPONENTS, max_size=3).map(lambda parts: '/'.join([ABS] + parts)),
    st.sampled_from(['python/', 'python/bin/python3.12', 'python/lib/x', 'python/lib']),
)
LINK_TARGETS = st.one_of(
    NAMES,
    st.integers(1, 8).map(lambda up: '../' * up + 'outside/victim'),
    st.sampled_from([ABS, ABS + '/victim', 'python/lib/x', 'x', 'lib', '.', '', 'd/' * 2100]),
)
BIG = st.builds(lambda byte, count: byte * count, st.sampled_from([b'x', b'\x00', b'9', b'/']),
                st.integers(0, 300 << 10))  # over the 64 KiB cap of metadata, cheap to build
DATA = st.one_of(st.binary(max_size=700), BIG)
PAX_KEYS = st.one_of(st.sampled_from([b'path', b'linkpath', b'size', b'mtime', b'comment', b'GNU.sparse.map',
                                      b'hdrcharset', b'SCHILY.xattr.user.x']), st.binary(max_size=12))
PAX_VALUES = st.one_of(NAMES.map(lambda name: name.encode('utf-8', 'surrogatepass')), st.binary(max_size=40),
                       st.integers(-2 ** 70, 2 ** 70).map(lambda n: str(n).encode()), BIG)
PAX_RECORDS = st.lists(st.tuples(PAX_KEYS, PAX_VALUES), max_size=4)
HOSTILE_NUMBERS = st.one_of(st.integers(-2 ** 90, 2 ** 90), st.sampled_from([-1, 2 ** 33, 2 ** 34, 2 ** 80, 8 ** 11]),
                            st.binary(min_size=12, max_size=12))
KINDS = st.sampled_from([b'0', b'0', b'0', b'5', b'5', b'2', b'1', b'x', b'x', b'L', b'K', b'g', b'7', b'\x00',
                         b'3', b'4', b'6', b'S', b'Z'])


@st.composite
def members(draw):
    """One member as a spec; ``build`` writes it once the outside directory is known."""
    kind = draw(KINDS)
    records = draw(PAX_RECORDS) if kind in (b'x', b'g') and draw(st.integers(0, 3)) else None
    if records is not None:
        data = None
    elif kind in (b'0', b'7', b'\x00', b'x', b'g', b'L', b'K') or not draw(st.integers(0, 5)):
        data = draw(DATA)
    else:  # links and directories have no data in a sane archive
        data = b''
    size = None if draw(st.integers(0, 15)) else draw(HOSTILE_NUMBERS)  # None: the true size
    mode = draw(st.integers(0, 0o7777)) if draw(st.integers(0, 15)) else draw(HOSTILE_NUMBERS)
    mtime = draw(st.integers(0, 2 ** 33)) if draw(st.integers(0, 15)) else draw(HOSTILE_NUMBERS)
    checksum = None if draw(st.integers(0, 20)) else draw(st.binary(min_size=8, max_size=8))
    return (draw(NAMES), kind, size, mode, mtime, draw(LINK_TARGETS), checksum, records, data)


def build_member(spec, outside):
    name, kind, size, mode, mtime, linkname, checksum, records, data = spec

    def encode(text):
        return text.replace(ABS, outside).encode('utf-8', 'surrogatepass')
    if records is not None:
        data = b''.join(pax_record(key, value.replace(ABS.encode(), outside.encode())) for key, value in records)
    block = header(encode(name), kind, len(data) if size is None else size, mode, mtime, encode(linkname), checksum)
    return block + data + b'\x00' * (-len(data) % 512)


GOOD_START = [(u'python/', b'5', None, 0o755, 1723600000, u'', None, None, b''),
              (u'python/bin/python3.12', b'0', None, 0o755, 1723600000, u'', None, None, b'#!\n')]


@st.composite
def streams(draw):
    """(how, what): random bytes, or member specs with the tar's end and where to cut it; ``how``
    says whether to gzip. See ``Layout.materialize``."""
    how = draw(st.sampled_from(['tar.gz'] * 12 + ['plain', 'random', 'random.gz']))
    if how.startswith('random'):
        return how, draw(st.binary(max_size=3000))
    specs = (GOOD_START if draw(st.booleans()) else []) + draw(st.lists(members(), min_size=1, max_size=6))
    end = bool(draw(st.integers(0, 5)))
    cut = None if draw(st.integers(0, 5)) else draw(st.floats(0, 1))
    return how, (specs, end, cut)


# --- the invariants ---------------------------------------------------------------------------

class Layout(object):
    """``root/outside/victim`` (what hostile names aim at) beside ``root/parent/dest``."""

    def __init__(self, base):
        self.root = tempfile.mkdtemp(dir=base)
        self.outside = os.path.join(self.root, 'outside')
        self.dest = os.path.join(self.root, 'parent', 'dest')
        os.makedirs(self.outside)
        os.makedirs(self.dest)
        self.victim = os.path.join(self.outside, 'victim')
        with open(self.victim, 'w') as handle:
            handle.write('do not touch\n')

    def materialize(self, how, what):
        """The stream to feed the reader, with ``ABS`` replaced by this layout's outside directory."""
        if how.startswith('random'):
            payload = what
        else:
            specs, end, cut = what
            payload = b''.join(build_member(spec, self.outside) for spec in specs) + (b'\x00' * 1024 if end else b'')
            if cut is not None:
                payload = payload[:int(len(payload) * cut)]
        return gzip.compress(payload, 1) if how.endswith('gz') else payload

    def assert_contained(self, succeeded):
        assert sorted(os.listdir(self.root)) == ['outside', 'parent']
        assert os.listdir(os.path.join(self.root, 'parent')) == ['dest']
        assert os.listdir(self.outside) == ['victim']
        info = os.lstat(self.victim)
        assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and stat.S_IMODE(info.st_mode) == 0o644
        with open(self.victim) as handle:
            assert handle.read() == 'do not touch\n'
        real = os.path.realpath(self.dest)
        for directory, dirs, files in os.walk(self.dest):
            for name in dirs + files:
                path = os.path.join(directory, name)
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    # Chains are checked once the tree is complete; a refused archive's staging is deleted.
                    if succeeded:
                        assert os.path.realpath(path) == real or os.path.realpath(path).startswith(real + os.sep)
                elif stat.S_ISDIR(mode):
                    assert stat.S_IMODE(mode) == 0o755, path
                else:
                    assert stat.S_ISREG(mode), path
                    assert stat.S_IMODE(mode) in (0o644, 0o755), path


def extract_bounded(layout, data):
    """Extract; return (stats or the ArchiveError, peak traced memory in bytes)."""
    read = iter_reader(data)
    tracemalloc.start()
    try:
        try:
            outcome = extract_tar_gz(read, layout.dest, chunk=CHUNK)
        except ArchiveError as exc:  # any other exception fails the test
            outcome = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, peak


def iter_reader(data):
    view = memoryview(data)
    position = [0]

    def read(size):
        start = position[0]
        position[0] = min(len(view), start + size)
        return bytes(view[start:position[0]])
    return read


@SETTINGS
@given(data=streams())
def test_any_stream_is_extracted_inside_or_refused_with_an_archive_error_in_bounded_memory(tmp_path, data):
    layout = Layout(str(tmp_path))
    try:
        outcome, peak = extract_bounded(layout, layout.materialize(*data))
        event('refused: %s' % str(outcome).split("'", maxsplit=1)[0][:40] if isinstance(outcome, ArchiveError) else 'extracted')
        layout.assert_contained(succeeded=not isinstance(outcome, ArchiveError))
        assert peak < MEMORY_BOUND, peak
    finally:
        shutil.rmtree(layout.root)


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(count=st.integers(2, 400), size=st.integers(1 << 10, 1 << 20), interleave=st.booleans())
def test_pax_headers_cost_bounded_memory_however_many(tmp_path, count, size, interleave):
    """Big pax headers with a key the reader does not use, one after another or one per member."""
    count = min(count, (24 << 20) // size)  # enough to pass the 16 MiB total cap, cheap to build
    layout = Layout(str(tmp_path))
    try:
        record = pax_record(b'comment', b'x' * size)
        one = header(b'././@PaxHeader', b'x', len(record), 0o644, 0, b'') + record + b'\x00' * (-len(record) % 512)
        member = header(b'python/', b'5', 0, 0o755, 0, b'') if interleave else b''
        outcome, peak = extract_bounded(layout, gzip.compress((one + member) * count + b'\x00' * 1024, 1))
        if isinstance(outcome, ArchiveError):
            assert 'metadata' in str(outcome), outcome
        else:  # headers under the caps: a valid archive (of directories)
            assert (1 if interleave else count) * len(record) <= MAX_METADATA
            assert count * len(record) <= MAX_METADATA_TOTAL
        assert peak < MEMORY_BOUND, peak
        layout.assert_contained(succeeded=not isinstance(outcome, ArchiveError))
    finally:
        shutil.rmtree(layout.root)
