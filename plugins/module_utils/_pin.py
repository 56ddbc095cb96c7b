# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pin: what a user asks for, checked once, and how it is settled into one exact asset and digest.

One definition for the module, both action plugins, the lock lookup and the filters, so a default,
a choice or a resolution rule cannot drift between the host and the controller. Pure (stdlib and the
pure ``_naming``/``_release``), so controller code imports it without the host installer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pbs.python.plugins.module_utils._naming import (
    UPSTREAM, VARIANTS, asset_name, check_available, check_build, check_target, is_prefix, minor_of, parse_version,
    version_matches,
)
from ansible_collections.pbs.python.plugins.module_utils._release import normalize_sha256, resolve

DEFAULT_VARIANT = VARIANTS[0]  # install_only_stripped: what uv installs
X86_64_LEVELS = ('baseline', 'v1', 'v2', 'v3', 'v4', 'auto')
DEFAULT_X86_64_LEVEL = 'baseline'
DELIVERIES = ('host', 'controller')
DEFAULT_INSTALL_ROOT = '/opt/pbs-python'
DEFAULT_CACHE_DIR = '~/.cache/pbs-python/downloads'
PIN_KEYS = ('version', 'build', 'variant', 'freethreaded', 'default', 'link')  # a pin in inventory

# pbs_python's options but the URL ones (the download layer's). The module documents the action's
# options too (delivery, cache_dir: ansible-doc shows a module's page); the action pops them. Options
# named _* are set only by the action plugins and refused from tasks.
OPTIONS = dict(
    version=dict(type='str'),
    build=dict(type='str'),
    variant=dict(type='str', choices=list(VARIANTS)),
    freethreaded=dict(type='bool'),
    target=dict(type='str'),
    x86_64_level=dict(type='str', choices=list(X86_64_LEVELS), default=DEFAULT_X86_64_LEVEL),
    mirror=dict(type='list', elements='str', default=[UPSTREAM]),
    url=dict(type='str'),
    delivery=dict(type='str', choices=list(DELIVERIES), default=DELIVERIES[0]),
    cache_dir=dict(type='path', default=DEFAULT_CACHE_DIR),
    sha256=dict(type='str'),
    checksums=dict(type='dict'),
    strict_checksums=dict(type='bool', default=False),
    install_root=dict(type='path', default=DEFAULT_INSTALL_ROOT),
    link_dir=dict(type='path'),
    take_over_links=dict(type='bool', default=False),
    default=dict(type='bool', default=False),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    force=dict(type='bool', default=False),
    repair=dict(type='bool', default=False),
    verify=dict(type='bool', default=False),
    externally_managed=dict(type='bool'),
    _src=dict(type='path'),  # the archive controller delivery or bootstrap put on the host
    _origin=dict(type='str'),  # the URL _src came from, recorded in the receipt
    _ask_first=dict(type='bool'),  # answer needs_archive instead of downloading
    pins=dict(type='list', elements='dict', options=dict(
        version=dict(type='str', required=True),
        build=dict(type='str', required=True),
        variant=dict(type='str', choices=list(VARIANTS), default=DEFAULT_VARIANT),
        freethreaded=dict(type='bool', default=False),
        default=dict(type='bool', default=False),
        link=dict(type='bool', default=True),
        sha256=dict(type='str'),
        _src=dict(type='path'),  # as above, per pin: set by controller delivery's second call
        _origin=dict(type='str'),
    )),
    prune=dict(type='bool', default=False),
)
# Options that name one build; a task gives them, or pins (a list of them), not both.
SINGLE_PIN_OPTIONS = ('version', 'build', 'variant', 'freethreaded', 'default', 'url', 'sha256', '_src', '_origin')
RULES = dict(
    required_one_of=[('version', 'build', 'pins')],
    mutually_exclusive=[('url', '_src')] + [('pins', name) for name in SINGLE_PIN_OPTIONS],
)
CONTROLLER_OPTIONS = ('delivery', 'cache_dir')


def check_request(params):
    """What the argument spec cannot say about validated options, as an error message, or None."""
    if params.get('pins') is not None:
        if params['state'] == 'absent':
            return 'pins installs the builds it lists: remove them with prune: true, or with version/build and state: absent'
        return None
    if params.get('prune'):
        return 'prune needs pins: the list of every build to keep on the host'
    if params['state'] == 'present':
        absent = [name for name in ('version', 'build') if not params.get(name)]
        if absent:
            return 'state is present but all of the following are missing: %s' % ', '.join(absent)
    return None


