# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport's bounds against real loopback servers that misbehave on purpose: a chunk-size
line trickled a byte at a time, an endless body, a body announced larger than any archive; and
the module's syslog line, which must not carry a URL's token."""

import contextlib
import http.server
import json
import threading
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.pbs.python.plugins.module_utils import _fetch
from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError
from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.module_utils._url_options import UrlModule


@contextlib.contextmanager
def module_args(args):
    """AnsibleModule's arguments, as ansible-core's own helper gives them (2.19+) or as older cores read them."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        with mock.patch.object(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()):
            yield
        return
    with patch_module_args(args):
        yield


class Misbehaving(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer):
        super().__init__(('127.0.0.1', 0), _Handler)
        self.answer = answer
        self.sent = 0
        self.stop = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d/20240107/asset.tar.gz' % self.server_address[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.answer(self)


def write(handler, data):
    handler.wfile.write(data)
    handler.wfile.flush()
    handler.server.sent += len(data)


def chunk_loris(handler):
    """A chunked body whose first chunk-size line arrives a byte every 0.2 s (300 bytes: a minute)."""
    handler.send_response(200)
    handler.send_header('Transfer-Encoding', 'chunked')
    handler.end_headers()
    try:
        for byte in b'1;' + b'a' * 298:
            if handler.server.stop.wait(0.2):
                return
            write(handler, bytes([byte]))
        write(handler, b'\r\nx\r\n0\r\n\r\n')
    except OSError:
        pass  # the client hung up: what the test wants


def endless(handler):
    handler.send_response(200)
    handler.end_headers()
    block = b'\0' * 65536
    try:
        while not handler.server.stop.is_set():
            write(handler, block)
    except OSError:
        pass
    handler.close_connection = True


def too_large(handler):
    handler.send_response(200)
    handler.send_header('Content-Length', str(8 << 30))
    handler.end_headers()
    handler.close_connection = True


def test_a_trickled_chunk_size_line_trips_the_speed_floor(tmp_path):
    """Each read1 would wait for the whole line; the watchdog hangs up after ``timeout`` seconds
    of too slow a transfer, so the server gets to send only the first few bytes of its 300."""
    with Misbehaving(chunk_loris) as server:
        with pytest.raises(FetchError, match='stalled.*slower than 1024 bytes/s for 1 seconds'):
            Fetcher({}, timeout=1, retries=0).fetch_file([server.url], str(tmp_path / 'partial'), '0' * 64)
        assert server.sent < 100


def test_an_endless_body_is_cut_off_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(_fetch, 'MAX_DOWNLOAD', 1 << 20)
    partial = tmp_path / 'partial'
    with Misbehaving(endless) as server:
        with pytest.raises(FetchError, match='sent more than 1 MiB, more than any PBS archive: refused, nothing kept'):
            Fetcher({}, timeout=5, retries=0).fetch_file([server.url], str(partial), '0' * 64)
    assert partial.stat().st_size == 0


def test_a_body_announced_larger_than_any_archive_is_refused_before_reading(tmp_path):
    with Misbehaving(too_large) as server:
        with pytest.raises(FetchError, match='announces 8589934592 bytes, more than any PBS archive'):
            Fetcher({}, timeout=5, retries=0).fetch_file([server.url], str(tmp_path / 'partial'), '0' * 64)
        assert not (tmp_path / 'partial').exists()


def test_the_invocation_logged_to_syslog_carries_no_url_token(monkeypatch):
    args = {'url': 'https://mirror.example/pbs/asset.tar.gz?X-Amz-Signature=SIGabc123&token=TOKabc123',
            'mirror': ['https://ghp_USERtoken9:x-oauth-basic@mirror.example/pbs']}
    logged = []
    monkeypatch.setattr(UrlModule, 'log', lambda self, msg, log_args=None: logged.append(msg))
    with module_args(args):
        UrlModule(argument_spec=dict(url=dict(type='str'), mirror=dict(type='list', elements='str')))
    assert logged and 'Invoked with' in logged[0]
    for secret in ('SIGabc123', 'TOKabc123', 'ghp_USERtoken9'):
        assert secret not in logged[0], logged[0]
