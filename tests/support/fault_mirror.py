"""A fault-injecting PBS mirror on loopback, over HTTP or HTTPS, plus a recording HTTP proxy.

``FaultMirror`` is a ``MirrorServer`` (same files, same request log, same ``hooks``) whose
behaviour each test programs per path with ``program(path, *steps, then=FILE)``: the n-th request
for ``path`` gets the n-th step, every later one gets ``then`` (by default the file on disk). Steps
are small callables built by the functions below, for example::

    mirror.program('/a/20240107/asset', unavailable(retry_after=1), unavailable(), then=FILE)
    mirror.program('/b/20240107/asset', then=stall(after=1024, seconds=10))

Every answered request is also kept in ``events`` with its arrival time, so tests can measure the
backoff between retries, and with its request headers (in memory only: they are never written to
the log file, which a test greps for secrets), so tests see exactly what reached each origin.

Also here: ``make_test_ca`` (a CA and a server certificate for loopback, made with the
``cryptography`` package when it is installed, else the ``openssl`` command), ``ForwardingProxy``
(a plain HTTP forward proxy that records what it forwards) and ``closed_port`` (a loopback port on
which nothing listens).
"""

import base64
import datetime
import functools
import http.client
import http.server
import ipaddress
import os
import socket
import ssl
import subprocess
import threading
import time
from urllib.parse import unquote, urlsplit

from mirror_server import MirrorServer, _Handler

FILE = None  # as a step: serve the file on disk for this path


class _FaultHandler(_Handler):
    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        expected = self.server.auth_for(path)
        if expected is not None:
            sent = self.headers.get('Authorization')
            self.server.note_auth(path, sent is not None, sent == expected)
            if sent != expected:
                challenge = {'WWW-Authenticate': 'Basic realm="pbs"'} if expected.startswith('Basic ') else {}
                return send(self, 401, b'authentication required\n', headers=challenge)
        return super().do_GET()

    def do_HEAD(self):
        return self.do_GET()


class FaultMirror(MirrorServer):
    """A MirrorServer with programmable faults, optional TLS and per-prefix authentication."""

    def __init__(self, root, host='127.0.0.1', port=0, log_path=None, tls=None):
        super().__init__(root, host=host, port=port, log_path=log_path)
        self.RequestHandlerClass = functools.partial(_FaultHandler, directory=root)
        self.tls = tls  # a server-side ssl.SSLContext, or None for plain HTTP
        self.events = []  # dicts: time, method, path, status
        self.auth_events = []  # (path, header sent, header matched)
        self.tls_failures = 0
        self.released = threading.Event()  # ends every stall and hold at once
        self._auth = {}
        self._programs = {}

    @property
    def url(self):
        host, port = self.server_address[:2]
        return '%s://%s:%d' % ('https' if self.tls else 'http', host, port)

    # -- programming -------------------------------------------------------------------------

    def program(self, path, *steps, then=FILE):
        """Answer the n-th request for ``path`` with ``steps[n]``, later ones with ``then``."""
        queue = list(steps)

        def hook(handler):
            with self._lock:
                step = queue.pop(0) if queue else then
            if step is FILE:
                return False
            step(handler)
            return True

        self._programs[path] = queue
        self.hooks[path] = hook

    def clear(self):
        """Remove every programmed fault and auth rule: the mirror serves its files again."""
        self.hooks.clear()
        self._programs.clear()
        self._auth.clear()

    def require_auth(self, prefix, header_value):
        """Paths under ``prefix`` need exactly this Authorization header (else 401)."""
        self._auth[prefix] = header_value

    def auth_for(self, path):
        for prefix, value in self._auth.items():
            if path.startswith(prefix):
                return value
        return None

    def note_auth(self, path, sent, matched):
        with self._lock:
            self.auth_events.append((path, sent, matched))

    def alias(self, name, target):
        """Make ``/<name>/...`` serve the files of ``/<target>/...`` (a symlink in the root)."""
        link = os.path.join(self.root, name)
        if not os.path.lexists(link):
            os.symlink(target, link)
        return '%s/%s' % (self.url, name)

    # -- log ---------------------------------------------------------------------------------

    def record(self, method, path, status, headers):
        super().record(method, path, status, headers)
        with self._lock:
            self.events.append(dict(time=time.time(), method=method, path=path, status=status,
                                    headers=dict((k.lower(), v) for k, v in headers.items())))

    def under(self, prefix):
        """(method, path, status) of every request under ``prefix``, in arrival order."""
        return [(e['method'], e['path'], e['status']) for e in list(self.events) if e['path'].startswith(prefix)]

    def times(self, path):
        return [e['time'] for e in list(self.events) if e['path'] == path]

    def reset(self):
        super().reset()
        with self._lock:
            self.events.clear()
            self.auth_events.clear()

    # -- TLS ---------------------------------------------------------------------------------

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.settimeout(10)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                with self._lock:
                    self.tls_failures += 1
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # a client hanging up mid-body is a test, not an error
        pass

    def stop(self):
        self.released.set()
        super().stop()


