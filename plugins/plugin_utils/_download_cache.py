# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A content-addressed cache of PBS archives on the controller, filled once per asset for a fleet.

Ansible runs one worker process per host, so twenty hosts ask for the same asset at the same
moment; a per-digest file lock makes one of them download while the others wait and then
find it. Entries live at ``<cache>/<sha256>/<asset>`` and are only renamed into place after
their digest was verified, so a present entry is a trusted entry, and the cache doubles as
a checksum map for offline runs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import hashlib
import os
import time
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

try:
    import httpx
    HAS_HTTPX = True
except ImportError:  # ansible-test imports plugins without third-party packages
    httpx = None
    HAS_HTTPX = False

from ansible_collections.pbs.python.plugins.module_utils._fetch import TRANSIENT_STATUS, backoff, retry_after_seconds
from ansible_collections.pbs.python.plugins.module_utils._naming import redact_url, split_credentials
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums

CHUNK = 1 << 20
ORIGIN = '.origin'  # beside each cached archive: the URL (without credentials) that served it
SUMS_TTL = 300  # seconds a fetched SHA256SUMS is reused by the other hosts of a run


def _local_path(url):
    """The file a file:// URL names; asset URLs carry ``+`` as ``%2B``."""
    return url2pathname(unquote(urlsplit(url).path))


class CacheError(Exception):
    """A failure to fill the cache; ``mismatch`` errors must never fall over to another mirror."""

    def __init__(self, message, mismatch=False, not_found=False):
        super(CacheError, self).__init__(message)
        self.mismatch = mismatch
        self.not_found = not_found


class _Locked(object):
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