class InstallError(Exception):
    """A failure the user must act on; the message says what happened and what to do."""


class ChecksumMismatch(InstallError):
    """The bytes are not the pinned ones. Never retried elsewhere: a pin is a pin."""


class PinError(InstallError, ValueError):
    """A pin that names no build: wrong keys, types or spelling."""


def check_version(version):
    """The version exactly as written, or PinError.

    It becomes part of asset names, URLs, directory names and receipts, so it is refused rather than
    stripped: one pin has one spelling everywhere, and a stray newline from a file or a YAML block
    scalar is shown to the user instead of being hidden.
    """
    text = str(version)
    if text != text.strip():
        raise PinError('version %r has surrounding whitespace or a newline: write it as %r'
                       % (text, text.strip()))
    try:
        parse_version(text)
    except ValueError as exc:
        raise PinError(str(exc))
    return text


def normalize_pin(raw, source):
    """An inventory pin with every key present and typed; YAML numbers for versions are refused."""
    if not isinstance(raw, dict):
        raise PinError('%s: each pin must be a dict with version and build, got %r' % (source, raw))
    unknown = sorted(set(raw) - set(PIN_KEYS))
    if unknown:
        raise PinError('%s: unknown pin keys %s (allowed: %s)' % (source, ', '.join(unknown), ', '.join(PIN_KEYS)))
    if 'version' not in raw or 'build' not in raw:
        raise PinError('%s: pin %r needs both version and build' % (source, raw))
    if isinstance(raw['version'], float):
        raise PinError('%s: version %r is a YAML number (3.10 would read as 3.1); quote it: "%s"'
                       % (source, raw['version'], raw['version']))
    variant = raw.get('variant') or DEFAULT_VARIANT
    try:
        version = check_version(raw['version'])
        build = check_build(str(raw['build']))
    except ValueError as exc:
        raise PinError('%s: %s' % (source, exc))
    if variant not in VARIANTS:
        raise PinError('%s: variant %r is not one of %s' % (source, variant, ', '.join(VARIANTS)))
    return dict(version=version, build=build, variant=variant,
                freethreaded=bool(raw.get('freethreaded', False)), default=bool(raw.get('default', False)),
                link=bool(raw.get('link', True)), sources=[source])


def pin_matches(pin, install):
    """Does an install (a receipt, or a pbs_python_info entry) satisfy an inventory pin?"""
    return (install['build'] == pin['build'] and install['variant'] == pin['variant']
            and bool(install['freethreaded']) == pin['freethreaded']
            and version_matches(pin['version'], install['version']))


def unpinned(installs, pins):
    """Installs (pbs_python_info entries) that no pin names: what prune removes, drift reports."""
    return [install for install in installs if not any(pin_matches(pin, install) for pin in pins)]


def interpreters(results):
    """Minor version (``3.13t`` when free-threaded) -> interpreter path, from pbs_python results per pin.

    A pin with ``link: false`` gives way to a linked pin of the same minor.
    """
    found = {}
    for result in results or []:
        if result.get('python') and not result.get('failed'):
            version = result['version']
            minor = minor_of(version[:-len('.*')] if version.endswith('.*') else version)  # check mode: X.Y.*
            key = minor + ('t' if result.get('freethreaded') else '')
            item = result.get('item') or {}
            if key not in found or item.get('link', True):
                found[key] = result['python']
    return found


def default_interpreter(results):
    """The interpreter of the pin with ``default: true``, or ''."""
    return next((result['python'] for result in results or []
                 if (result.get('item') or {}).get('default') and result.get('python')), '')


def missing(installs, pins):
    """Pins with no working install: what a converge would install."""
    return [pin for pin in pins if not any(pin_matches(pin, i) and i.get('works', True) for i in installs)]


