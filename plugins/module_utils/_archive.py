# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stream a .tar.gz into a directory in one pass: hash, inflate and extract concurrently.

Why not tarfile: hosts run Python 3.8+ where ``tarfile``'s ``filter=`` is often missing, its
stream mode costs about twice the work of this reader, and an install must refuse hostile
members (absolute names, ``..``, escaping links, devices, bombs) itself. A PBS archive only
needs directories, regular files, symlinks and hardlinks, so the reader accepts exactly those.

Modes follow the rules of tarfile's ``data`` filter (PEP 706), made deterministic: directories are
0755, files 0644, or 0755 when the owner may execute them, whatever the archive says (0777, setuid,
sticky) and whatever the umask. Owners are the running user's. Everything before the end of the
stream is unverified input (the digest is known only then), so metadata is bounded per member and
per archive, and only the pax keys this reader uses are kept.

With ``manifest`` (a dict), the writer also records every path it creates (see _manifest): each
regular file's sha256 is computed from the pieces as they are written, so the manifest costs no
second read of the tree.

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

from ansible_collections.pbs.python.plugins.module_utils import _manifest
from ansible_collections.pbs.python.plugins.module_utils._files import DIR_MODE, file_mode

import queue

CHUNK = 1 << 20
BLOCK = 512
QUEUE_DEPTH = 4
DEFAULT_MAX_MEMBERS = 100000
DEFAULT_MAX_BYTES = 4 << 30  # a PBS install_only tree is ~100-300 MB unpacked
# pax and GNU long-name headers of one member hold a path and a link target, each under PATH_MAX
# (4 KiB on Linux), plus a few short records (mtime, uid, uname...): 64 KiB is 16 times that, and
# what one member may hold in memory at once.
MAX_METADATA = 64 << 10
# A real install_only archive carries well under 1 MiB of pax/long-name data (one header per path
# over 100 bytes); the total cap bounds the time spent on metadata that a hostile archive repeats.
MAX_METADATA_TOTAL = 16 << 20
# mtimes past 2**34 s (the year 2514) mean nothing and overflow utime on some hosts.
MAX_MTIME = 1 << 34
# After the gzip stream: zero padding and empty gzip members, which inflate to nothing but cost
# time, are allowed only up to this many bytes (tar and gzip pad to blocks of at most 10 KiB).
MAX_PADDING = 1 << 20
_PAX_KEYS = frozenset([b'path', b'linkpath', b'size'])  # all the reader uses; every other key is dropped
_GZIP_MAGIC = b'\x1f\x8b'
_END = object()
# What an archive's content (not the host) can make the filesystem refuse while extracting.
_CONTENT_ERRNOS = frozenset([errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.EMLINK, errno.EINVAL, errno.EOVERFLOW, errno.EILSEQ])
_UTIME_FD = os.utime in getattr(os, 'supports_fd', set())
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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
    """A tar number field: octal text, or GNU base-256 (first byte 0x80; 0xff marks a negative)."""
    if field[:1] and ord(field[:1]) & 0x80:  # GNU base-256 for sizes above 8 GiB
        if field[:1] != b'\x80':
            raise ArchiveError("the archive has a negative number in a tar header")
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
    """The records of a pax extended header ("<len> key=value\\n") that the reader uses.

    Other keys are dropped as they are parsed, so a header cannot make the reader hold more than
    the path, link target and size of one member.
    """
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b' ', pos, pos + 21)  # a length of 20 digits is already absurd
        digits = data[pos:space] if space > pos else b''
        end = pos + int(digits) if digits.isdigit() else pos
        if space < 0 or end <= space or end > len(data):
            raise ArchiveError("malformed pax header in archive")
        key, dummy, value = data[space + 1:end - 1].partition(b'=')
        if key in _PAX_KEYS:
            records[key.decode('ascii')] = value.decode('utf-8', 'surrogateescape')
        pos = end
    return records


def _pax_size(text):
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # isdigit alone accepts other scripts' digits
        raise ArchiveError("the archive has an unusable size %r in a pax header" % text[:40])
    return int(text)


