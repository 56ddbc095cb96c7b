# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying out the download policy: one transport for hosts and the controller.

``ansible.module_utils.urls`` makes each request (proxies, TLS, netrc, basic auth, client
certificates, as ``get_url``); ``_download_policy`` decides everything else. Redirects are followed
here, one hop at a time, so the policy sees each one: secrets stay with the origin they were given
for, https never falls back to http. Every fault becomes a FetchError that says whether retrying
the same URL can help, so ``first_success`` decides what happens next: retry with backoff, move to
the next mirror, or stop. Checksum mismatches never come through here: they end the install.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import inspect
import os
import signal
import socket
import ssl
import threading
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ansible_collections.pbs.python.plugins.module_utils._download_policy import (
    MAX_DOWNLOAD, FetchError, PolicyError, SpeedFloor, backoff, check_scheme, is_transient_status, may_send_secrets, next_hop,
    range_header, resume_action, retry_after_seconds, split_credentials,
)
from ansible_collections.pbs.python.plugins.module_utils._files import sha256_file
from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC

CHUNK = 1 << 20
TEXT_LIMIT = 4 << 20  # a SHA256SUMS of every asset of a PBS release is ~200 KB
_TLS_CONTEXTS = {}  # TLS settings -> the context this run's requests share (see Fetcher._shared_tls_context)


def classify(url, exc):
    """Turn whatever urllib, ssl or the socket raised into a FetchError with a useful message."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, PolicyError):
        return FetchError(url, str(exc))
    if isinstance(exc, _Deadline):
        return FetchError(url, 'no answer within the timeout (connection, TLS and headers); raise timeout if the '
                               'mirror is slow', transient=True)
    if isinstance(exc, HTTPError):
        hint = {404: 'not found on this mirror', 401: 'authentication required: set url_username/'
                     'url_password or headers', 403: 'access denied by the mirror'}.get(exc.code, exc.reason)
        return FetchError(url, 'HTTP %d (%s)' % (exc.code, hint), status=exc.code,
                          transient=is_transient_status(exc.code),
                          retry_after=retry_after_seconds((exc.headers or {}).get('Retry-After')))
    reason = getattr(exc, 'reason', exc) if isinstance(exc, URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError) or 'CERTIFICATE_VERIFY_FAILED' in str(reason):
        return FetchError(url, 'TLS certificate verification failed (%s): give the CA bundle of '
                               'the mirror with ca_path, or, only for testing, set validate_certs: false'
                          % (getattr(reason, 'reason', None) or reason))
    if isinstance(reason, socket.gaierror):
        return FetchError(url, 'cannot resolve the mirror host name (%s): check the mirror URL and the '
                               'host\'s DNS' % reason, transient=True)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return FetchError(url, 'timed out (raise timeout if the mirror is slow)', transient=True)
    if isinstance(reason, ConnectionRefusedError):
        return FetchError(url, 'connection refused: is the mirror up?', transient=True)
    if isinstance(reason, (OSError, HTTPException, URLError)):
        return FetchError(url, 'connection failed (%s)' % (reason,), transient=True)
    return FetchError(url, str(reason))


def _content_length(handle):
    """The body length an HTTP response announced, or None (file://, chunked, compressed)."""
    headers = getattr(handle, 'headers', None)
    if headers is None or headers.get('Content-Encoding') or headers.get('Transfer-Encoding'):
        return None
    try:
        return int(headers.get('Content-Length'))
    except (TypeError, ValueError):
        return None


class _Deadline(Exception):
    """Raised inside a request that did not get its answer (connection, TLS, headers) in time."""


@contextlib.contextmanager
def _deadline(seconds):
    """Bound the whole wait for an answer, not only each read: a mirror that sends its headers a
    byte at a time never trips the socket timeout. Uses SIGALRM where that is ours to use (the main
    thread, no other handler: the module, an action plugin's worker); elsewhere the socket timeout
    alone applies."""
    usable = (hasattr(signal, 'setitimer') and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None))
    if not usable:
        yield
        return

    def expired(signum, frame):
        raise _Deadline()

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


