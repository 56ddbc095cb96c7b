# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Making one pinned build present (or absent) on a host: the policy behind the module.

The order of questions is what makes a no-op free: first the receipts on the host (no network),
then, only if something must change, the lock, the mirror's SHA256SUMS and the download.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import time

try:
    from urllib.parse import unquote
except ImportError:  # pragma: no cover
    from urllib import unquote  # type: ignore

from ansible_collections.pbs.python.plugins.module_utils import _install_root as root_fs
from ansible_collections.pbs.python.plugins.module_utils._archive import ArchiveError, extract_tar_gz
from ansible_collections.pbs.python.plugins.module_utils._fetch import FetchError
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    asset_name, asset_url, check_available, check_build, install_dir_name, interpreter_name, is_prefix,
    minor_of, parse_asset_name, redact_url, sums_url, version_key, version_matches,
)
from ansible_collections.pbs.python.plugins.module_utils._release import (
    normalize_sha256, parse_sha256sums, resolve,
)

DEFAULT_VARIANT = 'install_only_stripped'
_PROBE = ("import sys; v = sys.version_info; print('%d.%d.%d%s' % (v[0], v[1], v[2], "
          "{'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v[3], '') + (str(v[4]) if v[3] != 'final' else '')))")


class InstallError(Exception):
    """A failure the user must act on; the message says what happened and what to do."""


class ChecksumMismatch(InstallError):
    """The bytes are not the pinned ones. Never retried elsewhere: a pin is a pin."""