# -- steps ---------------------------------------------------------------------------------------

def _body_of(handler, data):
    if data is not None:
        return data
    path = handler.translate_path(handler.path)
    with open(path, 'rb') as source:
        return source.read()


def send(handler, code, body=b'', content_type='text/plain; charset=utf-8', headers=None, length=None):
    """Send a complete response; ``length`` may lie about Content-Length (see ``cut``)."""
    handler.send_response(code)
    handler.send_header('Content-Type', content_type)
    handler.send_header('Content-Length', str(len(body) if length is None else length))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != 'HEAD':
        handler.wfile.write(body)
    handler.wfile.flush()


def status(code, body=None, headers=None):
    """An HTTP error status with a short text body."""
    def step(handler):
        text = body if body is not None else ('%d %s\n' % (code, http.client.responses.get(code, ''))).encode()
        send(handler, code, text, headers=headers)
    return step


def unavailable(retry_after=None, code=503):
    return status(code, headers={'Retry-After': str(retry_after)} if retry_after is not None else None)


def html_page(code=200):
    """What a proxy, captive portal or CDN error page looks like: HTML with a success status."""
    page = (b'<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>'
            b'<body><h1>Sorry, something went wrong</h1></body></html>\n')
    return lambda handler: send(handler, code, page, content_type='text/html; charset=utf-8')


def redirect(location, code=302):
    """Redirect to ``location`` (a path on this mirror or an absolute URL)."""
    def step(handler):
        target = location
        if target.startswith('/'):
            target = handler.server.url + target
        send(handler, code, b'', headers={'Location': target})
    return step


def serve(data, content_type='application/gzip'):
    """200 with these bytes, whatever the file on disk holds (wrong bytes under the right name)."""
    return lambda handler: send(handler, 200, data, content_type=content_type)


def cut(after, data=None):
    """Promise the whole body in Content-Length, send only ``after`` bytes, then hang up."""
    def step(handler):
        body = _body_of(handler, data)
        send(handler, 200, body[:after], content_type='application/gzip', length=len(body))
        handler.close_connection = True
    return step


def stall(after=1024, seconds=10.0, data=None):
    """Send the headers and ``after`` bytes of the body, then nothing for ``seconds``, then hang up."""
    def step(handler):
        body = _body_of(handler, data)
        send(handler, 200, body[:after], content_type='application/gzip', length=len(body))
        handler.server.released.wait(seconds)
        handler.close_connection = True
    return step


def trickle(interval=0.5, seconds=60.0, data=None):
    """Send the headers, then one byte of the body every ``interval`` seconds: no single read
    ever times out, yet the transfer would take hours."""
    def step(handler):
        body = _body_of(handler, data)
        send(handler, 200, b'', content_type='application/gzip', length=len(body))
        _dribble(handler, body, interval, seconds)
    return step


def slow_headers(interval=0.5, seconds=600.0):
    """Answer the status line and headers one byte every ``interval`` seconds."""
    def step(handler):
        head = b'HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n' + b'X-Padding: ' + b'x' * 4000 + b'\r\n\r\n'
        handler.server.record(handler.command, unquote(urlsplit(handler.path).path), 200, handler.headers)
        _dribble(handler, head, interval, seconds)
    return step


def _dribble(handler, data, interval, seconds):
    """Write ``data`` a byte every ``interval`` seconds, until done, ``seconds`` pass or the test releases it."""
    deadline = time.time() + seconds
    for byte in data:
        if handler.server.released.wait(interval) or time.time() > deadline:
            break
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            break  # the client gave up: what the test wants
    handler.close_connection = True


def hold(event, data=None, timeout=120.0, reached=None):
    """Wait until ``event`` is set (or the mirror stops), then serve the whole body.

    ``reached`` (an Event) is set when the request arrives, so a test knows a client is waiting.
    """
    def step(handler):
        if reached is not None:
            reached.set()
        deadline = time.time() + timeout
        while not event.is_set() and not handler.server.released.is_set() and time.time() < deadline:
            event.wait(0.1)
        send(handler, 200, _body_of(handler, data), content_type='application/gzip')
    return step


