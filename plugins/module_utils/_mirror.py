# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeping a uv-compatible PBS mirror root in step with a list of locked assets.

The root has uv's layout, ``<root>/<TAG>/<asset>`` with a real ``+`` in file names, a
``SHA256SUMS`` per tag in upstream's format and a uv downloads JSON. Only files whose sha256 was
checked against the lock's digest are ever listed; a state file remembers (size, mtime, sha256)
of each verified file so that a rerun rehashes only what changed on disk. Downloads land in
``<asset>.partial`` and resume with HTTP Range after an interrupted sync.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError, redact_url
from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.module_utils._files import make_dirs, sha256_file, write_atomic
from ansible_collections.pbs.python.plugins.module_utils._install_root import Lock
from ansible_collections.pbs.python.plugins.module_utils._naming import UPSTREAM, asset_url, check_build, parse_asset_name
from ansible_collections.pbs.python.plugins.module_utils._release import normalize_sha256

STATE = '.pbs-mirror-state.json'
SUMS = 'SHA256SUMS'
_TAG_DIR = re.compile(r'^\d{8}$')
_PRE = re.compile(r'^(\d+)\.(\d+)\.(\d+)((?:a|b|rc)\d+)?$')


class MirrorError(Exception):
    """A failure the user must act on; the message says what happened."""


class ChecksumMismatch(MirrorError):
    """Upstream served other bytes than the lock names: never trusted, never retried elsewhere."""


# -- uv's download-metadata.json ----------------------------------------------------------------

_UV_ARCH = {'ppc64le': 'powerpc64le'}  # every other PBS arch word is uv's family as it is


def uv_platform(target):
    """(arch family, arch variant, os, libc) in uv's download-metadata.json words for a PBS triple."""
    arch, dummy, rest = target.partition('-')
    variant = None
    match = re.match(r'^(x86_64)_(v[234])$', arch)
    if match:
        arch, variant = match.groups()
    if rest == 'apple-darwin':
        os_name, libc = 'darwin', 'none'
    elif rest in ('pc-windows-msvc', 'pc-windows-msvc-shared'):
        os_name, libc = 'windows', 'none'
    elif rest.startswith('unknown-linux-'):
        os_name, libc = 'linux', rest[len('unknown-linux-'):]
    else:
        raise ValueError('target %r is not a PBS target triple uv knows' % target)
    return _UV_ARCH.get(arch, arch), variant, os_name, libc


def uv_entry(asset, build, sha256):
    """(label, entry) of uv's downloads JSON for one PBS install asset, or None for other files.

    The URL is the canonical GitHub one: uv's ``--mirror`` only rewrites URLs with that prefix, to
    ``<mirror>/<TAG>/<asset>``. The label follows uv's own keys; uv rebuilds the key from the fields.
    """
    fields = parse_asset_name(asset)
    if not fields or fields['build'] != build:
        return None
    family, arch_variant, os_name, libc = uv_platform(fields['target'])
    major, minor, patch, pre = _PRE.match(fields['version']).groups()
    entry = dict(
        name='cpython', arch=dict(family=family, variant=arch_variant), os=os_name, libc=libc,
        major=int(major), minor=int(minor), patch=int(patch), prerelease=pre or '',
        url=asset_url(UPSTREAM, build, asset), sha256=sha256,
        variant='freethreaded' if fields['freethreaded'] else None, build=build)
    label = 'cpython-%s%s-%s-%s%s-%s' % (
        fields['version'], '+freethreaded' if fields['freethreaded'] else '', os_name, family,
        '_' + arch_variant if arch_variant else '', libc)
    return label, entry


def uv_downloads(held):
    """uv's downloads JSON object for ``held`` ({(build, asset): sha256}).

    uv keeps one build per Python patch and platform; a mirror may hold several, so labels that
    would collide get the build and flavour appended (labels are names only, uv ignores them).
    """
    entries = []
    for (build, asset), digest in held.items():
        found = uv_entry(asset, build, digest)
        if found:
            entries.append((found[0], build, asset, found[1]))
    counts = {}
    for label, dummy, dummy2, dummy3 in entries:
        counts[label] = counts.get(label, 0) + 1
    result = {}
    for label, build, asset, entry in entries:
        if counts[label] > 1:
            label = '%s-%s-%s' % (label, build, parse_asset_name(asset)['variant'])
        result[label] = entry
    return result


# -- files -------------------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def sums_text(entries):
    """Upstream's SHA256SUMS format: ``<hex>  <name>\\n``, sorted by name."""
    return ''.join('%s  %s\n' % (entries[name], name) for name in sorted(entries))


