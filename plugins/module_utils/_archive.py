# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stream a .tar.gz into a directory in one pass: hash, inflate and extract concurrently.

Why not tarfile: hosts run Python 3.8+ where ``tarfile``'s ``filter=`` is often missing, its
stream mode costs about twice the work of this reader, and an install must refuse hostile
members (absolute names, ``..``, escaping links, devices, bombs) itself. A PBS archive only
needs directories, regular files, symlinks and hardlinks, so the reader accepts exactly those.

Three stages overlap: the caller's ``read`` plus sha256 (I/O and hashlib release the GIL), zlib
inflation (releases the GIL) and the tar writer in the calling thread. Queues are bounded, so
memory stays at a few MiB whatever the archive size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import posixpath
import threading
import zlib

try:
    import queue
except ImportError:  # pragma: no cover
    import Queue as queue  # type: ignore

CHUNK = 1 << 20
BLOCK = 512
QUEUE_DEPTH = 4
DEFAULT_MAX_MEMBERS = 100000
DEFAULT_MAX_BYTES = 4 << 30  # a PBS install_only tree is ~100-300 MB unpacked
MAX_METADATA = 1 << 20  # pax and GNU long-name headers hold a path or two
_GZIP_MAGIC = b'\x1f\x8b'
_END = object()
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_UTIME_FD = os.utime in getattr(os, 'supports_fd', set())
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)


class ArchiveError(Exception):
    """The archive is corrupt, hostile or too large. Nothing was written outside the destination.

    ``transient`` marks a stream that merely ended early, which a new download may fix.
    """

    def __init__(self, message, transient=False):
        super(ArchiveError, self).__init__(message)
        self.transient = transient


def member_path(name, top='python'):
    """Relative path inside the install for an archive member name, or ArchiveError.

    PBS archives hold exactly one top directory; anything else is not an interpreter we pinned.
    """
    if '\x00' in name:
        raise ArchiveError("archive member %r has a NUL byte in its name" % name)
    if name.startswith('/'):
        raise ArchiveError("archive member %r has an absolute path" % name)
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if '..' in parts:
        raise ArchiveError("archive member %r contains '..'" % name)
    if not parts or parts[0] != top:
        raise ArchiveError("archive member %r lies outside the archive's %s/ directory: this is not "
                           "a PBS install_only archive" % (name, top))
    return '/'.join(parts[1:])


def symlink_stays_inside(relpath, target):
    """True when a symlink at ``relpath`` pointing at ``target`` resolves inside the root."""
    if not target or target.startswith('/') or '\x00' in target:
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target))
    return resolved != '..' and not resolved.startswith('../')


def _number(field):
    if field[:1] and ord(field[:1]) & 0x80:  # GNU base-256 for sizes above 8 GiB
        value = 0
        for byte in bytearray(field[1:]):
            value = (value << 8) | byte
        return value
    text = field.split(b'\x00', 1)[0].strip()
    value = int(text, 8) if text else 0
    if value < 0:  # a negative size would make the reader spin forever
        raise ArchiveError("the archive has a negative number in a tar header")
    return value


def _text(field):
    return field.split(b'\x00', 1)[0].decode('utf-8', 'surrogateescape')


def _checksum_ok(header):
    stored = _number(header[148:156])
    unsigned = sum(bytearray(header[:148])) + 256 + sum(bytearray(header[156:]))
    return stored == unsigned


def _pax_records(data):
    """Parse pax extended-header records ("<len> key=value\\n")."""
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b' ', pos)
        if space < 0:
            break
        length = int(data[pos:space])
        if length <= 0:
            raise ArchiveError("malformed pax header in archive")
        key, dummy, value = data[space + 1:pos + length - 1].partition(b'=')
        records[key.decode('utf-8', 'replace')] = value.decode('utf-8', 'surrogateescape')
        pos += length
    return records


