# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pbs_python role's variables as module arguments: the one mapping, in Python.

The role's install task runs on every host on every daily run, and ansible-core forks a fresh
worker per host for it: the first filter, test or lookup a worker meets loads ansible's filter
and lookup plugins again (about 140 ms of CPU per host, measured), and each template is compiled
again per host. So the install task has no template: its action plugin builds the arguments here
from the host's variables. The role's other entry points (bootstrap, the lock and report
playbooks) get the same mapping through the ``pbs.python.role`` lookup.

``value(name)`` returns a variable rendered for the host (None when unset); ``read_lock(path)``
returns a lock file's parsed content. Both are I/O: ``host_readers`` makes them from what the
action plugin and the lookup have, the tests pass their own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFileNotFound
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pbs.python.plugins.module_utils._naming import minor_of
from ansible_collections.pbs.python.plugins.module_utils._pin import PinError, normalize_pin

# Groups declare their pins in variables of their own: Ansible gives a host in two groups only one
# value of a variable, so the host's pins are the union of all of these.
PIN_VARIABLES = re.compile(r'pbs_python_installs(__.+)?\Z')
PREFIX = 'pbs_python_'
# Options every module task of the role gets, from pbs_python_<option> as they are...
SHARED = ('install_root', 'cache_dir', 'mirror', 'x86_64_level', 'validate_certs', 'force_basic_auth', 'use_proxy',
          'use_netrc', 'timeout', 'retries')
RENAMED = {'mirror': 'mirrors'}  # the one option whose variable is not pbs_python_<option>
# ...and those whose empty value ("", {}) means the module's default.
SHARED_IF_SET = ('target', 'ca_path', 'client_cert', 'client_key', 'headers', 'url_username', 'url_password')
# The install task's own options, likewise.
INSTALL = ('prune', 'externally_managed', 'repair', 'verify', 'delivery')
INSTALL_IF_SET = ('link_dir', 'take_over_links')


def _identity(pin):
    return (pin['version'], pin['build'], pin['variant'], pin['freethreaded'])


def _label(pin):
    return '%s+%s%s (%s)' % (pin['version'], pin['build'], 't' if pin['freethreaded'] else '',
                             ', '.join(pin['sources']))


def merge_pins(sources, links=True):
    """The union of pin lists by source name; ``links=False`` ignores default/link claims.

    Claims only matter on one host: a mirror built from the pins of many hosts (whose claims may
    differ from host to host) merges them with ``links=False``. Raises PinError.
    """
    merged = {}
    for source in sorted(sources or {}):
        for raw in sources[source] or []:
            pin = normalize_pin(raw, source)
            same = merged.get(_identity(pin))
            if same is None:
                merged[_identity(pin)] = pin
            else:
                same['default'] = same['default'] or pin['default']
                same['link'] = same['link'] or pin['link']
                same['sources'] = sorted(set(same['sources'] + pin['sources']))
    pins = sorted(merged.values(), key=_identity)
    if not links:
        return pins
    defaults = [pin for pin in pins if pin['default']]
    if len(defaults) > 1:
        raise PinError('pins %s all claim the default python3 link; set default: true on one '
                       'of them only' % ' and '.join(_label(p) for p in defaults))
    linked = {}
    for pin in pins:
        if pin['link']:
            name = 'python%s%s' % (minor_of(pin['version']), 't' if pin['freethreaded'] else '')
            if name in linked:
                raise PinError('pins %s and %s both claim the %s link; set link: false on one of '
                               'them' % (_label(linked[name]), _label(pin), name))
            linked[name] = pin
    return pins


def host_pins(names, value):
    """The host's pins: the union of pbs_python_installs and every pbs_python_installs__<name> in ``names``."""
    return merge_pins(dict((name, value(name)) for name in names if PIN_VARIABLES.match(name)))


def lock_checksums(lock, path):
    """asset -> sha256 of a lock file's content (written by the pbs.python.lock playbook)."""
    try:
        return dict((str(entry['asset']), str(entry['sha256'])) for entry in lock['assets'])
    except (KeyError, TypeError) as exc:
        raise PinError('pbs_python_lock_file %s is not a pbs.python lock file (%s: no assets with asset and sha256): '
                       'write it with the pbs.python.lock playbook' % (path, exc.__class__.__name__))


def host_readers(templar, loader, variables):
    """(value, read_lock) for one host's ``variables`` (task vars), with ansible's templar and loader.

    A relative lock file is searched where ``lookup('file')`` searches from the task: the role's
    files/ and directory, then the playbook's.
    """
    def value(name):
        return templar.template(variables[name]) if name in variables else None

    def read_lock(path):
        try:
            found = loader.path_dwim_relative_stack(variables.get('ansible_search_path') or [], 'files', path)
        except AnsibleFileNotFound as exc:
            raise PinError('pbs_python_lock_file: %s' % exc)
        return loader.load_from_file(found)
    return value, read_lock


def _given(value, names, if_set):
    """Options from their variables; unset ones (None), and empty ones of ``if_set``, left to the module."""
    given = [(name, value(PREFIX + RENAMED.get(name, name))) for name in names + if_set]
    return dict((name, option) for name, option in given if option is not None and (option or name not in if_set))


def module_options(value, read_lock):
    """What every module task of the role gets (module_defaults): root, mirrors, digests, target, URL options.

    A lock file's digests join pbs_python_checksums, and make them strict: a pinned fleet installs
    nothing the lock does not name. Without ``read_lock`` the lock file is not read (the lock playbook
    writes it).
    """
    lock_file = value(PREFIX + 'lock_file') if read_lock else None
    checksums = dict(value(PREFIX + 'checksums') or {})
    if lock_file:
        checksums.update(lock_checksums(read_lock(lock_file), lock_file))
    try:
        strict = boolean(value(PREFIX + 'strict_checksums') or False)
    except TypeError as exc:
        raise PinError('pbs_python_strict_checksums: %s' % exc)
    return dict(_given(value, SHARED, SHARED_IF_SET), checksums=checksums, strict_checksums=strict or bool(lock_file))


def install_arguments(names, value, read_lock):
    """The role's install task: every pin of the host, the links, prune, and the shared options."""
    arguments = module_options(value, read_lock)
    arguments.update(_given(value, INSTALL, INSTALL_IF_SET))
    arguments['pins'] = [dict((key, item) for key, item in pin.items() if key != 'sources')
                         for pin in host_pins(names, value)]
    return arguments
