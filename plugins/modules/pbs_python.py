#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pbs_python
short_description: Install an exact, pinned python-build-standalone CPython build
version_added: 0.1.0
description:
  - Makes sure one exact python-build-standalone (PBS) interpreter, named by Python version and
    PBS release tag (O(build)), is installed under O(install_root), downloaded from a mirror with
    the layout C(<mirror>/<TAG>/<asset>) (the layout of uv's C(UV_PYTHON_INSTALL_MIRROR)) and
    verified by sha256.
  - Idempotent from the state on the host. Every install carries a receipt; a matching receipt and
    a working interpreter mean no change and no network access at all. A damaged install is repaired.
  - Download, sha256 and extraction happen in one streaming pass into a staging directory beside the
    target, which is renamed into place only when complete and verified. On any failure the staging
    directory is removed and an existing install is untouched. Concurrent runs on one host take turns
    on a lock file in O(install_root).
  - Archive members are checked before anything is written (absolute names, C(..), links leaving
    the tree, device files and oversized archives are refused), on every Python from 3.8 on.
  - Also writes uv's C(BUILD) file, so uv's build pinning recognises the install.
  - Records a manifest of the installed tree (C(PBS_MANIFEST.json) beside the receipt, every path with its type,
    mode, symlink target, and a file's size and sha256, computed as the archive is extracted) and its digest in
    the receipt. M(pbs.python.pbs_python_info) checks trees against it; O(repair) reinstalls a tree that differs.
author:
  - pbs.python contributors (@pbs-python)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pbs.python._url
options:
  version:
    description:
      - Python version, either exact (V(3.12.4), pre-releases as PBS spells them, V(3.15.0rc1)) or a
        minor V(3.12) meaning the 3.12 patch that O(build) has for the target (PBS releases carry
        one patch per minor).
      - Required with O(state=present). With O(state=absent), selects which installs to remove.
    type: str
  build:
    description:
      - The PBS release tag, for example V(20240726). Required with O(state=present).
      - Builds before 20220227 cannot be resolved by name; use O(url) and O(sha256) for those.
    type: str
  variant:
    description:
      - Which install archive of the build. V(install_only_stripped) exists from build 20240726 on.
      - With O(state=present) the default is V(install_only_stripped); with O(state=absent), installs of
        any variant match unless this is set.
    type: str
    choices: [install_only_stripped, install_only]
  freethreaded:
    description:
      - Install the free-threaded build (C(-freethreaded-install_only[_stripped]) assets, published
        from build 20260324 on). Its interpreter is C(python3.Xt).
      - With O(state=present) the default is V(false); with O(state=absent), both kinds match unless
        this is set.
    type: bool
  target:
    description:
      - PBS target triple, for example V(x86_64-unknown-linux-gnu) or V(aarch64-apple-darwin).
      - Default is detected on the host (machine, glibc or musl from the dynamic loader, armv7 hard or
        soft float, 32-bit userland on a 64-bit kernel, Rosetta 2 on macOS).
    type: str
  x86_64_level:
    description:
      - x86-64 microarchitecture level used when O(target) is detected on an x86_64 Linux host.
        V(baseline) is what uv picks; V(auto) takes the highest level the CPU supports; an explicit
        level the CPU lacks is an error.
    type: str
    choices: [baseline, v1, v2, v3, v4, auto]
    default: baseline
  mirror:
    description:
      - Base URL of a PBS mirror, or a list of them tried in order. Layout C(<mirror>/<TAG>/<asset>),
        with C(SHA256SUMS) per tag. C(http://), C(https://) and C(file://) URLs.
      - The next mirror is tried on connection errors, timeouts, 404 and 5xx, never after a
        checksum mismatch.
      - User info in a URL (C(https://user:token@host/...)) is sent as basic authentication (after
        the server asks, or at once with O(force_basic_auth)); O(url_username) and O(url_password)
        take precedence. The secret is masked in results and never written to receipts.
    type: list
    elements: str
    default: ['https://github.com/astral-sh/python-build-standalone/releases/download']
  url:
    description:
      - Explicit URL of the archive (C(http://), C(https://) or C(file://)); no naming rules apply.
        O(version) and O(build) still name the install.
      - When O(sha256) is not given, the digest is read from C(SHA256SUMS) beside the URL.
    type: str
  delivery:
    description:
      - V(host) downloads on the host from O(mirror). V(controller) downloads each asset once on the
        controller (into O(cache_dir), verified, resuming interrupted downloads) and copies it to the
        hosts that need it; hosts then need no access to any mirror. A host that already has the
        build receives nothing.
      - With V(controller), O(mirror) may be a C(file://) directory on the controller, and a cache
        filled beforehand works with no network at all.
      - An option of the action plugin, on the controller; it is not sent to the host.
    type: str
    choices: [host, controller]
    default: host
  cache_dir:
    description:
      - Controller directory of verified archives for O(delivery=controller), content-addressed by sha256.
      - An option of the action plugin, on the controller; it is not sent to the host.
    type: path
    default: ~/.cache/pbs-python/downloads
  sha256:
    description:
      - Expected sha256 of the archive (hex, or C(sha256:<hex>)). When omitted it is read from
        C(<mirror>/<TAG>/SHA256SUMS); when no digest is available at all, the task fails.
      - When given, an installed build with another recorded digest is replaced.
    type: str
  checksums:
    description:
      - Pinned sha256 digests by asset name, for example the role's C(pbs_python_checksums) or a lock
        file's entries. An asset listed here must have exactly that digest, so a replaced or tampered
        mirror is detected, and needs no C(SHA256SUMS) from the mirror; a X.Y O(version) resolves
        against these names first.
    type: dict
  strict_checksums:
    description:
      - Refuse any asset that O(checksums) does not list instead of reading the mirror's
        C(SHA256SUMS); with a lock file, the same bytes are installed whenever the playbook runs.
    type: bool
    default: false
  install_root:
    description:
      - Directory that holds one sub-directory per build, named after its asset, side by side. An absolute
        path; an empty or relative one is refused.
      - A symlink or a file where an install directory goes is refused, never replaced, and so is a
        directory whose receipt cannot be read (it is left alone, and listed by M(pbs.python.pbs_python_info)).
    type: path
    default: /opt/pbs-python
  link_dir:
    description:
      - Directory in which to maintain a C(python3.X) (C(python3.Xt) when free-threaded) symlink to
        this install, for example V(/usr/local/bin). Links are switched atomically. An absolute path;
        an empty or relative one is refused.
      - A link this module did not make (one that does not point into an install under O(install_root),
        for example one to the system Python) is refused before anything is downloaded, unless
        O(take_over_links) is set. A file that is not a symlink is never replaced.
    type: path
  take_over_links:
    description:
      - Replace links in O(link_dir) that this module did not make (symlinks that do not point into an
        install under O(install_root)). The old target is recorded in the install's receipt and restored by
        O(state=absent); if it no longer exists then, the link is removed with a warning.
    type: bool
    default: false
  default:
    description:
      - Also point C(python3) in O(link_dir) at this install.
    type: bool
    default: false
  state:
    description:
      - V(present) installs the build; V(absent) removes the matching installs and the links in
        O(link_dir) that point into them; a link taken over with O(take_over_links) gets its old target back.
        Links and directories this module did not make are never removed.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Reinstall even when a matching, working install is present.
    type: bool
    default: false
  repair:
    description:
      - Reinstall, from the pinned bytes, an install whose tree differs from the manifest recorded when it was
        installed (a file changed, missing or added, a mode changed), as M(pbs.python.pbs_python_info) reports it.
        The reinstall takes the normal path (download or controller delivery, staging, checks, atomic swap), keeps
        the links, and reports V(changed) with what it found in RV(repaired).
      - The check compares sizes, modes and mtimes (milliseconds); O(verify) hashes every file instead. Installs
        made by releases that recorded no manifest cannot be checked and are left alone (use O(force)).
    type: bool
    default: false
  verify:
    description:
      - With O(repair), compare every file's sha256 with the manifest instead of its size, mode and mtime; this also
        finds a change that kept a file's size and mtime, at the cost of reading the whole tree.
      - Also start every pinned interpreter to check that it runs and reports its version, as after an install. Without
        O(verify), an interpreter is started only when its binary, its shared libpython or the C(encodings) files its start
        imports differ (size, mode or mtime) from when it last ran, as recorded in its receipt; a daily no-op then starts no Python but the module's own.
    type: bool
    default: false
  externally_managed:
    description:
      - V(true) writes PEP 668's C(EXTERNALLY-MANAGED) marker into the install's standard library directory, as uv
        does for its interpreters, so C(pip install) into the shared interpreter is refused and users make virtual
        environments (which the marker does not affect). V(false) removes it.
      - Unset leaves the install as it is.
    type: bool
  pins:
    description:
      - Every build the host should have, in one task and one module execution, as the C(pbs.python.pbs_python)
        role does. Each is installed as with O(version) and O(build), then O(prune) applies. The other options
        (mirrors, checksums, O(link_dir), O(externally_managed)...) apply to all.
      - Exclusive with the options that name one build (O(version), O(build), O(variant), O(freethreaded),
        O(default), O(url), O(sha256)); only with O(state=present).
    type: list
    elements: dict
    suboptions:
      version:
        description: As O(version).
        type: str
        required: true
      build:
        description: As O(build).
        type: str
        required: true
      variant:
        description: As O(variant).
        type: str
        choices: [install_only_stripped, install_only]
        default: install_only_stripped
      freethreaded:
        description: As O(freethreaded).
        type: bool
        default: false
      default:
        description: As O(default); at most one pin should set it.
        type: bool
        default: false
      link:
        description: Maintain this build's C(python3.X) link in O(link_dir); V(false) leaves the links alone.
        type: bool
        default: true
      sha256:
        description: As O(sha256).
        type: str
  prune:
    description:
      - With O(pins), remove every install under O(install_root), of any target, that no pin names, and the
        links into it (as O(state=absent) does), after the pins are installed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Check mode uses only the state on the host; it makes no network request.
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Hosts need only Python 3.8 or later with its standard library.
  - PBS records its build prefix C(/install) and its build compilers in the interpreter's sysconfig data and
    pkg-config files. Before a new install is moved into place they are rewritten as uv rewrites them (the real
    install path, C(cc)/C(c++), C(PYTHON_BUILD_STANDALONE=1)), so C extensions build against it.
  - With E(SOURCE_DATE_EPOCH) set in the task's environment (the reproducible-builds convention), the receipt's
    C(installed_at) and the mtime of every file the module writes are that time, so two image builds from the same
    pins give byte-identical install trees.
seealso:
  - name: python-build-standalone
    description: The project that builds the interpreters.
    link: https://github.com/astral-sh/python-build-standalone
'''

EXAMPLES = r'''
- name: Install CPython 3.12.4 of PBS release 20240726 from an internal mirror
  pbs.python.pbs_python:
    version: "3.12.4"
    build: "20240726"
    mirror: https://mirror.example.com/pbs
    link_dir: /usr/local/bin

- name: The 3.12 patch of build 20240726, with two mirrors and a pinned digest
  pbs.python.pbs_python:
    version: "3.12"
    build: "20240726"
    mirror:
      - https://mirror-a.example.com/pbs
      - https://mirror-b.example.com/pbs
    sha256: ca076aee7a5e1b3e0f0bd32d52fc4b5fcb6d1b5a1fe1e6b1d7b42e06b9f45420

- name: Free-threaded 3.14 with the default python3 link
  pbs.python.pbs_python:
    version: "3.14"
    build: "20260814"
    freethreaded: true
    link_dir: /usr/local/bin
    default: true

- name: Any archive by URL
  pbs.python.pbs_python:
    version: "3.11.9"
    build: "20240814"
    url: https://files.example.com/python/cpython-3.11.9-custom.tar.gz
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

- name: Remove every install of build 20240107
  pbs.python.pbs_python:
    build: "20240107"
    state: absent
'''

RETURN = r'''
python:
  description: Absolute path of the interpreter.
  returned: state=present
  type: str
  sample: /opt/pbs-python/cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped/bin/python3.12
path:
  description: The install directory.
  returned: state=present
  type: str
  sample: /opt/pbs-python/cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped
version:
  description:
    - The exact Python version.
    - In check mode before a first install, an X.Y pin that no pinned checksum settles shows as C(X.Y.*), in
      I(path) too, because the newest patch is read from SHA256SUMS at run time and check mode makes no requests.
  returned: state=present
  type: str
  sample: 3.12.4
build:
  description: The PBS release tag.
  returned: state=present
  type: str
  sample: "20240726"
target:
  description: The PBS target triple (with O(state=absent), only when O(target) or O(x86_64_level) selects one).
  returned: always
  type: str
  sample: x86_64-unknown-linux-gnu
variant:
  description: The archive variant.
  returned: state=present
  type: str
  sample: install_only_stripped
freethreaded:
  description: Whether the build is free-threaded.
  returned: state=present
  type: bool
sha256:
  description: The verified sha256 of the archive.
  returned: state=present
  type: str
url:
  description: Where the archive came from, without credentials or query.
  returned: state=present
  type: str
delivered:
  description: With O(delivery=controller), whether the archive was copied to this host.
  returned: when O(delivery=controller)
  type: bool
links:
  description: Links maintained in O(link_dir), name to target.
  returned: always
  type: dict
externally_managed:
  description: Whether the install carries PEP 668's C(EXTERNALLY-MANAGED) marker.
  returned: state=present
  type: bool
repaired:
  description:
    - With O(repair), when the install's tree differed from its manifest and was reinstalled (in check mode, would
      be), what differed; paths relative to the install directory. In RV(results) per pin with O(pins).
  returned: when a repair happened
  type: dict
  contains:
    modified: {description: Files whose content differs (size or mtime; with O(verify) sha256) and links with another target., type: list, elements: str}
    missing: {description: Paths the manifest lists that are gone., type: list, elements: str}
    extra: {description: Paths the manifest does not list (a new directory stands for all it holds)., type: list, elements: str}
    mode: {description: Paths whose mode changed., type: list, elements: str}
    error: {description: 'Why the tree could not be compared (a missing or altered manifest), or empty.', type: str}
removed:
  description: Install directories removed (O(state=absent), or O(prune)).
  returned: state=absent, or with O(pins)
  type: list
  elements: str
results:
  description: With O(pins), one result per pin, in order, as a single-pin task returns it, with the pin as C(item).
  returned: with O(pins)
  type: list
  elements: dict
interpreters:
  description: With O(pins), minor version (C(3.13t) when free-threaded) to interpreter path.
  returned: with O(pins)
  type: dict
  sample: {"3.12": /opt/pbs-python/cpython-3.12.4+20240726-x86_64-unknown-linux-gnu-install_only_stripped/bin/python3.12}
default_interpreter:
  description: With O(pins), the interpreter of the pin with C(default), or an empty string.
  returned: with O(pins)
  type: str
'''

from ansible_collections.pbs.python.plugins.module_utils._host import interpreter_runner, sysctl_reader
from ansible_collections.pbs.python.plugins.module_utils._install_root import absolute_path
from ansible_collections.pbs.python.plugins.module_utils._installer import Installer
from ansible_collections.pbs.python.plugins.module_utils._pin import (
    DEFAULT_INSTALL_ROOT, DEFAULT_X86_64_LEVEL, OPTIONS, PIN_KEYS, RULES, InstallError, Pin, check_request,
)
from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target
from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC, FetcherOnDemand, UrlModule, check_url_params

ARGUMENT_SPEC = dict(OPTIONS, **URL_ARGUMENT_SPEC)


def main():
    module = UrlModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **RULES)
    params = module.params
    try:
        root = absolute_path('install_root', params['install_root'], DEFAULT_INSTALL_ROOT)
        link_dir = absolute_path('link_dir', params['link_dir'], '/usr/local/bin')
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    check_url_params(module, 'mirror')
    if check_request(params):
        module.fail_json(msg=check_request(params))
    try:
        if params['state'] == 'present' and not (params['mirror'] or params['url'] or params['_src'] or
                                                 params['pins'] is not None and all(p['_src'] for p in params['pins'])):
            module.fail_json(msg='mirror is empty: list at least one mirror, or give url')
        if params['state'] == 'absent' and not params['target'] and params['x86_64_level'] == DEFAULT_X86_64_LEVEL:
            target = None  # absent matches installs of every target unless one is asked for
        else:
            target = params['target'] or detect_target(params['x86_64_level'], sysctl=sysctl_reader(module))
        installer = Installer(
            root=root, target=target, link_dir=link_dir,
            fetcher=FetcherOnDemand(params),
            check_mode=module.check_mode, run=interpreter_runner(module), take_over_links=params['take_over_links'])
        if params['pins'] is not None:
            pins = []
            for entry in params['pins']:
                pin = Pin.from_entry(params, entry)
                pin.check(target)
                pins.append((pin, dict((name, entry[name]) for name in PIN_KEYS)))
            result = installer.converge(pins, prune=params['prune'], ask_first=params['_ask_first'])
        elif params['state'] == 'absent':
            result = installer.absent(params['version'], params['build'], params['variant'], params['freethreaded'])
        else:
            pin = Pin.from_params(params)
            pin.check(target)
            result = installer.present(pin, ask_first=params['_ask_first'])
    except (InstallError, ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    for warning in installer.warnings:
        module.warn(warning)
    if result.pop('failed', False):
        module.fail_json(**result)
    if not module._diff:
        result.pop('diff', None)
        for pin_result in result.get('results', []):
            pin_result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