class Response(object):
    """A readable body whose transport errors surface as FetchError, never as bare OSError.

    The archive reader runs ``read`` in a worker thread, where a disk error and a network error
    would otherwise look alike. The speed floor is checked after each receive (each read takes
    what one receive brings) and by a watchdog that shuts the socket when no read returns in
    time: a mirror can trickle a megabyte read, or a chunk-size line, a byte at a time without
    any single receive timing out.
    """

    def __init__(self, url, handle, timeout=None):
        self.url = url
        self._handle = handle
        self.status = getattr(handle, 'status', None) or 200
        self.headers = getattr(handle, 'headers', None) or {}
        self.received = 0
        self.expected = _content_length(handle)
        self._read1 = getattr(handle, 'read1', None)
        self._floor = SpeedFloor(timeout) if timeout and self._read1 else None
        self._lock = threading.Lock()
        self._stalled = None
        self._closed = threading.Event()
        sock = getattr(getattr(getattr(handle, 'fp', None), 'raw', None), '_sock', None)
        if self._floor is not None and sock is not None:
            watchdog = threading.Thread(target=self._watch, args=(sock, min(1.0, timeout / 4.0)))
            watchdog.daemon = True
            watchdog.start()

    def _check(self, size, then=None):
        with self._lock:
            self._stalled = self._stalled or self._floor.update(size)
            if then is not None:
                then()
            return self._stalled

    def _watch(self, sock, interval):
        while not self._closed.wait(interval):
            if self._check(0):
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked receive returns at once
                except OSError:
                    pass
                return

    def _stall(self):
        return FetchError(self.url, 'transfer stalled: %s; raise timeout if the mirror is this slow' % self._stalled,
                          transient=True)

    def read(self, size):
        try:
            if self._floor is None:
                data = self._handle.read(size)
            else:
                pieces, got = [], 0
                with self._lock:
                    self._floor.waiting()
                try:
                    while got < size:
                        piece = self._read1(size - got)
                        if self._stalled or self._check(len(piece)):
                            raise self._stall()
                        if not piece:
                            break
                        pieces.append(piece)
                        got += len(piece)
                finally:
                    self._check(0, then=self._floor.idle)
                data = b''.join(pieces)
        except FetchError:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # classified below
            if self._stalled:
                raise self._stall()
            error = classify(self.url, exc)
            raise FetchError(self.url, 'transfer interrupted after %d bytes (%s)' % (
                self.received, str(error).split(': ', 1)[-1]), transient=True)
        if not data and size and self.expected is not None and self.received < self.expected:
            # http.client returns b'' when the server hangs up before Content-Length is reached
            raise FetchError(self.url, 'transfer interrupted after %d of %d bytes (the mirror closed the '
                                       'connection early)' % (self.received, self.expected), transient=True)
        self.received += len(data)
        return data

    def close(self):
        self._closed.set()
        self._handle.close()


