# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every decision about a download, as plain functions: hosts and the controller share them.

Mirrors and the network are not trusted. These rules decide what is retried and when, which
redirects are followed and which secrets go with a request, how fast bytes must arrive, where an
interrupted transfer resumes and what of a URL may be shown. The transport (``_fetch``) only
carries them out, so a fix here is made once for the module, controller delivery, the lock
lookup and the mirror builder.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit, urlunsplit

SCHEMES = ('https', 'http', 'file')
TRANSIENT_STATUS = (408, 425, 429, 500, 502, 503, 504)
MAX_BACKOFF = 30.0
MAX_REDIRECTS = 10
MAX_TIMEOUT = 3600  # seconds: larger values are a typo, and a play must not wait for days
MIN_RATE = 1024  # bytes per second: slower for ``timeout`` seconds counts as a timeout (curl's --speed-limit)
MAX_DOWNLOAD = 4 << 30  # bytes: no PBS archive comes near; an endless body must not fill the controller's disk
DEFAULT_PORTS = {'http': 80, 'https': 443}


class PolicyError(ValueError):
    """A URL or a redirect these rules refuse; the message names the fix."""


class FetchError(Exception):
    """A failed request; ``transient`` means the same URL may succeed if asked again.

    Defined with the rules that decide what is transient, so code that only handles the error (the
    installer) does not load the transport."""

    def __init__(self, url, reason, status=None, transient=False, retry_after=None):
        self.url = redact_url(url)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        super(FetchError, self).__init__('%s: %s' % (self.url, reason))


# -- URLs and what of them may be shown ---------------------------------------------------------

def check_scheme(url, what='mirror'):
    """Refuse what is not http(s):// or file:// before any request (ftp, javascript:, typos, bad ports)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise PolicyError('%s %s: only https://, http:// and file:// URLs are supported, not %s' % (
            what, redact_url(url), '%s://' % scheme if scheme else 'a URL without a scheme'))
    if scheme != 'file':
        try:
            origin(url)
        except PolicyError as exc:
            raise PolicyError('%s %s' % (what, exc))
    return url


def split_credentials(url):
    """(URL without user info, user, password), user and password unquoted (or None)."""
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url, None, None
    userinfo, netloc = parts.netloc.rsplit('@', 1)
    user, colon, password = userinfo.partition(':')
    return urlunsplit(parts._replace(netloc=netloc)), unquote(user) or None, unquote(password) if colon else None


def url_secrets(url):
    """The secret parts of a URL, raw and unquoted, for no_log: user info (the password, or a user
    standing alone: a token) and every query value (pre-signed URLs, ``?token=`` mirrors)."""
    parts = urlsplit(url)
    found = [raw.partition('=')[2] for raw in parts.query.split('&')]
    if '@' in parts.netloc:  # both parts: ``TOKEN:x-oauth-basic@`` puts the secret in the user
        found.extend(parts.netloc.rsplit('@', 1)[0].split(':', 1))
    secrets = set()
    for secret in found:
        if len(secret) > 2:  # masking "1" would garble every number in the output
            secrets.update((secret, unquote(secret), unquote_plus(secret)))
    return sorted(secrets)


def redact_url(url):
    """The URL without user info and query, for results, receipts, errors and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit('@', 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def origin(url):
    """(scheme, host, port) of a URL: what a credential is bound to, as browsers and curl do.

    A port this parser cannot read (``host: 8089``, out of range) is an error, never the default
    port: http.client may read it otherwise and connect elsewhere than what was compared.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise PolicyError('%s has an invalid port' % redact_url(url))
    netloc = parts.netloc.rsplit('@', 1)[-1]
    if port is None and ':' in netloc.rsplit(']', 1)[-1]:  # "host:" or a port urlsplit left out
        if netloc.rsplit(':', 1)[1]:
            raise PolicyError('%s has an invalid port' % redact_url(url))
    return scheme, (parts.hostname or '').lower(), port or DEFAULT_PORTS.get(scheme)


# -- redirects and credentials ------------------------------------------------------------------

def next_hop(current, location, hops):
    """The URL a redirect leads to, or PolicyError when it must not be followed.

    Relative locations resolve against the current URL. https -> http is refused (it would put
    the rest of the transfer in clear text and is a classic downgrade); other schemes are
    refused by name; so are loops longer than MAX_REDIRECTS.
    """
    if not location:
        raise PolicyError('redirects without a Location: fix the mirror')
    if hops >= MAX_REDIRECTS:
        raise PolicyError('more than %d redirects (a redirect loop?)' % MAX_REDIRECTS)
    target = urljoin(current, location.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme == 'file':
        raise PolicyError('redirects to a local file (%s): refused; list file:// mirrors directly'
                          % redact_url(target))
    if scheme not in ('http', 'https'):
        raise PolicyError('redirects to a %s URL: refused, only http(s) redirects are followed'
                          % (scheme + ':' if scheme else 'scheme-less'))
    try:
        origin(target)
    except PolicyError:
        raise PolicyError('redirects to a URL with an invalid port (%s): refused' % redact_url(target))
    if urlsplit(current).scheme.lower() == 'https' and scheme == 'http':
        raise PolicyError('redirects from https to plain http (%s): refused, the download would not be '
                          'protected; fix the mirror\'s redirect or use an http mirror URL on purpose'
                          % redact_url(target))
    return target


def may_send_secrets(given_for, url):
    """Credentials, client certificates and ``headers`` go only to the origin they were given for."""
    try:
        return origin(given_for) == origin(url)
    except PolicyError:
        return False


# -- retries and time ----------------------------------------------------------------------------

def retry_after_seconds(value, now=None):
    """Seconds a server asks to wait in Retry-After: its seconds form or its HTTP-date form; else None."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_tz, mktime_tz  # only here: email's modules cost a no-op run ~4 ms

    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, mktime_tz(parsed) - (time.time() if now is None else now))


