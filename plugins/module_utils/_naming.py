# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How python-build-standalone names its assets, and which (build, target, variant) exist.

PBS encodes everything a pin needs in the asset name; nothing inside an archive records the
release tag. So the name is the contract between an inventory pin, a mirror and a receipt, and
these pure functions are the single place that knows its grammar and its history.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import quote

UPSTREAM = 'https://github.com/astral-sh/python-build-standalone/releases/download'
VARIANTS = ('install_only_stripped', 'install_only')

# Release history that decides whether an asset can exist at all (see docs/pbs-facts).
FIRST_TAGGED_NAMES = 20220227  # earlier assets carry a build timestamp, not the tag
FIRST_STRIPPED = 20240726  # 20240725 shipped unstripped files under the stripped name
DEFECTIVE_STRIPPED = 20240725
FIRST_FREETHREADED_INSTALL = 20260324
FIRST_DYNAMIC_MUSL = 20250311  # before this, musl assets were static and cannot load C extensions

_NUMBER = r'(0|[1-9]\d*)'  # no leading zeros: 3.12.01 names no asset
# \Z, not $: $ also matches before a final newline, and these strings become file names and URLs.
_VERSION = re.compile(r'^%s\.%s(?:\.%s((a|b|rc)%s)?)?\Z' % (_NUMBER, _NUMBER, _NUMBER, _NUMBER))
_TARGET = re.compile(r'^[a-z0-9_]+(?:-[a-z0-9_]+){2,4}\Z')  # up to x86_64-pc-windows-msvc-shared
_BUILD = re.compile(r'^\d{8}\Z')
_ASSET = re.compile(
    r'^cpython-(?P<version>\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)\+(?P<build>\d{8})-(?P<target>.+?)-'
    r'(?P<freethreaded>freethreaded-)?(?P<variant>install_only(?:_stripped)?)\.tar\.gz$')
_PRE_RANK = {'a': 0, 'b': 1, 'rc': 2, None: 3}


def parse_version(text):
    """Split a version or version prefix into (major, minor, micro|None, pre|None).

    A prefix (``3.12``) is legal input: it asks for the one 3.12 patch a release carries.
    """
    match = _VERSION.match(str(text))
    if not match:
        raise ValueError(
            "version %r is not a CPython version: use X.Y (highest patch of that build), X.Y.Z or "
            "a pre-release spelled as PBS does, such as 3.15.0rc1" % (text,))
    major, minor, micro, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    return int(major), int(minor), (int(micro) if micro is not None else None), pre


def version_key(version):
    """Sort key that orders pre-releases before the final release, as CPython does."""
    match = _VERSION.match(version)
    micro = int(match.group(3) or 0)
    return (int(match.group(1)), int(match.group(2)), micro, _PRE_RANK[match.group(5)],
            int(match.group(6) or 0))


def is_prefix(text):
    """True when ``text`` names a minor (``3.12``) rather than one exact release."""
    return parse_version(text)[2] is None


def version_matches(requested, version):
    """Does the exact ``version`` satisfy ``requested`` (exact, or a X.Y prefix)?"""
    major, minor, micro, pre = parse_version(requested)
    have = parse_version(version)
    if micro is None:
        return have[:2] == (major, minor)
    return have == (major, minor, micro, pre)


def minor_of(version):
    major, minor = parse_version(version)[:2]
    return '%d.%d' % (major, minor)


def check_target(target):
    """A target triple as PBS spells them; it becomes part of a file name, so nothing else passes."""
    if not _TARGET.match(str(target)):
        raise ValueError(
            "target %r is not a target triple such as x86_64-unknown-linux-gnu, aarch64-apple-darwin or "
            "x86_64_v3-unknown-linux-musl: leave target unset to detect the host's" % (target,))
    return str(target)


def check_build(build):
    if not _BUILD.match(str(build)):
        raise ValueError(
            "build %r is not a PBS release tag: use the 8-digit tag of the release, such as "
            "20240726" % (build,))
    return str(build)


def check_available(build, target, variant, freethreaded):
    """Refuse pins that PBS never published, before any network access.

    Each rule mirrors a fact of PBS's release history; the message says what to pin instead.
    """
    tag = int(check_build(build))
    if variant not in VARIANTS:
        raise ValueError("variant must be one of %s" % ', '.join(VARIANTS))
    if tag < FIRST_TAGGED_NAMES:
        raise ValueError(
            "build %s predates 20220227: its asset names carry a build timestamp rather than the "
            "tag and it has no SHA256SUMS, so it cannot be resolved by name; pass the asset's "
            "url and sha256 instead" % build)
    if variant == 'install_only_stripped' and tag < FIRST_STRIPPED:
        raise ValueError(
            "build %s has no install_only_stripped assets (published from %d on%s); set variant: "
            "install_only" % (build, FIRST_STRIPPED,
                              ', and 20240725 shipped them unstripped' if tag == DEFECTIVE_STRIPPED else ''))
    if freethreaded and tag < FIRST_FREETHREADED_INSTALL:
        raise ValueError(
            "build %s has no free-threaded install_only assets (published from %d on; earlier "
            "free-threaded builds exist only as full .tar.zst archives); pin build %d or later, "
            "or set freethreaded: false" % (build, FIRST_FREETHREADED_INSTALL, FIRST_FREETHREADED_INSTALL))
    if target.endswith('-musl') and tag < FIRST_DYNAMIC_MUSL:
        raise ValueError(
            "build %s only has statically linked musl assets, which cannot load C extension "
            "modules; pin build %d or later for %s" % (build, FIRST_DYNAMIC_MUSL, target))


def asset_name(version, build, target, variant='install_only_stripped', freethreaded=False):
    """The PBS file name for one exact interpreter build (current naming era, >= 20220227)."""
    return 'cpython-%s+%s-%s-%s%s.tar.gz' % (
        version, build, target, 'freethreaded-' if freethreaded else '', variant)


def parse_asset_name(name):
    """Inverse of asset_name: a dict of the pin fields, or None for any other file."""
    match = _ASSET.match(name)
    if not match:
        return None
    fields = match.groupdict()
    fields['freethreaded'] = bool(fields['freethreaded'])
    return fields


def asset_url(mirror, build, asset):
    """``<mirror>/<TAG>/<asset>`` with ``+`` sent as ``%2B``, as uv and GitHub do.

    S3-style stores read a raw ``+`` as a space, so the escaped form is the only safe one.
    """
    return '%s/%s/%s' % (mirror.rstrip('/'), build, quote(asset, safe=''))


def sums_url(mirror, build):
    return '%s/%s/SHA256SUMS' % (mirror.rstrip('/'), build)


def install_dir_name(asset):
    """Every build gets its own directory, named after its asset so it is self-describing."""
    return asset[:-len('.tar.gz')] if asset.endswith('.tar.gz') else asset


def interpreter_name(version, freethreaded=False):
    return 'python%s%s' % (minor_of(version), 't' if freethreaded else '')
