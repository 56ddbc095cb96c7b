"""Build (optionally) and serve a PBS-layout test mirror in the foreground, until SIGTERM/SIGINT.

    python tests/support/serve_mirror.py --root DIR --host ADDR [--port N] --log FILE --pidfile FILE
                                         [--pins JSON] [--url-file FILE]
    python tests/support/serve_mirror.py --stop --pidfile FILE

``--pins`` is a JSON list (or ``@file`` holding one) of pins to lay out under ``DIR`` with
``pbs_fixtures.make_mirror`` before serving. Two spellings are accepted:

* the role's: ``{"version": "3.12.1", "build": "20240107", "variant": "install_only"}``, variant
  defaulting to ``install_only_stripped`` as in the role, so an inventory's pins can be passed as
  they are;
* make_mirror's: ``{"version": ..., "tag": ..., "variant": ..., "stamp": ..., "source": ...}``.

A version ``X.Y`` means the newest local interpreter of that minor. A tag that is not the real PBS
tag of that version (``pbs_fixtures.REAL_TAGS``) is a synthetic build: it gets its own bytes (the
tag as gzip stamp), so two builds of one version have different sha256 as real builds do.

Once listening, the URL is printed on stdout and, with ``--url-file``, written there (atomically,
after the pidfile), so a caller that starts this detached waits for that file. Every answered
request is appended to ``--log``. The pidfile is removed on a clean exit.

``--stop`` ends the server a pidfile names (SIGTERM, then SIGKILL after 5 s), only if that pid
still is a serve_mirror.py process started with that pidfile; a missing pidfile or a dead process is
not an error, so it is safe on every teardown path. Stdlib only.
"""

import argparse
import json
import os
import signal
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pbs_fixtures  # noqa: E402
from mirror_server import MirrorServer  # noqa: E402


def mirror_pins(pins):
    """make_mirror pins for role-style or make_mirror-style pins (see the module docstring)."""
    out, seen = [], set()
    for pin in pins:
        pin = dict(pin)
        if 'build' in pin:
            pin['tag'] = str(pin.pop('build'))
            pin.setdefault('variant', 'install_only_stripped')
        for key in ('default', 'link', 'freethreaded'):
            if key == 'freethreaded' and pin.get(key):
                raise ValueError('free-threaded test builds cannot be made from local interpreters: %r' % pin)
            pin.pop(key, None)
        version = str(pin['version'])
        if version.count('.') == 1:
            version = pbs_fixtures.interpreter(version)[0]
        pin['version'] = version
        if pin.get('stamp') is None and pbs_fixtures.REAL_TAGS.get(version) != pin['tag']:
            pin['stamp'] = int(pin['tag']) if pin['tag'].isdigit() else zlib.crc32(pin['tag'].encode())
        key = (version, pin['tag'], pin.get('variant', 'install_only'))
        if key not in seen:
            seen.add(key)
            out.append(pin)
    return out


def _write_atomic(path, text):
    tmp = '%s.tmp-%d' % (path, os.getpid())
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.replace(tmp, path)


def _ours(pid, pidfile):
    """Is ``pid`` a live serve_mirror.py started with this pidfile (not a reused pid)?"""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            argv = handle.read().decode('utf-8', 'replace').split('\0')
        with open('/proc/%d/stat' % pid) as handle:
            state = handle.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return (state not in ('Z', 'X') and any(a.endswith('serve_mirror.py') for a in argv)
            and os.path.abspath(pidfile) in [os.path.abspath(a) for a in argv if a != '--pidfile'])


def stop(pidfile, grace=5.0):
    """End the server ``pidfile`` names; True if one was running."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return False
    if not _ours(pid, pidfile):
        os.unlink(pidfile)
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _ours(pid, pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _ours(pid, pidfile):
            break
    if _ours(pid, pidfile):
        raise RuntimeError('serve_mirror pid %d did not stop' % pid)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--root', help='mirror directory (<root>/<TAG>/<asset>)')
    parser.add_argument('--host', help='address to listen on')
    parser.add_argument('--port', type=int, default=0, help='port (default: any free one)')
    parser.add_argument('--log', help='request log, one line per answered request')
    parser.add_argument('--pidfile', required=True)
    parser.add_argument('--pins', help='JSON list of pins to build first, or @FILE')
    parser.add_argument('--url-file', help='write the URL here once listening')
    parser.add_argument('--stop', action='store_true', help='stop the server the pidfile names')
    args = parser.parse_args(argv)
    if args.stop:
        print('serve_mirror: %s' % ('stopped' if stop(args.pidfile) else 'was not running'), file=sys.stderr)
        return 0
    for required in ('root', 'host', 'log'):
        if not getattr(args, required):
            parser.error('--%s is required (unless --stop)' % required)

    if args.pins:
        text = open(args.pins[1:]).read() if args.pins.startswith('@') else args.pins
        pins = mirror_pins(json.loads(text))
        os.makedirs(args.root, exist_ok=True)
        sums = pbs_fixtures.make_mirror(args.root, pins)
        print('serve_mirror: built %d asset(s) under %s' % (len(sums), args.root), file=sys.stderr, flush=True)
    if not os.path.isdir(args.root):
        parser.error('--root %s does not exist (give --pins to build it)' % args.root)

    server = MirrorServer(args.root, host=args.host, port=args.port, log_path=args.log)

    def on_signal(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        _write_atomic(args.pidfile, '%d\n' % os.getpid())
        if args.url_file:
            _write_atomic(args.url_file, server.url + '\n')
        print(server.url, flush=True)
        server.serve_forever()
    finally:
        server.server_close()
        try:
            with open(args.pidfile) as handle:
                if handle.read().strip() == str(os.getpid()):
                    os.unlink(args.pidfile)
        except OSError:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