def partial_then_hold(after, event, data=None, reached=None):
    """Send ``after`` bytes of the body, signal ``reached``, then wait for ``event`` before hanging up."""
    def step(handler):
        body = _body_of(handler, data)
        send(handler, 200, body[:after], content_type='application/gzip', length=len(body))
        if reached is not None:
            reached.set()
        while not event.is_set() and not handler.server.released.is_set():
            event.wait(0.1)
        handler.close_connection = True
    return step


def basic(user, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


# -- loopback helpers ----------------------------------------------------------------------------

def closed_port(host='127.0.0.1'):
    """A port on ``host`` with nothing listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def make_test_ca(directory, hosts=('127.0.0.1', 'localhost')):
    """Write ca.pem, server.pem and server.key for ``hosts`` under ``directory``; return their paths.

    The CA is made here, in the test, and trusted by nothing else on the machine.
    """
    os.makedirs(directory, exist_ok=True)
    paths = dict((name, os.path.join(directory, name)) for name in ('ca.pem', 'server.pem', 'server.key'))
    try:
        import cryptography  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        _make_test_ca_openssl(directory, hosts, paths)
    else:
        _make_test_ca_cryptography(hosts, paths)
    return paths


def _make_test_ca_cryptography(hosts, paths):
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'pbs.python reliability test CA')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(paths['ca.pem'], 'wb') as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths['server.pem'], 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths['server.key'], 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _make_test_ca_openssl(directory, hosts, paths):
    def run(*argv):
        subprocess.run(('openssl',) + argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ca_key = os.path.join(directory, 'ca.key')
    csr = os.path.join(directory, 'server.csr')
    ext = os.path.join(directory, 'server.ext')
    sans = ','.join(('IP:%s' if _is_ip(h) else 'DNS:%s') % h for h in hosts)
    with open(ext, 'w') as handle:
        handle.write('subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' % sans)
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca_key,
        '-out', paths['ca.pem'], '-days', '1', '-subj', '/CN=pbs.python reliability test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', paths['server.key'],
        '-out', csr, '-subj', '/CN=%s' % hosts[0])
    run('x509', '-req', '-in', csr, '-CA', paths['ca.pem'], '-CAkey', ca_key, '-CAcreateserial', '-days', '1',
        '-out', paths['server.pem'], '-extfile', ext)


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def server_tls_context(paths):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths['server.pem'], paths['server.key'])
    return context


# -- proxy ---------------------------------------------------------------------------------------

class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        if not parts.scheme:  # not a proxy request
            self.server.note(self.command, self.path, self.headers.get('Host'), 400)
            return send(self, 400, b'this is a proxy: send absolute URIs\n')
        upstream = self.server.routes.get(parts.hostname, '%s://%s' % (parts.scheme, parts.netloc))
        up = urlsplit(upstream)
        connection = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=30)
        target = parts.path + ('?' + parts.query if parts.query else '')
        headers = dict((k, v) for k, v in self.headers.items()
                       if k.lower() not in ('proxy-connection', 'connection', 'keep-alive', 'proxy-authorization'))
        try:
            connection.request(self.command, target, headers=headers)
            response = connection.getresponse()
        except OSError as exc:
            self.server.note(self.command, self.path, parts.hostname, 502)
            return send(self, 502, ('proxy: upstream failed: %s\n' % exc).encode())
        self.server.note(self.command, self.path, parts.hostname, response.status)
        body = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ('connection', 'keep-alive', 'transfer-encoding', 'content-length'):
                self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        connection.close()


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """A plain-HTTP forward proxy on loopback; ``requests`` lists (method, absolute URL, host, status).

    ``routes`` maps a host name to the base URL that really serves it, so a mirror under a name
    that does not resolve (``pbs-mirror.invalid``) is reachable only through this proxy.
    """

    daemon_threads = True

    def __init__(self, routes=None, host='127.0.0.1'):
        super().__init__((host, 0), _ProxyHandler)
        self.routes = dict(routes or {})
        self.requests = []
        self._lock = threading.Lock()

    @property
    def url(self):
        return 'http://%s:%d' % self.server_address[:2]

    def note(self, method, url, host, code):
        with self._lock:
            self.requests.append((method, url, host, code))

    def handle_error(self, request, client_address):
        pass

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