def backoff(attempt, retry_after, timeout, jitter=random.random):
    """Seconds before retry ``attempt`` (from 0): the server's Retry-After, else exponential with
    jitter (so a fleet that failed together does not retry together); capped by MAX_BACKOFF and
    ``timeout``."""
    if retry_after is not None:
        delay = retry_after
    else:
        delay = 2 ** attempt * 0.5 * (0.5 + jitter())
    return min(delay, MAX_BACKOFF, float(timeout))


def is_transient_status(status):
    return status in TRANSIENT_STATUS


def check_timeout(timeout, retries):
    """Refuse out-of-range numbers before anything runs, with the range named."""
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise PolicyError('timeout must be between 1 and %d seconds (got %s)' % (MAX_TIMEOUT, timeout))
    if not 0 <= retries <= 100:
        raise PolicyError('retries must be between 0 and 100 (got %s): it counts the retries after the first '
                          'request' % retries)


class SpeedFloor(object):
    """A transfer slower than MIN_RATE for ``window`` seconds is stalled (curl's --speed-limit/--speed-time).

    A per-read timeout alone lets a mirror send one byte a second forever. Only time spent waiting
    for the network counts (from ``waiting`` to ``idle``): a consumer that pauses (a slow disk under
    the extractor) is not the mirror's fault.
    """

    def __init__(self, window, rate=MIN_RATE, clock=time.monotonic):
        self.window = float(window)
        self.rate = rate
        self.clock = clock
        self.waited = 0.0
        self.received = 0
        self.since = None

    def waiting(self):
        """A read starts: the clock runs."""
        if self.since is None:
            self.since = self.clock()

    def idle(self):
        """The read returned to its consumer: the clock stops."""
        self.update(0)
        self.since = None

    def update(self, size):
        """Count ``size`` new bytes; returns the stall message when the floor was not met, else None."""
        if self.since is not None:
            now = self.clock()
            self.waited += now - self.since
            self.since = now
        self.received += size
        if self.waited < self.window:
            return None
        if self.received < self.rate * self.waited:
            return 'slower than %d bytes/s for %d seconds (%d bytes in %.0f s)' % (
                self.rate, self.window, self.received, self.waited)
        self.waited, self.received = 0.0, 0
        return None


# -- resuming ------------------------------------------------------------------------------------

def range_header(offset):
    return {'Range': 'bytes=%d-' % offset} if offset else {}


def resume_action(offset, status, content_range):
    """What to do with an answer to a request that asked for bytes from ``offset``.

    'append' (206 from where we stopped), 'restart' (a full 200 body: write the file anew),
    'discard' (a 206 for other bytes than asked: drop the partial file and ask again),
    'complete' (416: we already hold every byte; the digest decides).
    """
    if not offset:
        return 'restart'
    if status == 416:
        return 'complete'
    if status == 206:
        return 'append' if (content_range or '').replace(' ', '').startswith('bytes%d-' % offset) else 'discard'
    return 'restart'