class _Pipeline(object):
    """Producer threads: read+hash, then inflate; the consumer pulls inflated chunks."""

    def __init__(self, read, chunk=CHUNK):
        self._read = read
        self._chunk = chunk
        self._raw = queue.Queue(QUEUE_DEPTH)
        self._inflated = queue.Queue(QUEUE_DEPTH)
        self._stop = threading.Event()
        self.error = None
        self.sha256 = hashlib.sha256()
        self.compressed_bytes = 0
        self._head = b''
        self._threads = [threading.Thread(target=self._guard, args=(fn,)) for fn in (self._fetch, self._inflate)]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def _guard(self, fn):
        try:
            fn()
        except BaseException as exc:  # pylint: disable=broad-except  # handed to the consumer
            if self.error is None:
                self.error = exc
            self._stop.set()
            self._inflated_put(_END)

    def _put(self, q, item):
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _inflated_put(self, item):
        try:
            self._inflated.put_nowait(item)
        except queue.Full:
            pass

    def _fetch(self):
        while not self._stop.is_set():
            data = self._read(self._chunk)
            if not data:
                break
            self.sha256.update(data)
            self.compressed_bytes += len(data)
            if len(self._head) < 64:
                self._head += data[:64]
            if not self._put(self._raw, data):
                return
        self._put(self._raw, _END)

    def _inflate(self):
        inflater = zlib.decompressobj(31)
        first = True
        magic = b''
        while True:
            try:
                data = self._raw.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if data is _END:
                break
            if len(magic) < 2:  # a read may return fewer bytes than the magic
                magic += data[:2 - len(magic)]
                if not _GZIP_MAGIC.startswith(magic):
                    raise ArchiveError(self._not_gzip())
            first = False
            while data:
                if inflater.eof:  # concatenated gzip members are legal; trailing zeros are padding
                    if not data.strip(b'\x00'):
                        break
                    inflater = zlib.decompressobj(31)
                try:
                    out = inflater.decompress(data, self._chunk)
                except zlib.error as exc:
                    raise ArchiveError("the archive is not valid gzip (%s)" % exc)
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                if out and not self._put(self._inflated, out):
                    return
        if first:
            raise ArchiveError("the download was empty")
        if not inflater.eof:
            raise ArchiveError("the archive is truncated: the gzip stream ends early after %d bytes "
                               "(interrupted download or incomplete file on the mirror)" % self.compressed_bytes,
                               transient=True)
        self._put(self._inflated, _END)

    def _not_gzip(self):
        head = self._head[:40]
        hint = ''
        if head.lstrip()[:1] == b'<':
            hint = ': the server sent an HTML/XML page, not the archive (an error page or a login portal?)'
        return "the download is not a gzip archive (it starts with %r)%s" % (head, hint)

    def get(self):
        while True:
            try:
                item = self._inflated.get(timeout=0.2)
            except queue.Empty:
                if self.error is not None:
                    item = _END
                else:
                    continue
            if item is _END:
                if self.error is not None:
                    raise self.error
                return None
            return item

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


class _Reader(object):
    """Byte-exact reads over the inflated chunk stream, without joining chunks for file data."""

    def __init__(self, pipeline):
        self._pipeline = pipeline
        self._view = memoryview(b'')
        self._pos = 0

    def _more(self):
        chunk = self._pipeline.get()
        if chunk is None:
            return False
        self._view, self._pos = memoryview(chunk), 0
        return True

    def take(self, size):
        """Yield memoryview pieces totalling ``size`` bytes, or ArchiveError if the stream ends."""
        if size < 0:
            raise ArchiveError("the archive has a negative member size")
        while size:
            if self._pos >= len(self._view) and not self._more():
                raise ArchiveError("the archive is truncated: the tar stream ends inside a member",
                                   transient=True)
            piece = self._view[self._pos:self._pos + size]
            self._pos += len(piece)
            size -= len(piece)
            yield piece

    def read(self, size):
        return b''.join(bytes(piece) for piece in self.take(size))

    def drain(self, limit, max_bytes):
        """Consume the rest of the stream, inflating at most ``limit`` more bytes."""
        while self._more():
            limit -= len(self._view)
            if limit < 0:
                raise ArchiveError("the archive unpacks to more than %d MiB: refusing it as a likely "
                                   "decompression bomb" % (max_bytes >> 20))


