#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pbs_mirror
short_description: Sync a uv-compatible python-build-standalone mirror root with a list of locked assets
version_added: 0.1.0
description:
  - Makes the directory O(root) on the host hold exactly the python-build-standalone (PBS) assets listed
    in O(assets), in uv's mirror layout C(<root>/<TAG>/<asset>) (file names with a real C(+)), each one
    downloaded from O(upstream) and verified against its sha256. O(assets) is normally the output of the
    C(pbs.python.lock) lookup, whose digests come from upstream's C(SHA256SUMS).
  - Writes a C(SHA256SUMS) per tag in upstream's format (C(<hex>  <name>), sorted) that lists exactly the
    verified assets the root holds, and a uv downloads JSON (uv's C(download-metadata.json) schema) so
    that C(uv python install --mirror <url> --python-downloads-json-url <url>/<uv_json>) installs from it.
    Both are replaced atomically.
  - Reruns download nothing. A state file C(<root>/.pbs-mirror-state.json) remembers size, mtime and
    sha256 of every verified file, so only files whose size or mtime changed are hashed again; a file
    whose digest is wrong is removed and downloaded again.
  - Downloads go to C(<asset>.partial); an interrupted sync resumes it with an HTTP C(Range) request on
    the next run, and the whole file is verified before it is renamed into place.
author:
  - pbs.python contributors (@pbs-python)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pbs.python._url
options:
  root:
    description:
      - Mirror root directory; created when missing.
    type: path
    required: true
  upstream:
    description:
      - Base URLs to download from, tried in order, with the layout C(<mirror>/<TAG>/<asset>); upstream
        releases or another mirror. C(http://), C(https://) and C(file://).
      - The next one is tried on connection errors, timeouts, 404 and 5xx, never after a checksum mismatch.
    type: list
    elements: str
    default: ['https://github.com/astral-sh/python-build-standalone/releases/download']
  assets:
    description:
      - The assets the mirror must hold, as dicts with C(asset) (file name), C(build) (release tag) and
        C(sha256); other keys (as in C(pbs.python.lock) entries) are ignored.
    type: list
    elements: dict
    required: true
  uv_json:
    description:
      - File name, in O(root), of the uv downloads JSON to write. Empty to write none.
    type: str
    default: download-metadata.json
  prune:
    description:
      - Remove files under the tag directories that O(assets) does not list (assets of pins dropped since,
        stale partial downloads). Without it they stay, and stay listed while they still verify.
    type: bool
    default: false
  rehash:
    description:
      - Hash every present file again instead of trusting the size and mtime recorded in the state file.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Check mode hashes present files but downloads and writes nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Runs on the mirror host with Python 3.8 or later and its standard library only.
  - The C(pbs.python.pbs_mirror) role resolves pins into O(assets) and serves O(root) with nginx.
  - For a site that needs no sync at all, the role's proxy mode (C(pbs_mirror_mode=proxy)) runs nginx as
    a caching pull-through proxy of the upstream, with the same layout, and does not use this module.
seealso:
  - module: pbs.python.pbs_python
  - name: uv's Python mirror settings
    description: C(UV_PYTHON_INSTALL_MIRROR) and C(UV_PYTHON_DOWNLOADS_JSON_URL).
    link: https://docs.astral.sh/uv/reference/environment/
'''

EXAMPLES = r'''
- name: Mirror two pins for two targets
  pbs.python.pbs_mirror:
    root: /srv/pbs
    assets: "{{ lookup('pbs.python.lock', pins, targets=['x86_64-unknown-linux-gnu',
                'aarch64-unknown-linux-gnu'], wantlist=True) }}"
  vars:
    pins:
      - {version: "3.12", build: "20240726"}
      - {version: "3.13", build: "20260814"}

- name: Mirror one known asset from another mirror
  pbs.python.pbs_mirror:
    root: /srv/pbs
    upstream: [https://pbs.example.com/pbs]
    assets:
      - asset: cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz
        build: "20240726"
        sha256: ca076aee7a5e1b3e0f0bd32d52fc4b5fcb6d1b5a1fe1e6b1d7b42e06b9f45420
'''

RETURN = r'''
downloaded:
  description: Assets that were missing and were downloaded (and verified).
  returned: always
  type: list
  elements: str
kept:
  description: Assets already present with the right digest.
  returned: always
  type: list
  elements: str
replaced:
  description: Assets present with a wrong digest (corrupt or replaced upstream) that were downloaded again.
  returned: always
  type: list
  elements: str
resumed:
  description: Downloaded or replaced assets whose download continued an interrupted one (HTTP Range).
  returned: always
  type: list
  elements: str
pruned:
  description: Files removed by O(prune), as C(<TAG>/<name>).
  returned: always
  type: list
  elements: str
sha256sums:
  description: C(SHA256SUMS) files written (or removed, for a tag that holds nothing any more).
  returned: always
  type: list
  elements: str
  sample: [/srv/pbs/20240726/SHA256SUMS]
uv_json:
  description: Path of the uv downloads JSON, or null when O(uv_json) is empty.
  returned: always
  type: str
  sample: /srv/pbs/download-metadata.json
held:
  description: Every verified asset the mirror holds, as C(<TAG>/<asset>).
  returned: always
  type: list
  elements: str
failures:
  description: Assets that could not be synced, with the reason; the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError
from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC, UrlModule, check_url_params
from ansible_collections.pbs.python.plugins.module_utils._mirror import Mirror, MirrorError
from ansible_collections.pbs.python.plugins.module_utils._naming import UPSTREAM

ARGUMENT_SPEC = dict(
    root=dict(type='path', required=True),
    upstream=dict(type='list', elements='str', default=[UPSTREAM]),
    assets=dict(type='list', elements='dict', required=True),
    uv_json=dict(type='str', default='download-metadata.json'),
    prune=dict(type='bool', default=False),
    rehash=dict(type='bool', default=False),
)
ARGUMENT_SPEC.update(URL_ARGUMENT_SPEC)


def main():
    module = UrlModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    check_url_params(module, 'upstream')
    mirror = Mirror(params['root'], params['upstream'], params, timeout=params['timeout'],
                    retries=params['retries'], check_mode=module.check_mode, rehash=params['rehash'])
    try:
        result = mirror.sync(params['assets'], uv_json=params['uv_json'], prune=params['prune'])
    except (MirrorError, FetchError, ValueError, OSError) as exc:
        module.fail_json(msg=str(exc), **mirror.result)
    if result['failures']:
        module.fail_json(msg='could not sync %d of %d assets: %s' % (
            len(result['failures']), len(params['assets']),
            '; '.join('%s: %s' % (f['asset'], f['msg']) for f in result['failures'])), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
