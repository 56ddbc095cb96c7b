# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pins as inventory declares them: merged across groups, checked for conflicts, compared with hosts.

Ansible gives a host in two groups only one value of a variable, so groups declare their pins
in variables of their own (``pbs_python_installs__<group>``) and these filters take the union.
Everything here is pure, so the role, the report playbook and the tests share one definition
of "what a host should have".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pbs.python.plugins.module_utils._naming import minor_of
from ansible_collections.pbs.python.plugins.module_utils._pin import (  # interpreters: the module publishes the same
    PinError, interpreters, missing, normalize_pin, unpinned,
)


def _identity(pin):
    return (pin['version'], pin['build'], pin['variant'], pin['freethreaded'])


def _label(pin):
    return '%s+%s%s (%s)' % (pin['version'], pin['build'], 't' if pin['freethreaded'] else '',
                             ', '.join(pin['sources']))


def merge_pins(sources, links=True):
    """The union of pin lists by source name; ``links=False`` ignores default/link claims.

    Claims only matter on one host: a mirror built from the pins of many hosts (whose claims may
    differ from host to host) merges them with ``links=False``.
    """
    merged = {}
    for source in sorted(sources or {}):
        for raw in sources[source] or []:
            try:
                pin = normalize_pin(raw, source)
            except PinError as exc:
                raise AnsibleFilterError(str(exc))
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
        raise AnsibleFilterError('pins %s all claim the default python3 link; set default: true on one '
                                 'of them only' % ' and '.join(_label(p) for p in defaults))
    linked = {}
    for pin in pins:
        if pin['link']:
            name = 'python%s%s' % (minor_of(pin['version']), 't' if pin['freethreaded'] else '')
            if name in linked:
                raise AnsibleFilterError('pins %s and %s both claim the %s link; set link: false on one of '
                                         'them' % (_label(linked[name]), _label(pin), name))
            linked[name] = pin
    return pins


class FilterModule(object):
    def filters(self):
        return {'merge_pins': merge_pins, 'unpinned': unpinned, 'missing_pins': missing,
                'interpreters': interpreters}
