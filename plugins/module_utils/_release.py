# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PBS release as its SHA256SUMS describes it, and the choice of one asset from it.

SHA256SUMS is the only listing a mirror is required to have (uv's layout has no index), so it
serves both as the source of digests and as the catalogue that version prefixes resolve against.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pbs.python.plugins.module_utils._naming import (
    parse_asset_name, version_key, version_matches,
)

_LINE = re.compile(r'^([0-9a-fA-F]{64}) [ *](\S.*)$')
_DIGEST = re.compile(r'^[0-9a-f]{64}$')


class ResolveError(ValueError):
    """A pin that the release cannot satisfy; the message lists what the release does have."""


def normalize_sha256(value):
    """Accept ``<hex>`` or ``sha256:<hex>`` in any case; anything else is a user error."""
    text = str(value).strip().lower()
    if text.startswith('sha256:'):
        text = text[len('sha256:'):]
    if not _DIGEST.match(text):
        raise ValueError("sha256 %r is not a sha256 digest (64 hex characters, optionally "
                         "prefixed with 'sha256:')" % (value,))
    return text


def parse_sha256sums(text):
    """Map asset name -> lowercase digest from a coreutils-style SHA256SUMS file.

    Malformed lines are an error rather than skipped: a truncated or HTML "SHA256SUMS" must
    not silently lose the entry we are about to trust. A name listed twice with two digests is an
    error too: which one is right cannot be known, and the last one would win silently.
    """
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.rstrip('\r'))
        if not match:
            raise ValueError("SHA256SUMS line %d is malformed (expected '<sha256>  <file name>'): %r"
                             % (number, line[:120]))
        name, digest = match.group(2), match.group(1).lower()
        if sums.setdefault(name, digest) != digest:
            raise ValueError("SHA256SUMS lists %s twice with different digests, %s and %s (line %d): the "
                             "file is inconsistent; fix it on the mirror" % (name, sums[name], digest, number))
    if not sums:
        raise ValueError("SHA256SUMS is empty")
    return sums


def resolve(sums, version, build, target, variant, freethreaded):
    """Pick (asset, sha256, exact version) for a pin from a release's SHA256SUMS.

    An exact version is looked up by name; a X.Y prefix takes the highest patch, preferring final
    releases and falling back to pre-releases when the build has only those (as uv does).
    """
    def same_kind(fields):
        return (fields['build'] == build and fields['variant'] == variant
                and fields['freethreaded'] == bool(freethreaded))

    assets = [(name, f) for name, f in ((n, parse_asset_name(n)) for n in sums) if f and same_kind(f)]
    for_target = [(name, f) for name, f in assets if f['target'] == target]
    if not for_target:
        targets = sorted(set(f['target'] for dummy, f in assets))
        raise ResolveError(
            "build %s has no %s%s asset for target %s; targets it has: %s" % (
                build, 'freethreaded ' if freethreaded else '', variant, target,
                ', '.join(targets) or 'none (is this the right build and variant?)'))
    matching = [(name, f) for name, f in for_target if version_matches(version, f['version'])]
    final = [item for item in matching if not re.search(r'(a|b|rc)\d+$', item[1]['version'])]
    chosen = sorted(final or matching, key=lambda item: version_key(item[1]['version']))
    if not chosen:
        versions = sorted(set(f['version'] for dummy, f in for_target), key=version_key)
        raise ResolveError(
            "build %s has no Python %s for %s; versions it has: %s" % (
                build, version, target, ', '.join(versions)))
    name, fields = chosen[-1]
    return name, sums[name], fields['version']