class _Pipeline(object):
    """Producer threads: read+hash, then inflate; the consumer pulls inflated chunks."""

    def __init__(self, read, chunk=CHUNK, max_compressed=DEFAULT_MAX_BYTES):
        self._read = read
        self._chunk = chunk
        self._max_compressed = max_compressed
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
            if self.compressed_bytes > self._max_compressed:  # an endless body: bounded whatever it holds
                raise ArchiveError("the download is larger than %d MiB, more than the archive may hold unpacked"
                                   % (self._max_compressed >> 20))
            if len(self._head) < 64:
                self._head += data[:64]
            if not self._put(self._raw, data):
                return
        self._put(self._raw, _END)

    def _inflate(self):
        inflater = zlib.decompressobj(31)
        first = True
        magic = b''
        padding = member_in = member_out = 0
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
                        padding = self._pad(padding, len(data))
                        break
                    inflater = zlib.decompressobj(31)
                    member_in = member_out = 0
                try:
                    out = inflater.decompress(data, self._chunk)
                except zlib.error as exc:
                    raise ArchiveError("the archive is not valid gzip (%s)" % exc)
                rest = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                member_in, member_out = member_in + len(data) - len(rest), member_out + len(out)
                if inflater.eof and not member_out:  # an empty member: padding, however it is spelled
                    padding = self._pad(padding, member_in)
                data = rest
                if out and not self._put(self._inflated, out):
                    return
        if first:
            raise ArchiveError("the download was empty")
        if not inflater.eof:
            raise ArchiveError("the archive is truncated: the gzip stream ends early after %d bytes "
                               "(interrupted download or incomplete file on the mirror)" % self.compressed_bytes,
                               transient=True)
        self._put(self._inflated, _END)

    @staticmethod
    def _pad(padding, size):
        padding += size
        if padding > MAX_PADDING:
            raise ArchiveError("more than %d KiB of padding or empty gzip members around the archive: refusing "
                               "it as a likely time bomb" % (MAX_PADDING >> 10))
        return padding

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

    def __init__(self, dest, top, max_members, max_bytes, manifest=None):
        self.dest = dest
        self.manifest = manifest
        self.top = top
        self.max_members = max_members
        self.max_bytes = max_bytes
        self.members = 0
        self.bytes = 0
        self.dirs = {''}
        self.files = set()
        self.symlinks = {}
        self.metadata = 0

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

    def count_metadata(self, size, member):
        """Refuse a member whose pax/long-name headers, or an archive whose headers in all, are too big."""
        self.metadata += size
        if member > MAX_METADATA:
            raise ArchiveError("archive member %d has %d bytes of metadata headers (pax or GNU long names): "
                               "refusing it; a real member's headers hold a path or two, under %d KiB"
                               % (self.members, member, MAX_METADATA >> 10))
        if self.metadata > MAX_METADATA_TOTAL:
            raise ArchiveError("the archive has more than %d MiB of metadata headers (pax or GNU long names): "
                               "refusing it as a likely archive bomb" % (MAX_METADATA_TOTAL >> 20))

    def ensure_dir(self, rel):
        missing = []
        while rel not in self.dirs:  # a loop, not recursion: member paths can be thousands deep
            if rel in self.symlinks or rel in self.files:
                raise ArchiveError("archive member %s/%s is used as a directory but is not one" % (self.top, rel))
            missing.append(rel)
            rel = posixpath.dirname(rel)
        for rel in reversed(missing):
            os.mkdir(self.path(rel), DIR_MODE)
            os.chmod(self.path(rel), DIR_MODE)  # not mkdir's mode: the umask would take bits away
            self.dirs.add(rel)
            if self.manifest is not None:
                self.manifest[rel] = _manifest.directory()

    def fresh(self, rel):
        """Prepare a path for a new non-directory member; duplicates are refused."""
        if not rel:
            raise ArchiveError("archive member %s/ is not a directory" % self.top)
        if rel in self.dirs or rel in self.files or rel in self.symlinks:
            raise ArchiveError("archive member %s/%s appears twice" % (self.top, rel))
        self.ensure_dir(posixpath.dirname(rel))
        return self.path(rel)

    def directory(self, rel):
        """Directories are 0755 whatever the archive says: one writable by others lets anyone swap files."""
        self.ensure_dir(rel)

    def regular(self, rel, mode, mtime, pieces):
        if not 0 <= mtime < MAX_MTIME:
            raise ArchiveError("archive member %s/%s has an unusable mtime %d" % (self.top, rel, mtime))
        fd = os.open(self.fresh(rel), _OPEN_FLAGS, 0o600)
        digest = hashlib.sha256() if self.manifest is not None else None
        size = 0
        try:
            os.fchmod(fd, file_mode(mode))  # explicit: neither the archive's bits nor the umask decide
            for piece in pieces:
                if digest is not None:  # the bytes in memory anyway; hashlib releases the GIL meanwhile
                    digest.update(piece)
                    size += len(piece)
                while piece:
                    written = os.write(fd, piece)
                    piece = piece[written:]
            if _UTIME_FD:  # keeps .pyc files valid: they record the source mtime
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)
        if not _UTIME_FD:
            os.utime(self.path(rel), (mtime, mtime))
        self.files.add(rel)
        if digest is not None:
            self.manifest[rel] = _manifest.regular(file_mode(mode), size, digest.hexdigest(), mtime)

    def symlink(self, rel, target):
        if not symlink_stays_inside(rel, target):
            raise ArchiveError("archive member %s/%s is a symlink to %r, which leaves the install "
                               "directory" % (self.top, rel, target))
        os.symlink(target, self.fresh(rel))
        self.symlinks[rel] = target
        if self.manifest is not None:
            self.manifest[rel] = _manifest.symlink(target)

    def hardlink(self, rel, linkname):
        source = member_path(linkname, self.top)
        if source not in self.files:
            raise ArchiveError("archive member %s/%s is a hard link to %r, which is not a file "
                               "extracted before it" % (self.top, rel, linkname))
        os.link(self.path(source), self.fresh(rel))
        self.files.add(rel)
        if self.manifest is not None:  # one inode: the source's content, mode and mtime
            self.manifest[rel] = dict(self.manifest[source])

    def finish(self):
        """Check links against the real tree: symlink chains can defeat lexical checks."""
        real_dest = os.path.realpath(self.dest)
        for rel in self.symlinks:
            resolved = os.path.realpath(self.path(rel))
            if resolved != real_dest and not resolved.startswith(real_dest + os.sep):
                raise ArchiveError("archive member %s/%s is a symlink that resolves outside the "
                                   "install directory" % (self.top, rel))


