# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: lock
short_description: Resolve pins against a mirror into exact assets and digests (a lock file)
version_added: 0.1.0
description:
  - For every pin and target, reads the mirror's C(SHA256SUMS) once per tag and returns the exact
    asset name, Python version and sha256. Written to a file by the C(pbs.python.lock) playbook and
    given back to the role as C(pbs_python_lock_file), it makes every later run install exactly those
    bytes without ever reading C(SHA256SUMS) again.
author: pbs.python contributors (@pbs-python)
extends_documentation_fragment:
  - pbs.python._url
options:
  _terms:
    description:
      - Pins (dicts with C(version), C(build), optional C(variant), C(freethreaded)), and optionally
        C(targets), the triples that pin is needed for (default O(targets)).
    required: true
    type: list
    elements: dict
  mirrors:
    description: Mirror base URLs tried in order (C(http://), C(https://), C(file://)).
    type: list
    elements: str
    default: [https://github.com/astral-sh/python-build-standalone/releases/download]
  targets:
    description: PBS target triples to lock each pin for.
    type: list
    elements: str
    default: [x86_64-unknown-linux-gnu]
  cache_dir:
    description: The controller's download cache; the SHA256SUMS read here are reused by controller delivery.
    type: str
    default: ~/.cache/pbs-python/downloads
'''

EXAMPLES = r'''
- name: Lock the fleet's pins for two targets
  ansible.builtin.debug:
    msg: "{{ lookup('pbs.python.lock', pins, mirrors=['https://pbs.internal/pbs'],
             targets=['x86_64-unknown-linux-gnu', 'aarch64-unknown-linux-gnu'], wantlist=True) }}"
  vars:
    pins: [{version: "3.12", build: "20240726"}]
'''

RETURN = r'''
_raw:
  description: One entry per pin and target.
  type: list
  elements: dict
  contains:
    pin: {description: The pin as written in inventory (version+build)., type: str}
    target: {description: PBS target triple., type: str}
    asset: {description: Exact asset name., type: str}
    version: {description: Exact Python version., type: str}
    sha256: {description: Digest of the asset., type: str}
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC
from ansible_collections.pbs.python.plugins.module_utils._naming import sums_url
from ansible_collections.pbs.python.plugins.module_utils._pin import InstallError, Pin, normalize_pin
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums
from ansible_collections.pbs.python.plugins.plugin_utils._delivery import DeliveryError, url_fetcher
from ansible_collections.pbs.python.plugins.plugin_utils._download_cache import CacheError, DownloadCache


def lock_entries(pins, mirrors, targets, read_text):
    """Pure core: pins x targets -> lock entries, reading each tag's SHA256SUMS at most once."""
    sums = {}

    def sums_for(build):
        if build not in sums:
            sums[build] = parse_sha256sums(read_text([sums_url(m, build) for m in mirrors]))
        return sums[build]

    entries = {}
    for raw in pins:
        pin = normalize_pin(dict((k, raw[k]) for k in ('version', 'build', 'variant', 'freethreaded') if k in raw),
                            'lock')
        for target in raw.get('targets') or targets:  # a pin may name its own targets
            key = (pin['version'], pin['build'], pin['variant'], pin['freethreaded'], target)
            if key in entries:
                continue
            request = Pin(pin['version'], pin['build'], variant=pin['variant'],
                          freethreaded=pin['freethreaded'], mirrors=mirrors)
            request.check(target)
            asset, digest, version = request.choose(target, lambda: sums_for(pin['build']))
            entries[key] = dict(pin='%s+%s' % (pin['version'], pin['build']), version=version, build=pin['build'],
                                variant=pin['variant'], freethreaded=pin['freethreaded'], target=target,
                                asset=asset, sha256=digest)
    return sorted(entries.values(), key=lambda e: (e['asset'], e['pin']))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        pins = [pin for term in terms for pin in (term if isinstance(term, list) else [term])]
        try:
            # As given (the module's spec checks them): a role's "" for "no CA file" must stay "",
            # not become the current directory as a path-typed lookup option would.
            cache = DownloadCache(self.get_option('cache_dir'), url_fetcher(dict(
                (name, kwargs[name] if name in kwargs else self.get_option(name)) for name in URL_ARGUMENT_SPEC)))
            return lock_entries(pins, self.get_option('mirrors'), self.get_option('targets'), cache.read_text)
        except (InstallError, CacheError, DeliveryError, ValueError) as exc:
            raise AnsibleLookupError('pbs.python.lock: %s' % exc)
