# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One TLS context per run: each loads the trust store, so requests share it where ansible-core can.

Against a real HTTPS server on loopback with a CA made for the test.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import inspect

import pytest
from ansible.module_utils import urls

from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError
from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from fault_mirror import FaultMirror, make_test_ca, server_tls_context

SHARES = 'context' in inspect.signature(urls.Request.open).parameters  # ansible-core 2.18 and later


@pytest.fixture
def https(tmp_path):
    (tmp_path / 'tag').mkdir()
    (tmp_path / 'tag' / 'SHA256SUMS').write_text('%s  a.tar.gz\n' % ('0' * 64))
    ca = make_test_ca(str(tmp_path / 'ca'))
    with FaultMirror(str(tmp_path), tls=server_tls_context(ca)) as server:
        yield server, ca


def count_contexts(monkeypatch):
    made = []
    real = urls.make_context

    def counting(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(urls, 'make_context', counting)
    return made


def test_requests_of_one_run_share_one_verified_context(https, monkeypatch):
    server, ca = https
    made = count_contexts(monkeypatch)
    fetcher = Fetcher({'ca_path': ca['ca.pem']}, retries=0)
    for dummy in range(3):
        assert fetcher.read_text(server.url + '/tag/SHA256SUMS').startswith('0' * 64)
    assert len(made) == (1 if SHARES else 3)
    assert made[0]['cafile'] == ca['ca.pem']


def test_the_shared_context_still_verifies(https, monkeypatch):
    server, dummy = https
    with pytest.raises(FetchError) as error:
        Fetcher({}, retries=0).read_text(server.url + '/tag/SHA256SUMS')
    assert 'CERTIFICATE_VERIFY_FAILED' in str(error.value)
    insecure = Fetcher({'validate_certs': False}, retries=0)
    assert insecure.read_text(server.url + '/tag/SHA256SUMS').startswith('0' * 64)