def check_assets(assets):
    """[(build, asset, sha256)] from lock entries (other keys are ignored), refusing unsafe names."""
    wanted = {}
    for number, entry in enumerate(assets or [], 1):
        if not isinstance(entry, dict) or not all(entry.get(k) for k in ('asset', 'build', 'sha256')):
            raise MirrorError('assets[%d] must be a dict with asset, build and sha256 (a lock entry), got %r'
                              % (number, entry))
        name, build = str(entry['asset']), check_build(str(entry['build']))
        if '/' in name or '\\' in name or name.startswith('.') or name == SUMS or name.endswith('.partial'):
            raise MirrorError('assets[%d]: %r is not a file name an upstream release can have' % (number, name))
        fields = parse_asset_name(name)
        if fields and fields['build'] != build:
            raise MirrorError('assets[%d]: %s belongs to build %s, not %s' % (number, name, fields['build'], build))
        digest = normalize_sha256(entry['sha256'])
        if wanted.setdefault((build, name), digest) != digest:
            raise MirrorError('assets list %s/%s twice with different sha256' % (build, name))
    return wanted


class Mirror(object):
    def __init__(self, root, upstream, params, timeout=30, retries=3, check_mode=False, rehash=False,
                 fetcher=Fetcher):
        self.root = root
        self.upstream = list(upstream or [UPSTREAM])
        self.params = params
        self.timeout, self.retries = timeout, retries
        self.check_mode = check_mode
        self.rehash = rehash
        self.make_fetcher = fetcher
        self.state = {}
        self.result = dict(changed=False, downloaded=[], kept=[], replaced=[], resumed=[], pruned=[],
                           sha256sums=[], uv_json=None, failures=[], held=[])

    # state: {"<TAG>/<asset>": {"size", "mtime_ns", "sha256"}} of files verified against a lock digest
    def _load_state(self):
        try:
            data = json.loads(_read(os.path.join(self.root, STATE)) or '{}')
            files = data.get('files', {}) if isinstance(data, dict) else {}
            self.state = dict((k, v) for k, v in files.items() if isinstance(v, dict))
        except ValueError:
            self.state = {}

    def _remember(self, build, name, digest):
        st = os.stat(os.path.join(self.root, build, name))
        self.state['%s/%s' % (build, name)] = dict(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=digest)

    def _recorded(self, build, name):
        """The remembered digest when the file still has the size and mtime it had then, else None."""
        record = self.state.get('%s/%s' % (build, name))
        try:
            st = os.stat(os.path.join(self.root, build, name))
        except OSError:
            return None
        if record and record.get('size') == st.st_size and record.get('mtime_ns') == st.st_mtime_ns:
            return record.get('sha256')
        return None

    def sync(self, assets, uv_json='download-metadata.json', prune=False):
        wanted = check_assets(assets)
        if not os.path.isdir(self.root):
            if self.check_mode:
                return self._predict_fresh(wanted, uv_json)
            make_dirs(self.root)
            self.result['changed'] = True
        with Lock(self.root) if not self.check_mode else _NoLock():
            self._load_state()
            before = json.dumps(self.state, sort_keys=True)
            for (build, name), digest in sorted(wanted.items()):
                try:
                    self._one(build, name, digest)
                except (MirrorError, FetchError, OSError) as exc:
                    self.result['failures'].append(dict(asset=name, build=build, msg=str(exc)))
            if prune:
                self._prune(wanted)
            held = self._held(wanted)
            self._write_sums(held, wanted)
            if uv_json:
                self._write_uv_json(held, uv_json)
            if not self.check_mode and json.dumps(self.state, sort_keys=True) != before:
                write_atomic(os.path.join(self.root, STATE), json.dumps(
                    dict(version=1, files=self.state), indent=1, sort_keys=True) + '\n', fsync=True)
        self.result['held'] = ['%s/%s' % key for key in sorted(held)]
        return self.result

    def _predict_fresh(self, wanted, uv_json):
        self.result['changed'] = True  # the root itself is new
        self.result['downloaded'] = sorted(name for dummy, name in wanted)
        self.result['sha256sums'] = sorted(os.path.join(self.root, b, SUMS) for b in set(b for b, dummy in wanted))
        self.result['uv_json'] = os.path.join(self.root, uv_json) if uv_json else None
        self.result['held'] = ['%s/%s' % key for key in sorted(wanted)]
        return self.result

    def _one(self, build, name, digest):
        path = os.path.join(self.root, build, name)
        replacing = False
        if os.path.exists(path):
            have = None if self.rehash else self._recorded(build, name)
            if have is None:
                have = sha256_file(path).hexdigest()
            if have == digest:
                self.result['kept'].append(name)
                if not self.check_mode:
                    self._remember(build, name, digest)
                return
            replacing = True
            self.state.pop('%s/%s' % (build, name), None)
        partial = path + '.partial'
        self.result['changed'] = True
        if self.check_mode:
            self.result['replaced' if replacing else 'downloaded'].append(name)
            if os.path.exists(partial) and os.path.getsize(partial) > 0:
                self.result['resumed'].append(name)
            return
        if replacing:
            os.unlink(path)  # never leave bytes the lock does not name where clients can fetch them
        make_dirs(os.path.dirname(path))
        if self._download(build, name, digest, partial):
            self.result['resumed'].append(name)
        os.chmod(partial, 0o644)
        os.rename(partial, path)
        self._remember(build, name, digest)
        self.result['replaced' if replacing else 'downloaded'].append(name)

    def _download(self, build, name, digest, partial):
        """Fill ``partial`` with the verified asset; True when it resumed what an interrupted sync left."""
        fetcher = self.make_fetcher(self.params, timeout=self.timeout, retries=self.retries)
        url, actual, resumed = fetcher.fetch_file([asset_url(m, build, name) for m in self.upstream], partial, digest)
        if actual != digest:
            os.unlink(partial)
            raise ChecksumMismatch(
                'checksum mismatch for %s from %s: expected sha256 %s (upstream SHA256SUMS, via the lock), '
                'got %s; nothing was stored' % (name, redact_url(url), digest, actual))
        return resumed

    def _tags(self, wanted):
        tags = set(build for build, dummy in wanted)
        if os.path.isdir(self.root):
            tags.update(t for t in os.listdir(self.root) if _TAG_DIR.match(t)
                        and os.path.isdir(os.path.join(self.root, t)))
        return sorted(tags)

    def _prune(self, wanted):
        for tag in self._tags(wanted):
            directory = os.path.join(self.root, tag)
            if not os.path.isdir(directory):
                continue
            for name in sorted(os.listdir(directory)):
                asset = name[:-len('.partial')] if name.endswith('.partial') else name
                if name == SUMS or name.startswith('.') or (tag, asset) in wanted:
                    continue
                self.result['pruned'].append('%s/%s' % (tag, name))
                self.result['changed'] = True
                self.state.pop('%s/%s' % (tag, name), None)
                if not self.check_mode:
                    os.unlink(os.path.join(directory, name))

    def _held(self, wanted):
        """{(tag, asset): sha256} of the verified files the root holds (predicted in check mode)."""
        held = {}
        pruned = set(self.result['pruned'])
        failed = set((f['build'], f['asset']) for f in self.result['failures'])
        for tag in self._tags(wanted):
            directory = os.path.join(self.root, tag)
            names = set(os.listdir(directory)) if os.path.isdir(directory) else set()
            if self.check_mode:
                names.update(name for build, name in wanted if build == tag)
            for name in names:
                key = (tag, name)
                if key in failed or '%s/%s' % key in pruned or name == SUMS or name.startswith('.') \
                        or name.endswith('.partial'):
                    continue
                if key in wanted:
                    if self.check_mode or self._recorded(tag, name) == wanted[key]:
                        held[key] = wanted[key]
                else:
                    digest = self._recorded(tag, name)
                    if digest:
                        held[key] = digest
        return held

    def _write_sums(self, held, wanted):
        for tag in self._tags(wanted):
            path = os.path.join(self.root, tag, SUMS)
            entries = dict((name, digest) for (build, name), digest in held.items() if build == tag)
            current = _read(path)
            if not entries:
                if current is not None:
                    self._changed_file(path, None)
                continue
            text = sums_text(entries)
            if current != text:
                self._changed_file(path, text)

    def _write_uv_json(self, held, uv_json):
        if '/' in uv_json or uv_json.startswith('.'):
            raise MirrorError('uv_json must be a plain file name in root, got %r' % uv_json)
        path = os.path.join(self.root, uv_json)
        self.result['uv_json'] = path
        text = json.dumps(uv_downloads(held), indent=2, sort_keys=True) + '\n'
        if _read(path) != text:
            self._changed_file(path, text)

    def _changed_file(self, path, text):
        self.result['changed'] = True
        if os.path.basename(path) == SUMS:
            self.result['sha256sums'].append(path)
        if self.check_mode:
            return
        if text is None:
            os.unlink(path)
        else:
            write_atomic(path, text, fsync=True)


class _NoLock(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
