# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A content-addressed cache of PBS archives on the controller, filled once per asset for a fleet.

Ansible runs one worker process per host, so twenty hosts ask for the same asset at the same
moment; a per-digest file lock makes one of them download while the others wait and then
find it. Entries live at ``<cache>/<sha256>/<asset>`` and are only renamed into place after
their digest was verified, so a present entry is a trusted entry, and the cache doubles as
a checksum map for offline runs. The downloads themselves are the hosts' own (``_fetch``): the
same retries, failover, resume, redirect and credential rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import time

from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError, redact_url
from ansible_collections.pbs.python.plugins.module_utils._files import make_dirs, write_atomic
from ansible_collections.pbs.python.plugins.module_utils._install_root import Lock
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums

ORIGIN = '.origin'  # beside each cached archive: the URL (without credentials) that served it
SUMS_TTL = 300  # seconds a fetched SHA256SUMS is reused by the other hosts of a run


class CacheError(Exception):
    """A failure to fill the cache; ``mismatch`` errors must never fall over to another mirror."""

    def __init__(self, message, mismatch=False):
        super(CacheError, self).__init__(message)
        self.mismatch = mismatch


class DownloadCache(object):
    def __init__(self, root, fetcher):
        self.root = os.path.expanduser(root)
        self.fetcher = fetcher
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

    def read_text(self, urls):
        """The first usable SHA256SUMS any mirror serves, shared by the hosts of a run for SUMS_TTL seconds."""
        for url in urls:
            path = self._sums_path(url)
            try:
                if time.time() - os.path.getmtime(path) < SUMS_TTL:
                    with open(path) as handle:
                        return handle.read()
            except OSError:
                pass

        def attempt(url):
            text = self.fetcher.read_text(url)
            try:  # a broken listing moves on to the next mirror and is never cached
                parse_sha256sums(text)
            except ValueError as exc:
                raise FetchError(url, 'unusable SHA256SUMS (%s)' % exc)
            return text

        try:
            url, text = self.fetcher.first_success(urls, attempt)
        except FetchError as exc:
            raise CacheError('cannot read SHA256SUMS: %s' % exc)
        path = self._sums_path(url)
        make_dirs(os.path.dirname(path))
        write_atomic(path, text)  # hosts' workers race here: each writes its own temporary file
        return text

    def _sums_path(self, url):
        return os.path.join(self.root, 'sums', hashlib.sha256(url.encode('utf-8')).hexdigest()[:32])

    def fetch(self, name, sha256, urls):
        """Path of the verified archive, downloading it (resuming partial files) if absent."""
        final = self.path(name, sha256)
        if os.path.exists(final):
            return final
        make_dirs(os.path.dirname(final))
        with Lock(os.path.dirname(final)):
            if os.path.exists(final):  # another host's worker filled it while we waited
                return final
            try:
                url, actual, dummy = self.fetcher.fetch_file(urls, final + '.partial', sha256)
            except FetchError as exc:
                raise CacheError('could not download %s: %s. Nothing was cached or installed; check that the mirror '
                                 'carries it (layout <mirror>/<TAG>/<asset>), rerun after a temporary fault, raise '
                                 'retries or timeout, or list another mirror' % (name, exc))
            if actual != sha256:
                os.unlink(final + '.partial')
                raise CacheError('checksum mismatch for %s from %s: expected sha256 %s, got %s; nothing was '
                                 'cached or installed' % (name, redact_url(url), sha256, actual), mismatch=True)
            write_atomic(final + ORIGIN, redact_url(url))
            os.rename(final + '.partial', final)
            self.downloads += 1
            return final
