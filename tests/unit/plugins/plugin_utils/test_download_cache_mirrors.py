# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's download cache against a real fault-injecting HTTP mirror on loopback:
Retry-After is honoured as on the hosts, and a cached archive remembers which mirror served it."""

import hashlib

import pytest

from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.plugin_utils._download_cache import DownloadCache
from fault_mirror import FaultMirror, unavailable

NAME = 'cpython-3.12.1+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz'
BODY = b'not really an archive, but bytes with a digest' * 1000


@pytest.fixture
def served(tmp_path):
    (tmp_path / 'mirror' / '20240107').mkdir(parents=True)
    (tmp_path / 'mirror' / '20240107' / NAME).write_bytes(BODY)
    (tmp_path / 'mirror' / '20240107' / 'SHA256SUMS').write_text('%s  %s\n' % (hashlib.sha256(BODY).hexdigest(), NAME))
    with FaultMirror(str(tmp_path / 'mirror')) as server:
        yield server


def cache_at(tmp_path, sleeps, retries=2):
    return DownloadCache(str(tmp_path / 'cache'), Fetcher({}, timeout=30, retries=retries, sleep=sleeps.append))


def test_retry_after_is_honoured_for_archives_and_sha256sums(tmp_path, served):
    served.program('/20240107/' + NAME.replace('+', '%2B'), unavailable(retry_after=2))
    served.program('/20240107/' + NAME, unavailable(retry_after=2))
    served.program('/20240107/SHA256SUMS', unavailable(retry_after=3), unavailable())
    sleeps = []
    cache = cache_at(tmp_path, sleeps)
    assert NAME in cache.read_text([served.url + '/20240107/SHA256SUMS'])
    path = cache.fetch(NAME, hashlib.sha256(BODY).hexdigest(), ['%s/20240107/%s' % (served.url, NAME)])
    with open(path, 'rb') as handle:
        assert handle.read() == BODY
    # the server's delay, exponential with jitter when it names none, the server's again
    assert sleeps[0] == 3.0 and 0.5 <= sleeps[1] < 1.5 and sleeps[2] == 2.0 and len(sleeps) == 3


def test_a_cached_archive_remembers_the_mirror_that_served_it(tmp_path, served):
    digest = hashlib.sha256(BODY).hexdigest()
    dead = 'http://127.0.0.1:9/20240107/' + NAME  # discard port: nothing listens
    live = '%s/20240107/%s' % (served.url, NAME)
    cache = cache_at(tmp_path, [], retries=0)
    assert cache.origin(NAME, digest) is None
    cache.fetch(NAME, digest, [dead, live])
    assert cache.origin(NAME, digest) == live
    again = cache_at(tmp_path, [], retries=0)  # another run: a cache hit, no request
    served.events.clear()
    again.fetch(NAME, digest, [dead, live])
    assert again.origin(NAME, digest) == live and served.events == []