class _Extractor(object):
    """Write members under ``dest`` refusing anything a PBS install_only archive never contains."""

    def __init__(self, dest, top, max_members, max_bytes):
        self.dest = dest
        self.top = top
        self.max_members = max_members
        self.max_bytes = max_bytes
        self.members = 0
        self.bytes = 0
        self.dirs = {''}
        self.files = set()
        self.symlinks = {}
        self.dir_modes = {}

    def path(self, rel):
        return os.path.join(self.dest, rel) if rel else self.dest

    def count_member(self):
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveError("the archive has more than %d members: refusing it as a likely "
                               "archive bomb" % self.max_members)

    def count_bytes(self, size):
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise ArchiveError("the archive unpacks to more than %d MiB: refusing it as a likely "
                               "decompression bomb" % (self.max_bytes >> 20))

    def ensure_dir(self, rel):
        missing = []
        while rel not in self.dirs:  # a loop, not recursion: member paths can be thousands deep
            if rel in self.symlinks or rel in self.files:
                raise ArchiveError("archive member %s/%s is used as a directory but is not one" % (self.top, rel))
            missing.append(rel)
            rel = posixpath.dirname(rel)
        for rel in reversed(missing):
            os.mkdir(self.path(rel), 0o755)
            if _UMASK & 0o755:
                os.chmod(self.path(rel), 0o755)
            self.dirs.add(rel)

    def fresh(self, rel):
        """Prepare a path for a new non-directory member; duplicates are refused."""
        if not rel:
            raise ArchiveError("archive member %s/ is not a directory" % self.top)
        if rel in self.dirs or rel in self.files or rel in self.symlinks:
            raise ArchiveError("archive member %s/%s appears twice" % (self.top, rel))
        self.ensure_dir(posixpath.dirname(rel))
        return self.path(rel)

    def directory(self, rel, mode):
        self.ensure_dir(rel)
        self.dir_modes[rel] = mode

    def regular(self, rel, mode, mtime, pieces):
        fd = os.open(self.fresh(rel), _OPEN_FLAGS, mode)
        try:
            for piece in pieces:
                while piece:
                    written = os.write(fd, piece)
                    piece = piece[written:]
            if mode & _UMASK:
                os.fchmod(fd, mode)
            if _UTIME_FD:  # keeps .pyc files valid: they record the source mtime
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)
        if not _UTIME_FD:
            os.utime(self.path(rel), (mtime, mtime))
        self.files.add(rel)

    def symlink(self, rel, target):
        if not symlink_stays_inside(rel, target):
            raise ArchiveError("archive member %s/%s is a symlink to %r, which leaves the install "
                               "directory" % (self.top, rel, target))
        os.symlink(target, self.fresh(rel))
        self.symlinks[rel] = target

    def hardlink(self, rel, linkname):
        source = member_path(linkname, self.top)
        if source not in self.files:
            raise ArchiveError("archive member %s/%s is a hard link to %r, which is not a file "
                               "extracted before it" % (self.top, rel, linkname))
        os.link(self.path(source), self.fresh(rel))
        self.files.add(rel)

    def finish(self):
        """Check links against the real tree (symlink chains can defeat lexical checks), set modes."""
        real_dest = os.path.realpath(self.dest)
        for rel in self.symlinks:
            resolved = os.path.realpath(self.path(rel))
            if resolved != real_dest and not resolved.startswith(real_dest + os.sep):
                raise ArchiveError("archive member %s/%s is a symlink that resolves outside the "
                                   "install directory" % (self.top, rel))
        for rel in sorted(self.dir_modes, reverse=True):
            if self.dir_modes[rel] != 0o755:
                os.chmod(self.path(rel), self.dir_modes[rel])