class Installer(object):
    def __init__(self, root, target, link_dir, fetcher, check_mode, run):
        self.root = root
        self.target = target
        self.link_dir = link_dir
        self.fetcher = fetcher
        self.check_mode = check_mode
        self.run = run

    # -- state on the host -------------------------------------------------------------------

    def _matching(self, version, build, variant, freethreaded):
        """Installs whose receipts satisfy the filters (None means any), newest version first."""
        found = []
        for path, receipt in root_fs.installs(self.root):
            if receipt['target'] != self.target:
                continue
            if build is not None and receipt['build'] != build:
                continue
            if variant is not None and receipt['variant'] != variant:
                continue
            if freethreaded is not None and bool(receipt['freethreaded']) != bool(freethreaded):
                continue
            if version is not None and not version_matches(version, receipt['version']):
                continue
            found.append((path, receipt))
        return sorted(found, key=lambda item: version_key(item[1]['version']), reverse=True)

    def runs(self, path, receipt):
        """Does the install's interpreter start and report the recorded version?"""
        python = os.path.join(path, 'bin', interpreter_name(receipt['version'], receipt['freethreaded']))
        if not os.access(python, os.X_OK):
            return False, '%s is missing or not executable' % python
        rc, out, err = self.run([python, '-I', '-S', '-c', _PROBE])
        if rc != 0:
            return False, (err or out).strip()[-400:]
        if out.strip() != receipt['version']:
            return False, 'reports Python %s, not %s' % (out.strip(), receipt['version'])
        return True, ''

    def _wanted_links(self, receipt, path, default):
        if not self.link_dir:
            return {}
        name = interpreter_name(receipt['version'], receipt['freethreaded'])
        target = os.path.join(path, 'bin', name)
        wanted = {os.path.join(self.link_dir, name): target}
        if default:
            wanted[os.path.join(self.link_dir, 'python3')] = target
        return wanted

    def _links_to_change(self, wanted):
        changes = {}
        for link, target in sorted(wanted.items()):
            kind, current = root_fs.link_state(link)
            if kind == 'other':
                raise InstallError('refusing to replace %s: it is not a symlink. Remove it, or choose '
                                   'another link_dir' % link)
            if current != target:
                changes[link] = (current, target)
        return changes

    # -- present -------------------------------------------------------------------------------

    def present(self, version, build, variant, freethreaded, mirrors, url=None, src=None, sha256=None,
                default=False, force=False):
        variant = variant or DEFAULT_VARIANT
        freethreaded = bool(freethreaded)
        check_build(build)
        prefix = is_prefix(version)
        if not url and not src:
            check_available(build, self.target, variant, freethreaded)
        sha256 = normalize_sha256(sha256) if sha256 else None

        current = self._healthy_install(version, build, variant, freethreaded, sha256, force)
        before = self._describe(*current) if current else {}
        if current and not self._links_to_change(self._wanted_links(current[1], current[0], default)):
            return dict(changed=False, diff=dict(before=before, after=before), **before)

        if self.check_mode:
            after = self._predict(current, version, build, variant, freethreaded, sha256, url, default)
            return dict(changed=True, diff=dict(before=before, after=after), **after)

        root_fs.ensure_root(self.root)
        with root_fs.Lock(self.root):
            root_fs.recover(self.root)
            # Another run may have finished the same install while we waited for the lock.
            current = self._healthy_install(version, build, variant, freethreaded, sha256, force)
            if not current:
                current = self._install(version, prefix, build, variant, freethreaded, mirrors, url, src, sha256)
            self._apply_links(current, self._wanted_links(current[1], current[0], default))
        after = self._describe(*current)
        return dict(changed=after != before, diff=dict(before=before, after=after), **after)

    def _healthy_install(self, version, build, variant, freethreaded, sha256, force):
        if force:
            return None
        for path, receipt in self._matching(version, build, variant, freethreaded):
            if sha256 and receipt['sha256'] != sha256:
                continue
            if self.runs(path, receipt)[0]:
                return path, receipt
        return None

    def _describe(self, path, receipt):
        links = dict((link, root_fs.link_state(link)[1]) for link in self._links_into(path, receipt))
        return dict(
            python=os.path.join(path, 'bin', interpreter_name(receipt['version'], receipt['freethreaded'])),
            path=path, version=receipt['version'], build=receipt['build'], target=receipt['target'],
            variant=receipt['variant'], freethreaded=bool(receipt['freethreaded']), sha256=receipt['sha256'],
            url=receipt['url'], links=links)

    def _predict(self, current, version, build, variant, freethreaded, sha256, url, default):
        """The state a real run would produce, from what is knowable without the network."""
        if current:
            after = self._describe(*current)
            after['links'] = self._wanted_links(current[1], current[0], default)
            return after
        receipt = dict(version=version, build=build, target=self.target, variant=variant,
                       freethreaded=freethreaded, sha256=sha256 or '(from SHA256SUMS)',
                       url=redact_url(url) if url else '(from mirror)')
        path = os.path.join(self.root, install_dir_name(asset_name(version, build, self.target, variant, freethreaded)))
        after = self._describe(path, receipt)
        after['links'] = self._wanted_links(receipt, path, default)
        return after

    def _apply_links(self, current, wanted):
        path, receipt = current
        changes = self._links_to_change(wanted)
        for link, (dummy, target) in changes.items():
            root_fs.switch_link(link, target)
        known = set(receipt.get('links', []))
        if not known.issuperset(wanted):
            receipt['links'] = sorted(known | set(wanted))
            root_fs.write_markers(path, receipt)

    # -- download and install ----------------------------------------------------------------

    def _resolve(self, version, prefix, build, variant, freethreaded, mirrors, url, sha256):
        """Exact version, digest and candidate URLs. SHA256SUMS is read only when needed."""
        if url:
            base = url.rsplit('/', 1)[0]
            named = parse_asset_name(unquote(url.rsplit('/', 1)[-1])) or {}
            exact = named.get('version', version)
            if not version_matches(version, exact) or prefix and not named:
                raise InstallError('url %s does not name Python %s: give the exact version of the '
                                   'archive' % (redact_url(url), version))
            if not sha256:
                sums = self._sums([base + '/SHA256SUMS'], 'no sha256 given for url %s and ' % redact_url(url))
                sha256 = sums.get(unquote(url.rsplit('/', 1)[-1]))
                if not sha256:
                    raise InstallError('no sha256 given for url %s and the SHA256SUMS beside it does not '
                                       'list it: pass sha256' % redact_url(url))
            return exact, sha256, [url]
        if not prefix and sha256:  # a full pin (a lock file's): SHA256SUMS is not needed
            name = asset_name(version, build, self.target, variant, freethreaded)
            return version, sha256, [asset_url(m, build, name) for m in mirrors]
        sums = self._sums([sums_url(m, build) for m in mirrors], '')
        try:
            name, listed, exact = resolve(sums, version, build, self.target, variant, freethreaded)
        except ValueError as exc:
            raise InstallError(str(exc))
        if sha256 and sha256 != listed:
            raise ChecksumMismatch('the mirror\'s SHA256SUMS lists %s for %s, but the pinned sha256 is %s: '
                                   'the mirror serves a different build than the one pinned; nothing was '
                                   'installed' % (listed, name, sha256))
        return exact, sha256 or listed, [asset_url(m, build, name) for m in mirrors]

    def _sums(self, urls, context):
        try:
            dummy, text = self.fetcher.first_success(urls, self.fetcher.read_text)
            return parse_sha256sums(text)
        except FetchError as exc:
            raise InstallError('%scannot read SHA256SUMS (%s). Is the build tag on the mirror? Checksums '
                               'are never skipped: pin sha256 to install without SHA256SUMS' % (context, exc))
        except ValueError as exc:
            raise InstallError('%sSHA256SUMS from the mirror is unusable: %s' % (context, exc))

    def _install(self, version, prefix, build, variant, freethreaded, mirrors, url, src, sha256):
        if src:
            if not sha256 or prefix:
                raise InstallError('src needs an exact version and its sha256')
            exact, urls = version, ['file://' + os.path.abspath(src)]
        else:
            exact, sha256, urls = self._resolve(version, prefix, build, variant, freethreaded, mirrors, url, sha256)
        name = install_dir_name(asset_name(exact, build, self.target, variant, freethreaded))
        receipt = dict(version=exact, build=build, target=self.target, variant=variant,
                       freethreaded=freethreaded, sha256=sha256)

        def attempt(candidate):
            staging = root_fs.new_staging(self.root, name)
            try:
                self._fetch_into(staging, candidate, sha256)
                receipt['url'] = redact_url(candidate)
                receipt['installed_at'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
                self._check_staged(staging, receipt)
                return staging
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

        try:
            dummy, staging = self.fetcher.first_success(urls, attempt)
        except FetchError as exc:
            raise InstallError('could not download %s: %s' % (name, exc))
        path = root_fs.swap_in(self.root, staging, name)
        return path, receipt

    def _fetch_into(self, staging, url, sha256):
        response = self.fetcher.open(url)
        try:
            stats = extract_tar_gz(response.read, staging)
        except ArchiveError as exc:
            raise FetchError(url, 'unusable archive: %s' % exc, transient=exc.transient)
        finally:
            response.close()
        if stats['sha256'] != sha256:
            raise ChecksumMismatch('checksum mismatch for %s: expected sha256 %s, got %s. Nothing was '
                                   'installed. The mirror serves other bytes than the pin: check the mirror '
                                   'or the pinned digest' % (redact_url(url), sha256, stats['sha256']))

    def _check_staged(self, staging, receipt):
        """Refuse a verified archive that still is not the pinned interpreter for this host."""
        interpreter = interpreter_name(receipt['version'], receipt['freethreaded'])
        if not os.path.exists(os.path.join(staging, 'bin', interpreter)):
            raise InstallError('the archive has no bin/%s: it is not a PBS install_only archive of '
                               'Python %s' % (interpreter, minor_of(receipt['version'])))
        root_fs.ensure_python_link(staging, interpreter)
        root_fs.write_markers(staging, receipt)
        works, why = self.runs(staging, receipt)
        if not works:
            raise InstallError('the downloaded interpreter does not run on this host (%s); is target %s '
                               'right for it?' % (why, receipt['target']))

    # -- absent --------------------------------------------------------------------------------

    def absent(self, version, build, variant, freethreaded):
        if build is not None:
            check_build(build)
        if version is not None:
            is_prefix(version)
        doomed = self._matching(version, build, variant, freethreaded)
        result = dict(changed=bool(doomed), removed=[p for p, dummy in doomed], target=self.target, links={},
                      diff=dict(before=dict(installs=[p for p, dummy in doomed]), after=dict(installs=[])))
        if not doomed or self.check_mode:
            return result
        with root_fs.Lock(self.root):
            for path, receipt in doomed:
                for link in self._links_into(path, receipt):
                    os.unlink(link)
                    result['links'][link] = None
                root_fs.remove(self.root, os.path.basename(path))
        return result

    def _links_into(self, path, receipt):
        """Links that point into an install: those its receipt recorded, and any in link_dir."""
        candidates = set(receipt.get('links', []))
        if self.link_dir and os.path.isdir(self.link_dir):
            candidates.update(os.path.join(self.link_dir, n) for n in os.listdir(self.link_dir))
        return sorted(link for link in candidates if (root_fs.link_state(link)[1] or '').startswith(path + os.sep))