class Pin(object):
    """One pin as the module received it, validated, with the digests that may settle it.

    ``checksums`` maps asset names to pinned digests (a lock file, or the role's
    pbs_python_checksums); with ``strict`` an asset missing from it is refused instead of being
    looked up in the mirror's SHA256SUMS.
    """

    def __init__(self, version, build, variant=None, freethreaded=False, mirrors=(), url=None, src=None,
                 sha256=None, checksums=None, strict=False, default=False, force=False, origin=None,
                 externally_managed=None, repair=False, verify=False):
        self.version = check_version(version)
        self.build = check_build(build)
        self.prefix = is_prefix(version)
        self.variant = variant or DEFAULT_VARIANT
        self.freethreaded = bool(freethreaded)
        self.mirrors = list(mirrors)
        self.url, self.src = url, src
        self.sha256 = normalize_sha256(sha256) if sha256 else None
        self.checksums = dict((name, normalize_sha256(digest)) for name, digest in (checksums or {}).items())
        self.strict = strict
        self.default, self.force = default, force
        self.origin = origin
        self.externally_managed = externally_managed  # None: leave the marker as it is
        self.repair, self.verify = bool(repair), bool(verify)  # reinstall a tree that differs from its manifest

    @classmethod
    def from_params(cls, params):
        """The pin of a pbs_python task, from its validated options."""
        return cls(params['version'], params['build'], variant=params['variant'],
                   freethreaded=params['freethreaded'], mirrors=params['mirror'], url=params['url'],
                   src=params['_src'], sha256=params['sha256'], checksums=params['checksums'],
                   strict=params['strict_checksums'], default=params['default'], force=params['force'],
                   origin=params['_origin'], externally_managed=params['externally_managed'],
                   repair=params.get('repair', False), verify=params.get('verify', False))

    @classmethod
    def from_entry(cls, params, entry):
        """The pin of one entry of a task's ``pins``, sharing the task's mirrors, checksums and policy."""
        return cls.from_params(dict(params, url=None, **dict((name, entry[name]) for name in (
            'version', 'build', 'variant', 'freethreaded', 'default', 'sha256', '_src', '_origin'))))

    def asset(self, version, target):
        return asset_name(version, self.build, target, self.variant, self.freethreaded)

    def check(self, target):
        check_target(target)
        if not self.url and not self.src:
            check_available(self.build, target, self.variant, self.freethreaded)
        if self.sha256 and not self.prefix:
            listed = self.checksums.setdefault(self.asset(self.version, target), self.sha256)
            if listed != self.sha256:
                raise ChecksumMismatch('sha256 %s and checksums entry %s disagree for %s' % (
                    self.sha256, listed, self.asset(self.version, target)))
        if self.strict and not self.checksums:
            raise InstallError('checksums are required but none are given: pass the lock file\'s checksums')

    def pinned_digest(self, version, target):
        """The digest a pin demands for an exact version, or None when nothing pins it."""
        if self.sha256:
            return self.sha256
        if self.prefix:
            locked = self.locked(target)
            return locked[1] if locked and locked[2] == version else None
        return self.checksums.get(self.asset(version, target))

    def choose(self, target, read_sums, trusted=None):
        """(asset, sha256, exact version) for this pin from the most trusted source that settles it.

        Pinned checksums first, then ``trusted`` (a verified controller cache), then the
        mirror's SHA256SUMS via ``read_sums()`` unless strict; a pinned sha256 must agree with it.
        """
        chosen = self.locked(target)
        if not chosen and trusted:
            try:
                chosen = resolve(trusted, self.version, self.build, target, self.variant, self.freethreaded)
            except ValueError:
                chosen = None
            if chosen and self.sha256 and chosen[1] != self.sha256:
                chosen = None  # the cache holds other bytes under that name than the ones pinned
        if chosen:
            return chosen
        if self.strict:
            raise InstallError('%s is not in the pinned checksums (lock file): refusing to trust the '
                               'mirror\'s SHA256SUMS. Regenerate the lock file for this pin and target'
                               % self.asset(self.version, target))
        try:
            name, listed, exact = resolve(read_sums(), self.version, self.build, target, self.variant,
                                          self.freethreaded)
        except ValueError as exc:
            raise InstallError(str(exc))
        if self.sha256 and self.sha256 != listed:
            raise ChecksumMismatch('the mirror\'s SHA256SUMS lists %s for %s, but the pinned sha256 is %s: '
                                   'the mirror serves a different build than the one pinned; nothing was '
                                   'installed' % (listed, name, self.sha256))
        return name, listed, exact

    def locked(self, target):
        """(asset, digest, exact version) from the pinned checksums alone, or None."""
        try:
            return resolve(self.checksums, self.version, self.build, target, self.variant, self.freethreaded)
        except ValueError:
            return None