def _extract_members(reader, extractor):
    pending = {}
    while True:
        header = reader.read(BLOCK)
        if header == b'\x00' * BLOCK:
            return
        if not _checksum_ok(header):
            raise ArchiveError("the archive is not a valid tar stream (bad header checksum at "
                               "member %d)" % (extractor.members + 1))
        kind = header[156:157]
        size = _number(header[124:136])
        extractor.count_member()
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        if kind in (b'x', b'L', b'K', b'g'):
            if size > MAX_METADATA:
                raise ArchiveError("archive member %d has a %d-byte metadata header: refusing it"
                                   % (extractor.members, size))
            data = reader.read(padded)[:size]
            if kind == b'x':
                pending.update(_pax_records(data))
            elif kind == b'L':
                pending['path'] = _text(data)
            elif kind == b'K':
                pending['linkpath'] = _text(data)
            continue
        name = _text(header[0:100])
        if header[257:263] == b'ustar\x00' and header[345:500].strip(b'\x00'):
            name = _text(header[345:500]) + '/' + name
        name = pending.pop('path', name)
        linkname = pending.pop('linkpath', _text(header[157:257]))
        if 'size' in pending:
            size = int(pending.pop('size'))
            if size < 0:
                raise ArchiveError("the archive has a negative size in a pax header")
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
        pending.clear()
        rel = member_path(name, extractor.top)
        mode = _number(header[100:108]) & 0o777
        if kind in (b'0', b'\x00', b'7'):
            extractor.count_bytes(size)
            extractor.regular(rel, mode | 0o600, _number(header[136:148]), reader.take(size))
            for dummy in reader.take(padded - size):
                pass
        elif kind == b'5':
            extractor.directory(rel, mode | 0o700)
        elif kind == b'2':
            extractor.symlink(rel, linkname)
        elif kind == b'1':
            extractor.hardlink(rel, linkname)
        else:
            kinds = {b'3': 'a character device', b'4': 'a block device', b'6': 'a FIFO', b'S': 'a sparse file'}
            raise ArchiveError("archive member %r is %s: PBS archives hold only files, directories "
                               "and links" % (name, kinds.get(kind, 'of tar type %r' % kind)))


def extract_tar_gz(read, dest, top='python', max_members=DEFAULT_MAX_MEMBERS, max_bytes=DEFAULT_MAX_BYTES,
                   chunk=CHUNK, close=None):
    """Extract the gzip'd tar produced by ``read(n)`` into the existing empty directory ``dest``.

    Returns the stats of the pass, including the sha256 of the *compressed* bytes, which the
    caller compares with the pin before the tree is used. The whole stream is always consumed so
    the digest covers every byte, even when the tar end marker comes early. ``close`` (the
    source's) is called before the reader thread is joined, so a refused archive does not wait
    for a blocked read.
    """
    pipeline = _Pipeline(read, chunk)
    try:
        reader = _Reader(pipeline)
        extractor = _Extractor(dest, top, max_members, max_bytes)
        try:
            _extract_members(reader, extractor)
        except ValueError as exc:  # a non-numeric tar or pax number field
            raise ArchiveError("the archive is not a valid tar stream (%s)" % exc)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a host fault, not the archive's
                message = ("no space left on the device while extracting into %s after %d MiB (free some space "
                           "or choose another install_root)" % (os.path.dirname(dest), extractor.bytes >> 20))
                raise OSError(exc.errno, message)
            raise
        reader.drain(max_bytes - extractor.bytes, max_bytes)
        extractor.finish()
        if not extractor.members:
            raise ArchiveError("the archive holds no files")
        return {
            'sha256': pipeline.sha256.hexdigest(),
            'compressed_bytes': pipeline.compressed_bytes,
            'members': extractor.members,
            'bytes': extractor.bytes,
        }
    finally:
        if close is not None:
            close()
        pipeline.close()
