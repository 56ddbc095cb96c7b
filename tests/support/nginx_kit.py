"""The nginx that the pbs_mirror role starts for a test: a free port for it, and stopping it.

The role runs nginx as a daemon of its own (``nginx -c <dir>/nginx.conf``, pid file in that
directory), so a test that deployed it must stop it by that pid file on every exit path.
"""

import os
import signal
import socket
import time


def free_port(host='127.0.0.1'):
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def nginx_pid(nginx_dir):
    """The master pid the pid file in ``nginx_dir`` names, or None."""
    try:
        with open(os.path.join(nginx_dir, 'nginx.pid')) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def stop_nginx(nginx_dir):
    """Stop the nginx whose pid file is in ``nginx_dir`` and wait until it is gone."""
    pid = nginx_pid(nginx_dir)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for dummy in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
