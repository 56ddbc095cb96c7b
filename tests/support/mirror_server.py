"""A real HTTP mirror on loopback that records every request it answers.

Tests prove "no network on a no-op" and "one GET per asset for the fleet" from this log, so the
log is written both in memory and to a file that subprocesses' assertions can read. Requests for
``%2B`` find the file named with ``+``, as on GitHub and uv-compatible mirrors.
"""

import functools
import http.server
import os
import threading
import time
from urllib.parse import unquote, urlsplit


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):  # the server keeps its own structured log
        pass

    def _record(self, status):
        self.server.record(self.command, unquote(urlsplit(self.path).path), status, self.headers)

    def send_response(self, code, message=None):
        self._record(code)
        super().send_response(code, message)

    def copyfile(self, source, outputfile):
        """Send a file body, counting the bytes per path (benchmarks report bytes served)."""
        path = unquote(urlsplit(self.path).path)
        for block in iter(lambda: source.read(1 << 16), b''):
            outputfile.write(block)
            self.server.count_bytes(path, len(block))

    def do_GET(self):
        hook = self.server.hooks.get(unquote(urlsplit(self.path).path))
        if hook is not None and hook(self) is not False:
            return
        super().do_GET()

    def guess_type(self, path):
        if path.endswith('.tar.gz'):
            return 'application/gzip'
        if os.path.basename(path) == 'SHA256SUMS':
            return 'text/plain; charset=utf-8'
        return super().guess_type(path)


class MirrorServer(http.server.ThreadingHTTPServer):
    """Serve ``root`` on ``host``; ``requests`` lists (method, path, status) in arrival order.

    ``bytes_sent`` counts the file body bytes sent (``bytes_by_path`` per decoded path), so a
    benchmark can report what a fleet pulled from the mirror; ``reset`` clears both.

    ``hooks`` maps a decoded path to ``fn(handler)`` that answers the request itself (return
    False to fall through to the file), so tests can program faults per path.
    """

    daemon_threads = True

    def __init__(self, root, host='127.0.0.1', port=0, log_path=None):
        self.root = root
        self.requests = []
        self.hooks = {}
        self.bytes_sent = 0
        self.bytes_by_path = {}
        self.log_path = log_path
        self._lock = threading.Lock()
        super().__init__((host, port), functools.partial(_Handler, directory=root))
        self._thread = None

    @property
    def url(self):
        host, port = self.server_address[:2]
        return 'http://%s:%d' % (host, port)

    def record(self, method, path, status, headers):
        entry = (method, path, status)
        with self._lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, 'a') as handle:
                    handle.write('%.3f %s %s %d\n' % (time.time(), method, path, status))

    def count_bytes(self, path, size):
        with self._lock:
            self.bytes_sent += size
            self.bytes_by_path[path] = self.bytes_by_path.get(path, 0) + size

    def gets(self, suffix=''):
        return [path for method, path, dummy in self.requests if method == 'GET' and path.endswith(suffix)]

    def reset(self):
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0
            self.bytes_by_path.clear()

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
