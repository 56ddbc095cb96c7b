"""The one archive every contender installs, on one mirror, named as upstream names it.

The archive is the PBS-layout build of the local CPython 3.12.1 (tests/support/pbs_fixtures.py),
published under its real tag and asset name, so the module, uv (through ``--mirror`` and a
downloads JSON naming the same bytes) and ``get_url`` all fetch the very same file.
"""

import json
import os

import pbs_fixtures
from mirror_server import MirrorServer

VERSION = '3.12.1'
TAG = '20240107'
TRIPLE = pbs_fixtures.HOST_TRIPLE
ASSET = pbs_fixtures.asset(VERSION, TAG, TRIPLE, 'install_only')
# uv rewrites URLs that start with this prefix onto --mirror (shared/docs/pbs-facts.md, 3.3).
UPSTREAM = 'https://github.com/astral-sh/python-build-standalone/releases/download'


class Mirror(object):
    """``<root>/<TAG>/<asset>`` plus SHA256SUMS; ``serve(host)`` starts a MirrorServer on it."""

    def __init__(self, root):
        self.root = root
        sums = pbs_fixtures.make_mirror(root, [dict(version=VERSION, tag=TAG)])
        self.sha256 = sums[ASSET]
        self.path = os.path.join(root, TAG, ASSET)
        self.size = os.path.getsize(self.path)

    def serve(self, host='127.0.0.1'):
        return MirrorServer(self.root, host=host).start()

    def publish(self, source, relpath):
        """Add another file (hard link, no copy) at ``relpath``; returns its path."""
        dest = os.path.join(self.root, relpath)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if not os.path.exists(dest):
            try:
                os.link(source, dest)
            except OSError:
                import shutil
                shutil.copyfile(source, dest)
        return dest

    def asset_url(self, server):
        return '%s/%s/%s' % (server.url, TAG, ASSET.replace('+', '%2B'))

    def uv_downloads_json(self, path):
        """A downloads JSON in uv's schema naming only this archive; returns ``path``."""
        major, minor, patch = (int(part) for part in VERSION.split('.'))
        entry = {
            'name': 'cpython',
            'arch': {'family': 'x86_64', 'variant': None},
            'os': 'linux',
            'libc': 'gnu',
            'major': major,
            'minor': minor,
            'patch': patch,
            'prerelease': '',
            'url': '%s/%s/%s' % (UPSTREAM, TAG, ASSET.replace('+', '%2B')),
            'sha256': self.sha256,
            'variant': None,
            'build': TAG,
        }
        with open(path, 'w') as handle:
            json.dump({'cpython-%s-linux-x86_64-gnu' % VERSION: entry}, handle, indent=1)
        return path