def _extract_members(reader, extractor):
    pending = {}
    metadata = 0  # bytes of pax/long-name headers of the member being read
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
            metadata += size
            extractor.count_metadata(size, metadata)
            if kind == b'g':  # global defaults: nothing this reader uses
                for dummy in reader.take(padded):
                    pass
                continue
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
            size = _pax_size(pending.pop('size'))
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
        pending.clear()
        metadata = 0
        rel = member_path(name, extractor.top)
        mode = _number(header[100:108])
        if kind in (b'0', b'\x00', b'7'):
            extractor.count_bytes(size)
            extractor.regular(rel, mode, _number(header[136:148]), reader.take(size))
            for dummy in reader.take(padded - size):
                pass
        elif kind == b'5':
            extractor.directory(rel)
        elif kind == b'2':
            extractor.symlink(rel, linkname)
        elif kind == b'1':
            extractor.hardlink(rel, linkname)
        else:
            kinds = {b'3': 'a character device', b'4': 'a block device', b'6': 'a FIFO', b'S': 'a sparse file'}
            raise ArchiveError("archive member %r is %s: PBS archives hold only files, directories "
                               "and links" % (name, kinds.get(kind, 'of tar type %r' % kind)))


def extract_tar_gz(read, dest, top='python', max_members=DEFAULT_MAX_MEMBERS, max_bytes=DEFAULT_MAX_BYTES,
                   chunk=CHUNK, close=None, manifest=None):
    """Extract the gzip'd tar produced by ``read(n)`` into the existing empty directory ``dest``.

    Returns the stats of the pass, including the sha256 of the *compressed* bytes, which the
    caller compares with the pin before the tree is used. The whole stream is always consumed so
    the digest covers every byte, even when the tar end marker comes early. ``close`` (the
    source's) is called before the reader thread is joined, so a refused archive does not wait
    for a blocked read. ``manifest``, a dict, receives path -> entry for the tree written (_manifest).
    """
    pipeline = _Pipeline(read, chunk, max_compressed=max_bytes)
    try:
        reader = _Reader(pipeline)
        extractor = _Extractor(dest, top, max_members, max_bytes, manifest)
        try:
            _extract_members(reader, extractor)
        except ValueError as exc:  # a non-numeric tar or pax number field
            raise ArchiveError("the archive is not a valid tar stream (%s)" % exc)
        except OSError as exc:
            if exc.errno in _CONTENT_ERRNOS:  # e.g. a name over 255 bytes, 70,000 hard links to one file
                raise ArchiveError("the archive has a member this host cannot create (%s: %s)"
                                   % (exc.strerror, os.path.relpath(exc.filename or dest, dest)))
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
