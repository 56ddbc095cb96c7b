#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pbs_python_bootstrap
short_description: Install a pinned python-build-standalone build on a host without Python, over raw commands
version_added: 0.1.0
description:
  - For minimal images and golden-image builds that have no Python, so no module can run yet. Works with
    C(gather_facts) off; the host needs only a POSIX shell, C(uname), C(od), C(tar), C(gzip) and one of
    C(sha256sum), C(shasum) or C(openssl).
  - Detects the host's target from its dynamic loader, C(uname) and C(/proc/cpuinfo) with the same
    rules as M(pbs.python.pbs_python); resolves and downloads the archive once on the controller
    (verified, cached in O(cache_dir)); copies it to the host; checks its sha256 again there; extracts it
    with C(tar) into a staging directory; checks the interpreter runs; writes the same receipt and
    C(BUILD) file as M(pbs.python.pbs_python); and renames it into place.
  - Sets C(ansible_python_interpreter) for the host to the new interpreter, so the rest of the play
    runs normal modules on it.
  - A host that already has the build (receipt matches and the interpreter runs) gets nothing.
author:
  - pbs.python contributors (@pbs-python)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  version: {description: 'Python version, exact or X.Y.', type: str, required: true}
  build: {description: 'PBS release tag.', type: str, required: true}
  variant: {description: 'Archive variant.', type: str, choices: [install_only_stripped, install_only], default: install_only_stripped}
  freethreaded: {description: 'Free-threaded build.', type: bool, default: false}
  target: {description: 'PBS target triple; detected with raw commands when omitted.', type: str}
  x86_64_level: {description: 'x86-64 level for detection.', type: str, default: baseline, choices: [baseline, v1, v2, v3, v4, auto]}
  mirror: {description: 'Mirrors the controller downloads from.', type: list, elements: str}
  sha256: {description: 'Expected sha256 of the archive.', type: str}
  checksums: {description: 'Pinned sha256 digests by asset name (a lock file).', type: dict}
  strict_checksums: {description: 'Refuse assets O(checksums) does not list.', type: bool, default: false}
  install_root: {description: 'Where builds live on the host.', type: path, default: /opt/pbs-python}
  cache_dir: {description: 'Controller cache of verified archives.', type: path, default: ~/.cache/pbs-python/downloads}
  set_interpreter: {description: 'Set C(ansible_python_interpreter) to the installed interpreter.', type: bool, default: true}
  validate_certs: {description: 'Verify TLS certificates of the mirrors.', type: bool, default: true}
  ca_path: {description: 'CA bundle for HTTPS mirrors.', type: path}
  headers: {description: 'Extra HTTP headers for the mirrors.', type: dict}
  url_username: {description: 'Basic-auth user for the mirrors.', type: str}
  url_password: {description: 'Basic-auth password for the mirrors.', type: str}
  timeout: {description: 'Seconds per request.', type: int, default: 30}
  retries: {description: 'Retries of transient failures.', type: int, default: 3}
'''

EXAMPLES = r'''
- name: Bring Python to a bare image
  hosts: fresh
  gather_facts: false
  tasks:
    - name: Install the pinned interpreter without Python on the host
      pbs.python.pbs_python_bootstrap:
        version: "3.12"
        build: "20240726"
        mirror: [https://pbs.internal.example/pbs]

    - name: Modules now run on it
      ansible.builtin.setup:
'''

RETURN = r'''
python: {description: 'The interpreter, now the host''s ansible_python_interpreter.', returned: always, type: str}
path: {description: 'The install directory.', returned: always, type: str}
version: {description: 'Exact Python version.', returned: always, type: str}
build: {description: 'PBS release tag.', returned: always, type: str}
target: {description: 'Detected PBS target triple.', returned: always, type: str}
sha256: {description: 'Verified digest of the archive.', returned: always, type: str}
url: {description: 'Where the controller got the archive, without credentials.', returned: always, type: str}
'''
