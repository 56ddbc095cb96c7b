#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pbs_python_info
short_description: Report the python-build-standalone builds installed on a host
version_added: 0.1.0
description:
  - Lists every build under O(install_root) from its receipt (version, build, target, variant,
    sha256, source URL), the links that point into it, and whether its interpreter still runs.
  - Entries under O(install_root) without a receipt (or that are not directories) are reported as
    unrecognized; they are neither installs of this collection nor complete ones. A directory whose
    receipt cannot be used (unreadable, not JSON, a field of the wrong type or form) is listed in
    RV(damaged) with the reason; the other installs are reported as usual.
  - Checks each install's tree against the manifest recorded when it was installed (every path, type, mode,
    symlink target, size and sha256), as C(rpm -V) does, and reports what differs in RV(installs[].drift). By
    default it compares sizes, modes and mtimes only (a stat of each path); O(verify=true) hashes every file again.
  - Reads only the host's state; never uses the network.
author:
  - pbs.python contributors (@pbs-python)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: This module changes nothing.
  platform:
    platforms: posix
options:
  install_root:
    description: The directory that holds the builds. An absolute path.
    type: path
    default: /opt/pbs-python
  link_dir:
    description: Also report links in this directory that point into an install. An absolute path.
    type: path
  verify:
    description:
      - V(true) re-hashes every file of every install and compares it with the manifest's sha256 (reads the whole
        trees). V(false) compares sizes, modes and mtimes only, which misses a change that kept a file's size and
        mtime.
    type: bool
    default: false
  x86_64_level:
    description: x86-64 level assumed when detecting the host's target triple.
    type: str
    choices: [baseline, v1, v2, v3, v4, auto]
    default: baseline
'''

EXAMPLES = r'''
- name: What is installed here?
  pbs.python.pbs_python_info:
    link_dir: /usr/local/bin
  register: pbs

- name: Fail on broken interpreters
  ansible.builtin.assert:
    that: pbs.installs | rejectattr('works') | list | length == 0

- name: Re-hash every installed file against its manifest (file integrity monitoring)
  pbs.python.pbs_python_info:
    verify: true
  register: pbs_verified

- name: Name the files that changed since the install
  ansible.builtin.debug:
    msg: "{{ item.path }}: {{ item.drift }}"
  loop: "{{ pbs_verified.installs | selectattr('tampered') | list }}"
'''

RETURN = r'''
installs:
  description: One entry per install with a receipt, sorted by path.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: Install directory., type: str, returned: always}
    python: {description: The interpreter., type: str, returned: always}
    version: {description: Exact Python version., type: str, returned: always}
    build: {description: PBS release tag., type: str, returned: always}
    target: {description: PBS target triple., type: str, returned: always}
    variant: {description: Archive variant., type: str, returned: always}
    freethreaded: {description: Free-threaded build., type: bool, returned: always}
    sha256: {description: Digest of the archive it came from., type: str, returned: always}
    url: {description: 'Where it came from, without credentials.', type: str, returned: always}
    installed_at: {description: When it was installed (UTC)., type: str, returned: when recorded}
    links: {description: 'Links that point into it: link to target.', type: dict, returned: always}
    works: {description: Whether the interpreter starts and reports the recorded version., type: bool, returned: always}
    externally_managed: {description: "Whether it carries PEP 668's EXTERNALLY-MANAGED marker.", type: bool, returned: always}
    error: {description: Why it does not work., type: str, returned: always}
    tree_digest:
      description: sha256 of the manifest recorded at install time (mtimes excluded), the same on every host that
        installed the same archive under the same path; empty for an install without a manifest.
      type: str
      returned: always
    tampered:
      description: Whether the tree differs from its manifest, or the manifest is missing or does not match the receipt.
      type: bool
      returned: always
    drift:
      description: How the tree differs from its manifest; paths are relative to the install directory.
      type: dict
      returned: always
      contains:
        checked:
          description: V(sha256) (O(verify=true)), V(size+mode+mtime), or V(none) when there is no usable manifest.
          type: str
          returned: always
        manifest:
          description: V(recorded), V(none) (installed by a release that recorded no manifest; not drift), or
            V(damaged) (missing, altered or unreadable although the receipt records a digest; drift).
          type: str
          returned: always
        error: {description: 'Why the tree could not be checked, or empty.', type: str, returned: always}
        modified:
          description: Files whose content differs (sha256 with O(verify=true), else size or mtime), links with another
            target, and paths whose type changed.
          type: list
          elements: str
          returned: always
        missing: {description: Paths the manifest lists that are gone., type: list, elements: str, returned: always}
        extra:
          description: Paths the manifest does not list; a new directory stands for everything in it. Bytecode that
            running the interpreter wrote (C(__pycache__)) is listed too.
          type: list
          elements: str
          returned: always
        mode: {description: Paths whose mode changed., type: list, elements: str, returned: always}
