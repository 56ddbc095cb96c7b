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

from ansible_collections.pbs.python.plugins.module_utils._naming import (
    check_build, minor_of, parse_version, version_matches,
)

PIN_KEYS = ('version', 'build', 'variant', 'freethreaded', 'default', 'link')
DEFAULT_VARIANT = 'install_only_stripped'


def _identity(pin):
    return (pin['version'], pin['build'], pin['variant'], pin['freethreaded'])


def _label(pin):
    return '%s+%s%s (%s)' % (pin['version'], pin['build'], 't' if pin['freethreaded'] else '',
                             ', '.join(pin['sources']))


def normalize_pin(raw, source):
    """One pin with every key present and typed; YAML numbers for versions are refused."""
    if not isinstance(raw, dict):
        raise AnsibleFilterError('%s: each pin must be a dict with version and build, got %r' % (source, raw))
    unknown = sorted(set(raw) - set(PIN_KEYS))
    if unknown:
        raise AnsibleFilterError('%s: unknown pin keys %s (allowed: %s)' % (source, ', '.join(unknown), ', '.join(PIN_KEYS)))
    if 'version' not in raw or 'build' not in raw:
        raise AnsibleFilterError('%s: pin %r needs both version and build' % (source, raw))
    if isinstance(raw['version'], float):
        raise AnsibleFilterError('%s: version %r is a YAML number (3.10 would read as 3.1); quote it: "%s"'
                                 % (source, raw['version'], raw['version']))
    try:
        parse_version(str(raw['version']))
        build = check_build(str(raw['build']))
    except ValueError as exc:
        raise AnsibleFilterError('%s: %s' % (source, exc))
    return dict(version=str(raw['version']), build=build, variant=raw.get('variant') or DEFAULT_VARIANT,
                freethreaded=bool(raw.get('freethreaded', False)), default=bool(raw.get('default', False)),
                link=bool(raw.get('link', True)), sources=[source])


def merge_pins(sources, links=True):
    """The union of pin lists by source name; ``links=False`` ignores default/link claims.

    Claims only matter on one host: a mirror built from the pins of many hosts (whose claims may
    differ from host to host) merges them with ``links=False``.
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


def pin_matches(pin, install):
    return (install['build'] == pin['build'] and install['variant'] == pin['variant']
            and bool(install['freethreaded']) == pin['freethreaded']
            and version_matches(pin['version'], install['version']))


def unpinned(installs, pins):
    """Installs (pbs_python_info entries) that no pin names: what prune removes, drift reports."""
    return [install for install in installs if not any(pin_matches(pin, install) for pin in pins)]


def missing(installs, pins):
    """Pins with no working install: what a converge would install."""
    return [pin for pin in pins if not any(pin_matches(pin, i) and i.get('works', True) for i in installs)]


def interpreters(results):
    """Minor version (``3.13t`` when free-threaded) -> interpreter path, from pbs_python loop results."""
    found = {}
    for result in results or []:
        if result.get('python') and not result.get('failed'):
            key = minor_of(result['version']) + ('t' if result.get('freethreaded') else '')
            item = result.get('item') or {}
            if key not in found or item.get('link', True):
                found[key] = result['python']
    return found


class FilterModule(object):
    def filters(self):
        return {'merge_pins': merge_pins, 'unpinned': unpinned, 'missing_pins': missing,
                'interpreters': interpreters}