class DownloadCache(object):
    def __init__(self, root, client_options, retries=3, timeout=30, sleep=time.sleep):
        self.root = os.path.expanduser(root)
        self.client_options = client_options
        self.retries = retries
        self.timeout = timeout
        self.sleep = sleep
        self.downloads = 0

    def cached(self):
        """{asset name: sha256} of every verified entry: an offline catalogue for resolution."""
        found = {}
        if os.path.isdir(self.root):
            for digest in os.listdir(self.root):
                entry = os.path.join(self.root, digest)
                if len(digest) == 64 and os.path.isdir(entry):
                    for name in os.listdir(entry):
                        if name.endswith('.tar.gz'):
                            found[name] = digest
        return found

    def path(self, name, sha256):
        return os.path.join(self.root, sha256, name)

    def origin(self, name, sha256):
        """The URL the cached archive came from, or None (a cache filled by hand, or by an older release)."""
        try:
            with open(self.path(name, sha256) + ORIGIN) as handle:
                return handle.read().strip() or None
        except (IOError, OSError):
            return None

    def _request(self, url):
        """(URL without user info, request options): httpx logs the URLs it requests, with user info."""
        bare, user, password = split_credentials(url)
        if user and 'auth' not in self.client_options:  # explicit url_username wins, as in the module
            return bare, {'auth': (user, password or '')}
        return bare, {}

    def _client(self):
        if not HAS_HTTPX:
            raise CacheError('delivery: controller needs the Python package httpx on the controller '
                             '(pip install httpx)')
        return httpx.Client(timeout=self.timeout, follow_redirects=True, **self.client_options)

    def read_text(self, urls):
        """The first SHA256SUMS any mirror serves, shared by the hosts of a run for SUMS_TTL seconds."""
        failures = []
        for url in urls:
            key = hashlib.sha256(url.encode('utf-8')).hexdigest()[:32]
            path = os.path.join(self.root, 'sums', key)
            try:
                if time.time() - os.path.getmtime(path) < SUMS_TTL:
                    with open(path) as handle:
                        return handle.read()
            except OSError:
                pass
            if url.startswith('file://'):
                try:
                    with open(_local_path(url)) as handle:
                        text = handle.read()
                    parse_sha256sums(text)
                    return text
                except OSError as exc:
                    failures.append('%s: %s' % (url, exc.strerror))
                except ValueError as exc:
                    failures.append('%s: unusable SHA256SUMS (%s)' % (url, exc))
                continue
            bare, options = self._request(url)
            try:
                with self._client() as client:
                    response = self._with_retries(lambda: client.get(bare, **options))
            except CacheError as exc:
                failures.append(str(exc))
                continue
            if response.status_code != 200:
                failures.append('%s: HTTP %d' % (redact_url(url), response.status_code))
                continue
            try:  # a broken listing moves on to the next mirror and is never cached
                parse_sha256sums(response.text)
            except ValueError as exc:
                failures.append('%s: unusable SHA256SUMS (%s)' % (redact_url(url), exc))
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = '%s.%d.tmp' % (path, os.getpid())  # one per worker: forks race here
            with open(temp, 'w') as handle:
                handle.write(response.text)
            os.rename(temp, path)
            return response.text
        raise CacheError('cannot read SHA256SUMS: ' + '; '.join(failures))

    def _with_retries(self, request):
        for attempt in range(self.retries + 1):
            retry_after = None
            try:
                response = request()
            except httpx.HTTPError as exc:
                error = '%s' % exc
            else:
                if response.status_code not in TRANSIENT_STATUS or attempt == self.retries:
                    return response
                error = 'HTTP %d' % response.status_code
                retry_after = retry_after_seconds(response.headers)
            if attempt == self.retries:
                raise CacheError(error)
            self.sleep(backoff(attempt, retry_after, self.timeout))
        raise CacheError('unreachable')

    def fetch(self, name, sha256, urls):
        """Path of the verified archive, downloading it (resuming partial files) if absent."""
        final = self.path(name, sha256)
        if os.path.exists(final):
            return final
        os.makedirs(os.path.dirname(final), exist_ok=True)
        with _Locked(os.path.join(self.root, sha256, '.lock')):
            if os.path.exists(final):  # another host's worker filled it while we waited
                return final
            failures = []
            for url in urls:
                try:
                    self._download(url, final + '.partial')
                except CacheError as exc:
                    failures.append(str(exc))
                    continue
                actual = _sha256_file(final + '.partial')
                if actual != sha256:
                    os.unlink(final + '.partial')
                    raise CacheError('checksum mismatch for %s from %s: expected sha256 %s, got %s; nothing was '
                                     'cached or installed' % (name, redact_url(url), sha256, actual), mismatch=True)
                with open(final + ORIGIN, 'w') as handle:
                    handle.write(redact_url(url))
                os.rename(final + '.partial', final)
                self.downloads += 1
                return final
            raise CacheError('could not download %s: %s. Nothing was cached or installed; check that the mirror '
                             'carries it (layout <mirror>/<TAG>/<asset>), rerun after a temporary fault, raise '
                             'retries or timeout, or list another mirror' % (name, '; '.join(failures)))

    def _download(self, url, partial):
        """Stream ``url`` into ``partial``; transient faults resume from where they stopped (Range)."""
        if url.startswith('file://'):
            source = _local_path(url)
            try:
                with open(source, 'rb') as src, open(partial, 'wb') as dst:
                    for block in iter(lambda: src.read(CHUNK), b''):
                        dst.write(block)
            except OSError as exc:
                raise CacheError('%s: %s' % (url, exc.strerror), not_found=True)
            return
        bare, options = self._request(url)
        with self._client() as client:
            for attempt in range(self.retries + 1):
                retry_after = None
                offset = os.path.getsize(partial) if os.path.exists(partial) else 0
                headers = {'Range': 'bytes=%d-' % offset} if offset else {}
                try:
                    with client.stream('GET', bare, headers=headers, **options) as response:
                        if response.status_code == 416 and offset:
                            return  # already complete; the digest check decides
                        if response.status_code not in (200, 206):
                            if response.status_code not in TRANSIENT_STATUS or attempt == self.retries:
                                raise CacheError('%s: HTTP %d' % (redact_url(url), response.status_code),
                                                 not_found=response.status_code == 404)
                            retry_after = retry_after_seconds(response.headers)
                            raise httpx.TransportError('HTTP %d' % response.status_code)
                        mode = 'ab' if response.status_code == 206 else 'wb'
                        with open(partial, mode) as handle:
                            for block in response.iter_bytes(CHUNK):
                                handle.write(block)
                    return
                except httpx.HTTPError as exc:
                    if attempt == self.retries:
                        raise CacheError('%s: %s' % (redact_url(url), exc))
                    self.sleep(backoff(attempt, retry_after, self.timeout))
