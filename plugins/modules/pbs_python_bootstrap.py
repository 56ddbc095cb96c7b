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
    C(gather_facts) off; the host needs only a POSIX shell, C(uname), C(od), C(head), C(gzip), C(tar), one of
    C(sha256sum), C(shasum) or C(openssl), and room in its remote temp directory for the unpacked archive.
  - This action only gets an interpreter onto the host; the install is done by M(pbs.python.pbs_python)
    running on it, so it has the module's lock, extraction checks, relocation, receipt and C(BUILD) file.
  - Detects the host's target from its dynamic loader, C(uname) and C(/proc/cpuinfo) with the same rules as
    M(pbs.python.pbs_python). If an install under O(install_root) has a Python that can run modules, the
    module runs on it first and answers from the receipts, so a host that has the build gets nothing, and
    the controller downloads nothing for it.
  - Otherwise the controller resolves and downloads the archive (verified, cached in O(cache_dir)) and copies
    it to the host's remote temp directory, where its sha256 is checked again and a temporary copy is unpacked
    with the system C(tar) only to get an interpreter. That interpreter runs M(pbs.python.pbs_python) on the
    archive, which refuses a hostile archive exactly as a download. The copy and the archive are then removed.
  - Sets the host's discovered interpreter (the fact C(discovered_interpreter_python)) to the new interpreter,
    so the rest of the play runs modules on it unless C(ansible_python_interpreter) says otherwise.
  - The pinned Python must be 3.8 or later, as the module runs on it.
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
  set_interpreter: {description: 'Make the installed interpreter the host''s discovered Python (C(discovered_interpreter_python)).', type: bool, default: true}
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
python:
  description: The interpreter, now the host's discovered Python; the other keys of M(pbs.python.pbs_python) are returned too.
  returned: always
  type: str
path: {description: 'The install directory.', returned: always, type: str}
version: {description: 'Exact Python version.', returned: always, type: str}
build: {description: 'PBS release tag.', returned: always, type: str}
target: {description: 'Detected PBS target triple.', returned: always, type: str}
sha256: {description: 'Verified digest of the archive.', returned: always, type: str}
url: {description: 'Where the controller got the archive, without credentials.', returned: always, type: str}
'''
