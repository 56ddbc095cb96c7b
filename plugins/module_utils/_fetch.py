# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Getting bytes from an ordered list of mirrors: retries for transient faults, failover for the rest.

Every fault is turned into a FetchError that says whether retrying the same URL can help, so the
single policy in ``first_success`` decides what happens next: retry with backoff, move to the
next mirror, or stop. Checksum mismatches never come through here: they end the install.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import socket
import ssl
import time

try:
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError
    from urllib.parse import unquote, urlsplit
    from urllib.request import url2pathname
except ImportError:  # pragma: no cover
    HTTPException = HTTPError = URLError = Exception  # type: ignore
    unquote = urlsplit = url2pathname = None  # type: ignore

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pbs.python.plugins.module_utils._naming import redact_url, split_credentials, url_secret

TRANSIENT_STATUS = (408, 425, 429, 500, 502, 503, 504)
_TLS_CONTEXTS = {}  # TLS settings -> the context this run's requests share (see Fetcher._shared_tls_context)

# The URL options of every downloading module, documented once in doc_fragments/_url.py.
URL_ARGUMENT_SPEC = dict(
    retries=dict(type='int', default=3),
    timeout=dict(type='int', default=30),
    headers=dict(type='dict', no_log=True),  # Authorization: Bearer ... must not reach logs or results
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=True),
    url_username=dict(type='str'),
    url_password=dict(type='str', no_log=True),
    force_basic_auth=dict(type='bool', default=False),
    use_proxy=dict(type='bool', default=True),
    use_netrc=dict(type='bool', default=True),
)
MAX_BACKOFF = 30.0


class FetchError(Exception):
    """A failed request; ``transient`` means the same URL may succeed if asked again."""

    def __init__(self, url, reason, status=None, transient=False, retry_after=None):
        self.url = redact_url(url)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        super(FetchError, self).__init__('%s: %s' % (self.url, reason))


def retry_after_seconds(headers):
    """The delay a server asks for in Retry-After (seconds form), or None."""
    try:
        return max(0.0, float(headers.get('Retry-After')))
    except (TypeError, ValueError, AttributeError):
        return None


def backoff(attempt, retry_after, timeout):
    """Seconds before retry ``attempt`` (from 0): the server's Retry-After, else exponential; capped."""
    delay = retry_after if retry_after is not None else 2 ** attempt * 0.5
    return min(delay, MAX_BACKOFF, float(timeout))


def classify(url, exc):
    """Turn whatever urllib, ssl or the socket raised into a FetchError with a useful message."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, HTTPError):
        if 300 <= exc.code < 400:
            return FetchError(url, 'redirect error (HTTP %d: %s; a redirect loop or a redirect '
                                   'without a target)' % (exc.code, exc.reason), status=exc.code)
        hint = {404: 'not found on this mirror', 401: 'authentication required: set url_username/'
                     'url_password or headers', 403: 'access denied by the mirror'}.get(exc.code, exc.reason)
        return FetchError(url, 'HTTP %d (%s)' % (exc.code, hint), status=exc.code,
                          transient=exc.code in TRANSIENT_STATUS, retry_after=retry_after_seconds(exc.headers))
    reason = getattr(exc, 'reason', exc) if isinstance(exc, URLError) else exc
    if isinstance(reason, getattr(ssl, 'SSLCertVerificationError', ())) or 'CERTIFICATE_VERIFY_FAILED' in str(reason):
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


class Response(object):
    """A readable body whose transport errors surface as FetchError, never as bare OSError.

    The archive reader runs ``read`` in a worker thread, where a disk error and a network error
    would otherwise look alike.
    """

    def __init__(self, url, handle):
        self.url = url
        self._handle = handle
        self.received = 0
        self.expected = _content_length(handle)

    def read(self, size):
        try:
            data = self._handle.read(size)
        except Exception as exc:  # pylint: disable=broad-except  # classified below
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
        self._handle.close()


class Fetcher(object):
    """HTTP(S) via ``ansible.module_utils.urls`` (proxies, TLS, auth, netrc), file:// via open."""

    def __init__(self, params, timeout=30, retries=3, sleep=time.sleep):
        self.params = params
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep

    def _shared_tls_context(self, urls):
        """One TLS context per TLS settings for the whole run, where ansible-core takes one (2.18 and later).

        Each context loads the system trust store (about 20 ms), and ansible-core otherwise makes one
        per request, plain http included: SHA256SUMS plus the archive, or a mirror's dozens of assets.
        """
        params = self.params
        key = (params.get('ca_path'), params.get('validate_certs', True), params.get('client_cert'),
               params.get('client_key'))
        if key not in _TLS_CONTEXTS:
            if 'context' not in inspect.signature(urls.Request.open).parameters:
                _TLS_CONTEXTS[key] = None
            else:
                _TLS_CONTEXTS[key] = urls.make_context(cafile=key[0], validate_certs=key[1], client_cert=key[2],
                                                       client_key=key[3])
        return _TLS_CONTEXTS[key]

    def open(self, url):
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

        params = self.params
        request_url, username, password = split_credentials(url)
        if params.get('url_username'):  # explicit options win; user info in the URL fills in the rest
            username = params.get('url_username')
            password = params.get('url_password') if params.get('url_password') is not None else password
        elif params.get('url_password') is not None:
            password = params.get('url_password')
        options = dict(
            headers=params.get('headers') or None, timeout=self.timeout, use_proxy=params.get('use_proxy', True),
            validate_certs=params.get('validate_certs', True), url_username=username, url_password=password,
            force_basic_auth=params.get('force_basic_auth', False), client_cert=params.get('client_cert'),
            client_key=params.get('client_key'), ca_path=params.get('ca_path'), use_netrc=params.get('use_netrc', True),
            http_agent='pbs.python', decompress=False)
        try:
            context = self._shared_tls_context(urls)
            if context is None:
                handle = urls.open_url(request_url, **options)
            else:
                handle = urls.Request().open('GET', request_url, context=context, **options)
        except Exception as exc:  # pylint: disable=broad-except  # every fault becomes a FetchError
            raise classify(url, exc)
        return Response(url, handle)

    def read_text(self, url, limit=16 << 20):
        response = self.open(url)
        chunks, size = [], 0
        try:
            while size <= limit:  # to the end: a body cut short must fail, not parse as a shorter file
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


class UrlModule(AnsibleModule):
    """An AnsibleModule that masks credentials written inside URL options in everything it returns.

    ``no_log`` covers url_password, but not ``https://user:token@mirror/``; the secrets are added
    when the result is formatted, so even an argument error (raised before any module code runs)
    cannot echo them back through ``invocation``.
    """

    URL_OPTIONS = ('mirror', 'upstream', 'url')

    def _return_formatted(self, kwargs):
        for name in self.URL_OPTIONS:
            value = (self.params or {}).get(name)
            for url in (value if isinstance(value, list) else [value]):
                secret = url_secret(url) if isinstance(url, str) else None
                if secret:
                    self.no_log_values.update((secret, unquote(secret)))
        super(UrlModule, self)._return_formatted(kwargs)


def check_url_params(module, what):
    """Validate the shared URL options; ``what`` names the servers in messages ("mirror", "upstream")."""
    params = module.params
    if params['retries'] < 0:
        module.fail_json(msg='retries must be 0 or more (got %d): it counts the retries after the first '
                             'request' % params['retries'])
    if params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second (got %d)' % params['timeout'])
    if not params['validate_certs']:
        module.warn('validate_certs is false: the %s\'s identity is not verified (the sha256 check still '
                    'protects every archive)' % what)