class Fetcher(object):
    """Requests under the download policy, with the options of ``get_url`` (URL_ARGUMENT_SPEC).

    ``timeout`` and ``retries`` default to the options' own (validated params carry both).
    """

    def __init__(self, params, timeout=None, retries=None, sleep=time.sleep):
        self.params = params
        self.timeout = params.get('timeout', URL_ARGUMENT_SPEC['timeout']['default']) if timeout is None else timeout
        self.retries = params.get('retries', URL_ARGUMENT_SPEC['retries']['default']) if retries is None else retries
        self.sleep = sleep

    def _shared_tls_context(self, urls, key):
        """One TLS context per TLS settings for the whole run, where ansible-core takes one (2.18 and later).

        Each context loads the system trust store (about 20 ms), and ansible-core otherwise makes one
        per request, plain http included: SHA256SUMS plus the archive, or a mirror's dozens of assets.
        """
        if key not in _TLS_CONTEXTS:
            if 'context' not in inspect.signature(urls.Request.open).parameters:
                _TLS_CONTEXTS[key] = None
            else:
                _TLS_CONTEXTS[key] = urls.make_context(cafile=key[0], validate_certs=key[1], client_cert=key[2],
                                                       client_key=key[3])
        return _TLS_CONTEXTS[key]

    def _hop_options(self, given_for, url, extra_headers):
        """(URL without user info, request options) for one hop: secrets only for their own origin."""
        params = self.params
        request_url, username, password = split_credentials(url)
        headers = dict(extra_headers or {})
        client_cert = client_key = None
        trusted = may_send_secrets(given_for, url)
        if trusted:
            dummy, username, password = split_credentials(given_for)
            if params.get('url_username'):  # explicit options win; user info in the URL fills in the rest
                username = params.get('url_username')
                password = params.get('url_password') if params.get('url_password') is not None else password
            elif params.get('url_password') is not None:
                password = params.get('url_password')
            headers = dict(params.get('headers') or {}, **headers)
            client_cert, client_key = params.get('client_cert'), params.get('client_key')
        else:
            username = password = None  # user info a redirect target carries is the mirror's, not ours
        return request_url, dict(
            headers=headers or None, timeout=self.timeout, use_proxy=params.get('use_proxy', True),
            validate_certs=params.get('validate_certs', True), url_username=username, url_password=password,
            force_basic_auth=bool(params.get('force_basic_auth', False) and username), client_cert=client_cert,
            client_key=client_key, ca_path=params.get('ca_path'), use_netrc=trusted and params.get('use_netrc', True),
            http_agent='pbs.python', decompress=False, follow_redirects='none')

    def open(self, url, headers=None):
        """A Response for ``url``, following redirects under the policy; ``headers`` go to every hop."""
        try:
            check_scheme(url)
        except PolicyError as exc:
            raise FetchError(url, str(exc))
        if url.startswith('file://'):
            path = url2pathname(unquote(urlsplit(url).path))
            try:
                return Response(url, open(path, 'rb'))
            except (IOError, OSError) as exc:
                status = 404 if getattr(exc, 'errno', None) == 2 else None
                raise FetchError(url, 'cannot read %s (%s)' % (path, exc.strerror), status=status)
        # Imported here: urls pulls in ssl, http.client and cryptography (~60 ms), which a run that
        # finds its build installed, or installs from a file, never needs.
        from ansible.module_utils import urls

        current, hops = url, 0
        while True:
            request_url, options = self._hop_options(url, current, headers)
            key = (options['ca_path'], options['validate_certs'], options['client_cert'], options['client_key'])
            try:
                context = self._shared_tls_context(urls, key)
                with _deadline(self.timeout):
                    if context is None:
                        handle = urls.open_url(request_url, **options)
                    else:
                        handle = urls.Request().open('GET', request_url, context=context, **options)
            except HTTPError as exc:
                if not (300 <= exc.code < 400 and exc.code != 304):
                    raise classify(current, exc)
                location = (exc.headers or {}).get('Location')
                exc.close()
                try:
                    current = next_hop(current, location, hops)
                except PolicyError as error:
                    raise FetchError(current, str(error))
                hops += 1
                continue
            except Exception as exc:  # pylint: disable=broad-except  # every fault becomes a FetchError
                raise classify(current, exc)
            return Response(url, handle, self.timeout)

    def read_text(self, url, limit=TEXT_LIMIT):
        """A small text file (SHA256SUMS), read to the end: a body cut short must fail, not parse shorter."""
        response = self.open(url)
        chunks, size = [], 0
        try:
            while size <= limit:
                chunk = response.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            response.close()
        data = b''.join(chunks)
        if len(data) > limit:
            raise FetchError(url, 'larger than %d MiB: not a SHA256SUMS file' % (limit >> 20))
        return data.decode('utf-8', 'replace')

    def fetch_file(self, urls, partial, expected):
        """(URL, sha256 hex, resumed) after filling ``partial`` from the first URL that serves it.

        Transient faults are retried with a Range request from where the file stopped, so an
        interrupted transfer (or an interrupted earlier run) does not start over. A resumed file
        whose digest is wrong held stale bytes: it is fetched once more from scratch. The caller
        compares the digest with ``expected`` and keeps or drops the file.
        """
        resumed = []

        def attempt(url):
            offset = os.path.getsize(partial) if os.path.exists(partial) and not url.startswith('file://') else 0
            try:
                response = self.open(url, range_header(offset))
            except FetchError as exc:
                if offset and exc.status == 416:
                    resumed.append(url)
                    return sha256_file(partial).hexdigest()
                raise
            try:
                action = resume_action(offset, response.status, response.headers.get('Content-Range'))
                if action == 'discard':
                    os.unlink(partial)
                    raise FetchError(url, 'the mirror answered the Range request with %r; starting over'
                                     % response.headers.get('Content-Range'), transient=True)
                digest, mode = (sha256_file(partial), 'ab') if action == 'append' else (hashlib.sha256(), 'wb')
                if action == 'append':
                    resumed.append(url)
                if (response.expected or 0) + (offset if action == 'append' else 0) > MAX_DOWNLOAD:
                    raise FetchError(url, 'announces %d bytes, more than any PBS archive (%d MiB): refused'
                                     % (response.expected, MAX_DOWNLOAD >> 20))
                with open(partial, mode) as handle:
                    for block in iter(lambda: response.read(CHUNK), b''):
                        handle.write(block)
                        handle.flush()  # a killed run keeps what it received, to resume from
                        digest.update(block)
                        if handle.tell() > MAX_DOWNLOAD:
                            handle.truncate(0)
                            raise FetchError(url, 'sent more than %d MiB, more than any PBS archive: refused, '
                                                  'nothing kept' % (MAX_DOWNLOAD >> 20))
            finally:
                response.close()
            return digest.hexdigest()

        url, actual = self.first_success(urls, attempt)
        if actual != expected and resumed:
            os.unlink(partial)
            del resumed[:]
            url, actual = self.first_success(urls, attempt)
        return url, actual, bool(resumed)

    def first_success(self, urls, attempt, is_transient=lambda exc: False):
        """Run ``attempt(url)`` on each URL in order until one succeeds.

        Transient faults are retried on the same URL with exponential backoff (honouring
        Retry-After, capped by ``timeout``); any other FetchError moves on to the next URL.
        Exceptions that are not FetchErrors (a checksum mismatch, a disk error) stop at once.
        Raises FetchError listing what happened on every URL.
        """
        failures = []
        if not urls:
            raise FetchError('', 'no URL to try: list at least one mirror')
        for url in urls:
            for round_ in range(self.retries + 1):
                try:
                    return url, attempt(url)
                except FetchError as exc:
                    error = exc
                except Exception as exc:  # pylint: disable=broad-except
                    if not is_transient(exc):
                        raise
                    error = FetchError(url, str(exc), transient=True)
                if not error.transient or round_ == self.retries:
                    break
                self.sleep(backoff(round_, error.retry_after, self.timeout))
            failures.append(error)
        if len(failures) == 1:
            raise failures[0]
        raise FetchError(', '.join(f.url for f in failures), 'every mirror failed: ' + '; '.join(
            str(f) for f in failures), status=failures[-1].status, transient=any(f.transient for f in failures))