target:
  description: The PBS target triple detected for this host (empty when it cannot be detected).
  returned: always
  type: str
  sample: x86_64-unknown-linux-gnu
unrecognized:
  description: Entries under the install root without a receipt, or that are not directories.
  returned: always
  type: list
  elements: str
damaged:
  description: Directories under the install root whose receipt cannot be used; the module neither
    matches nor removes them.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: The directory., type: str, returned: always}
    error: {description: What is wrong with its receipt., type: str, returned: always}
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pbs.python.plugins.module_utils import _install_root as root_fs
from ansible_collections.pbs.python.plugins.module_utils import _manifest
from ansible_collections.pbs.python.plugins.module_utils._host import interpreter_runner, sysctl_reader
from ansible_collections.pbs.python.plugins.module_utils._pin import DEFAULT_INSTALL_ROOT, DEFAULT_X86_64_LEVEL, X86_64_LEVELS
from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target

ARGUMENT_SPEC = dict(install_root=dict(type='path', default=DEFAULT_INSTALL_ROOT), link_dir=dict(type='path'),
                     verify=dict(type='bool', default=False),
                     x86_64_level=dict(type='str', default=DEFAULT_X86_64_LEVEL, choices=list(X86_64_LEVELS)))


def _names(root):
    try:
        return os.listdir(root)
    except OSError:  # missing, or not readable by this user: nothing to report there
        return []


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    try:
        root = root_fs.absolute_path('install_root', module.params['install_root'], '/opt/pbs-python')
        link_dir = root_fs.absolute_path('link_dir', module.params['link_dir'], '/usr/local/bin')
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    run = interpreter_runner(module)

    installs = []
    found, damaged = root_fs.survey(root)
    for path, receipt in found:
        works, why = root_fs.interpreter_runs(path, receipt, run)
        entry = dict((field, receipt[field]) for field in root_fs.RECEIPT_FIELDS)
        entry.update(path=path, python=root_fs.interpreter_path(path, receipt), works=works, error=why,
                     links=dict((link, os.readlink(link)) for link in root_fs.links_into(path, receipt, link_dir)),
                     externally_managed=root_fs.externally_managed(path, receipt))
        entry['tree_digest'], entry['drift'] = _manifest.verify(path, receipt, content=module.params['verify'])
        entry['tampered'] = _manifest.tampered(entry['drift'])
        if 'installed_at' in receipt:
            entry['installed_at'] = receipt['installed_at']
        installs.append(entry)
    known = set(entry['path'] for entry in installs) | set(path for path, dummy in damaged)
    unrecognized = sorted(
        os.path.join(root, name) for name in _names(root)
        if not name.startswith('.') and os.path.join(root, name) not in known)
    try:
        target = detect_target(module.params['x86_64_level'], sysctl=sysctl_reader(module))
    except ValueError as exc:
        module.warn(str(exc))
        target = ''
    module.exit_json(changed=False, installs=installs, unrecognized=unrecognized, target=target,
                     damaged=[dict(path=path, error=why) for path, why in damaged])


if __name__ == '__main__':
    main()
