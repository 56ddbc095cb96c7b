# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Making one pinned build present (or absent) on a host: the policy behind the module.

The order of questions is what makes a no-op free: first the receipts on the host (no network),
then, only if something must change, the lock, the mirror's SHA256SUMS and the download.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import shutil
import time

from urllib.parse import unquote, urlsplit, urlunsplit

from ansible_collections.pbs.python.plugins.module_utils import _install_root as root_fs
from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError, redact_url
from ansible_collections.pbs.python.plugins.module_utils._files import source_date_epoch
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    asset_url, check_build, install_dir_name, interpreter_name, is_prefix, minor_of, parse_asset_name,
    sums_url, version_key, version_matches,
)
from ansible_collections.pbs.python.plugins.module_utils._pin import (
    ChecksumMismatch, InstallError, default_interpreter, interpreters, pin_matches,
)
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums


def _what_to_do(error, build):
    """The advice that ends a download failure, by the kind of the last fault."""
    if error.status == 404:
        return ('check that the mirror carries build %s (layout <mirror>/<TAG>/<asset>), or list another '
                'mirror' % build)
    if error.transient:
        return 'the fault may be temporary: rerun, raise retries or timeout, or list another mirror'
    return 'fix the mirror or list another one, then rerun'


def _install_time():
    """Now, or SOURCE_DATE_EPOCH when set: the reproducible-builds convention, so two image builds
    from the same pins write byte-identical receipts (docs/golden-images.md)."""
    try:
        epoch = source_date_epoch()
    except ValueError as exc:
        raise InstallError(str(exc))
    return time.time() if epoch is None else epoch


class Installer(object):
    """``take_over_links`` allows repointing a link this module did not make (see _links_to_change);
    ``warnings`` collects what the module should warn about once the run is over."""

    def __init__(self, root, target, link_dir, fetcher, check_mode, run, take_over_links=False):
        self.root = root
        self.target = target
        self.link_dir = link_dir
        self.fetcher = fetcher
        self.check_mode = check_mode
        self.run = run
        self.take_over_links = take_over_links
        self.warnings = []
        self.tampered = {}  # install path -> what a repair check found there, by kind (see _healthy_install)

    # -- state on the host -------------------------------------------------------------------

    def _matching(self, version, build, variant, freethreaded):
        """Installs whose receipts satisfy the filters (None means any), newest version first."""
        found = []
        for path, receipt in root_fs.installs(self.root):
            if self.target is not None and receipt['target'] != self.target:
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

    def _wanted_links(self, receipt, path, default):
        if not self.link_dir:
            return {}
        target = root_fs.interpreter_path(path, receipt)
        wanted = {os.path.join(self.link_dir, os.path.basename(target)): target}
        if default:
            wanted[os.path.join(self.link_dir, 'python3')] = target
        return wanted

    def _exact_version(self, req):
        """The exact version a pin names without the network (None for an X.Y pin no checksum settles)."""
        if not req.prefix:
            return req.version
        locked = req.locked(self.target)
        return locked[2] if locked else None

    def _refuse_conflicts(self, req, exact):
        """Refuse, before any download, to replace what this module did not make: a link in link_dir,
        or (once the exact version is known) a symlink or file where the install directory goes."""
        if self.link_dir:
            names = [interpreter_name(req.version, req.freethreaded)] + (['python3'] if req.default else [])
            self._links_to_change(dict((os.path.join(self.link_dir, name), None) for name in names))
        if exact:
            self._refuse_install_dir(os.path.join(self.root, install_dir_name(req.asset(exact, self.target))))

    @staticmethod
    def _refuse_install_dir(path):
        if os.path.islink(path):
            what = 'a symlink to %s' % os.readlink(path)
        elif os.path.lexists(path) and not os.path.isdir(path):
            what = 'a file'
        else:
            return
        raise InstallError('refusing to install into %s: it is %s, not an install directory this module made. '
                           'Move it out of install_root (or choose another install_root), then rerun' % (path, what))

    def _links_to_change(self, wanted):
        """{link: (current target, wanted target)} for each link that must change.

        The one check of what may be replaced: never a file that is not a symlink, and a symlink
        only when this module made it (root_fs.made_by_us) or take_over_links allows it.
        """
        changes = {}
        for link, target in sorted(wanted.items()):
            kind, current = root_fs.link_state(link)
            if kind == 'other':
                raise InstallError('refusing to replace %s: it is not a symlink. Remove it, or choose '
                                   'another link_dir' % link)
            if current == target:
                continue
            if kind == 'link' and not self.take_over_links and not root_fs.made_by_us(link, self.root):
                raise InstallError(
                    'refusing to repoint %s: it points to %s, which this module did not install (not into an '
                    'install under install_root %s). Remove it or choose another link_dir, or set '
                    'take_over_links: true to replace it (its old target is then restored by state: absent)'
                    % (link, current, self.root))
            changes[link] = (current, target)
        return changes

    # -- every pin of a host at once --------------------------------------------------------------

    def converge(self, pins, prune=False, ask_first=False):
        """Make each of ``pins`` ((Pin, inventory pin) pairs) present, then prune what none names.

        One module execution for the whole host: the role's no-op run costs one round trip. With
        ``ask_first``, pins whose build is missing answer needs_archive and nothing is pruned yet
        (an install about to come may take over links of one prune would remove); the caller sends
        the archives and calls again.
        """
        unlinked = copy.copy(self)
        unlinked.link_dir = None  # shares warnings: a copy, not a new Installer
        results = []
        for req, item in pins:
            try:
                result = (self if item['link'] else unlinked).present(req, ask_first=ask_first)
            except (InstallError, ValueError, OSError) as exc:  # as a loop would: the other pins still converge
                result = dict(failed=True, changed=False, msg='%s+%s: %s' % (req.version, req.build, exc))
            result['item'] = item
            results.append(result)
        pruned = dict(changed=False, removed=[], links={}, diff=dict(before=dict(installs=[]), after=dict(installs=[])))
        failed = [result['msg'] for result in results if result.get('failed')]
        waiting = any(result.get('needs_archive') for result in results)
        if prune and not waiting and not failed:  # never prune what a failed pin's old build may still serve
            pruned = self.prune([item for dummy, item in pins])
        summary = dict(
            changed=any(result['changed'] for result in results) or pruned['changed'],
            results=results, removed=pruned['removed'], links=pruned['links'], target=self.target,
            interpreters=interpreters(results), default_interpreter=default_interpreter(results),
            diff=dict(before=dict(pins=[r.get('diff', {}).get('before') for r in results], **pruned['diff']['before']),
                      after=dict(pins=[r.get('diff', {}).get('after') for r in results], **pruned['diff']['after'])))
        if failed:
            summary.update(failed=True, msg='; '.join(failed))
        return summary

    # -- present -------------------------------------------------------------------------------

    def present(self, req, ask_first=False):
        """Make the pin's build present. With ``ask_first`` a host that lacks it answers needs_archive
        (after the checks that need no network) instead of downloading: the caller sends the archive."""
        current = self._healthy_install(req)
        before = self._describe(*current) if current else {}
        if current and not self._pending(current, req):
            if not self.check_mode:
                root_fs.tidy(self.root)  # leftovers of an interrupted run, if any; no network either way
            return dict(changed=False, diff=dict(before=before, after=before), **before)

        if not current:
            self._refuse_conflicts(req, self._exact_version(req))  # before any download, on the controller too
        if self.check_mode:
            after = self._predict(current, req)
            result = dict(changed=True, diff=dict(before=before, after=after), **after)
            if after['path'] in self.tampered:
                result['repaired'] = self.tampered[after['path']]
            return result
        if not current:
            if ask_first:
                # The action plugin asked first; it fetches the archive on the controller and sends it.
                return dict(changed=False, needs_archive=True, target=self.target)

        root_fs.ensure_root(self.root)
        relocated = False
        with root_fs.Lock(self.root):
            root_fs.recover(self.root)
            # Another run may have finished the same install while we waited for the lock: then
            # that install is what this run found, and only links may still change.
            current = self._healthy_install(req)
            if current:
                before = self._describe(*current)
                if not current[1].get('relocated'):  # installed by a release that did not relocate
                    self._relocate(current[0], current[0], current[1])
                    current[1][root_fs.STARTED_FROM] = root_fs.start_files(*current)  # it has just been probed
                    root_fs.write_markers(*current)
                    relocated = True
            else:
                self._refuse_conflicts(req, self._exact_version(req))
                current = self._install(req)
            self._apply_links(current, self._wanted_links(current[1], current[0], req.default))
            if self._marker_to_change(current, req):
                root_fs.set_externally_managed(current[0], current[1], req.externally_managed)
        after = self._describe(*current)
        result = dict(changed=relocated or after != before, diff=dict(before=before, after=after), **after)
        if current[0] in self.tampered:  # repaired: reinstalled from the pinned bytes
            result.update(changed=True, repaired=self.tampered[current[0]])
        return result

    def _pending(self, current, req):
        """Work a working install still needs: links, the PEP 668 marker, or its build paths."""
        path, receipt = current
        return bool(self._links_to_change(self._wanted_links(receipt, path, req.default))
                    or self._marker_to_change(current, req) or not receipt.get('relocated'))

    @staticmethod
    def _relocate(tree, home, receipt):
        """Point the build paths of ``tree`` at ``home`` and record it in the receipt (written by the caller);
        the paths it rewrote or removed, for the caller's manifest."""
        # Imported here: only a new install or an old one needs it (ast and friends stay out of no-op runs).
        from ansible_collections.pbs.python.plugins.module_utils import _build_prefix

        try:
            rewritten, removed = _build_prefix.relocate(tree, os.path.abspath(home))
        except _build_prefix.BuildPrefixError as exc:
            raise InstallError('cannot point the build paths (sysconfig data, pkg-config) of %s at %s: %s. Is it '
                               'the PBS build pinned? Check the pin or url' % (home, os.path.abspath(home), exc))
        receipt['relocated'] = True
        return rewritten + removed

    def _healthy_install(self, req):
        """The install that satisfies the pin as it is, or None. With ``req.repair`` a tree that differs
        from its manifest (size, mode and mtime; with ``req.verify`` every file's sha256) is not: it is
        reinstalled from the pinned bytes like a damaged one, and its drift kept in ``self.tampered``."""
        if req.force:
            return None
        for path, receipt in self._matching(req.version, req.build, req.variant, req.freethreaded):
            if req.pinned_digest(receipt['version'], self.target) not in (None, receipt['sha256']):
                continue  # installed from other bytes than the pin names: replace it
            probe = root_fs.interpreter_runs if req.verify else root_fs.interpreter_works
            if not probe(path, receipt, self.run)[0]:
                continue
            if req.repair:
                from ansible_collections.pbs.python.plugins.module_utils import _manifest  # only here and where a tree is written: a no-op never loads it

                dummy, drift = _manifest.verify(path, receipt, content=req.verify)
                if _manifest.tampered(drift):  # kept as a repair reports it: the paths of each kind of drift
                    self.tampered[path] = dict((kind, drift[kind]) for kind in _manifest.DRIFT_KINDS + ('error',))
                    continue
            self.tampered.pop(path, None)  # repaired meanwhile (by another run, under the lock): not ours to report
            return path, receipt
        return None

    def _describe(self, path, receipt):
        links = dict((link, root_fs.link_state(link)[1]) for link in root_fs.links_into(path, receipt, self.link_dir))
        return dict(
            python=root_fs.interpreter_path(path, receipt),
            path=path, version=receipt['version'], build=receipt['build'], target=receipt['target'],
            variant=receipt['variant'], freethreaded=bool(receipt['freethreaded']), sha256=receipt['sha256'],
            url=receipt['url'], links=links, externally_managed=root_fs.externally_managed(path, receipt))

    def _predict(self, current, req):
        """The state a real run would produce, from what is knowable without the network.

        An X.Y pin that no pinned checksum settles shows as X.Y.*: the newest patch of the build is
        read from SHA256SUMS at run time, and check mode makes no requests.
        """
        if current:
            path, receipt = current
        else:
            locked = req.locked(self.target) if req.prefix else None
            named = parse_asset_name(unquote(urlsplit(req.url).path).rsplit('/', 1)[-1]) if req.url else None
            exact = locked[2] if locked else named['version'] if named else req.version
            shown = '%s.*' % req.version if req.prefix and not (locked or named) else exact
            receipt = dict(version=exact, build=req.build, target=self.target, variant=req.variant,
                           freethreaded=req.freethreaded, url=redact_url(req.url) if req.url else '(from mirror)',
                           sha256=req.pinned_digest(exact, self.target) or '(from SHA256SUMS)')
            name = install_dir_name(req.asset(exact, self.target)).replace('-%s+' % exact, '-%s+' % shown, 1)
            path = os.path.join(self.root, name)
        after = self._describe(path, receipt)
        after['links'] = self._wanted_links(receipt, path, req.default)
        if req.externally_managed is not None:
            after['externally_managed'] = req.externally_managed
        if not current:
            after['version'] = shown
        return after

    @staticmethod
    def _marker_to_change(current, req):
        return req.externally_managed is not None and \
            root_fs.externally_managed(current[0], current[1]) != req.externally_managed

    def _apply_links(self, current, wanted):
        """Switch the links to ``current``, recording in its receipt, before any link moves, what a
        taken-over link pointed to; that record follows the link from install to install, so
        whichever install holds the link last gives the old target back."""
        path, receipt = current
        changes = self._links_to_change(wanted)
        replaced = dict(receipt.get('replaced_links', {}))
        givers = {}  # other installs whose record of a replaced target moves to this one
        for link, (old, dummy) in changes.items():
            if old is None:
                continue
            if not root_fs.made_by_us(link, self.root):
                replaced[link] = old  # taken over (take_over_links)
                continue
            holder = self._install_holding(link)
            if holder and holder[0] != path and link in holder[1].get('replaced_links', {}):
                replaced[link] = holder[1]['replaced_links'][link]
                givers.setdefault(holder[0], (holder[1], []))[1].append(link)
        known = set(receipt.get('links', []))
        if not known.issuperset(wanted) or replaced != receipt.get('replaced_links', {}):
            receipt['links'] = sorted(known | set(wanted))
            if replaced:
                receipt['replaced_links'] = replaced
            root_fs.write_markers(path, receipt)
        for link, (dummy, target) in changes.items():
            root_fs.switch_link(link, target)
        for other, (other_receipt, links) in givers.items():
            for link in links:
                del other_receipt['replaced_links'][link]
            if not other_receipt['replaced_links']:
                del other_receipt['replaced_links']
            root_fs.write_markers(other, other_receipt)

    def _install_holding(self, link):
        """(directory, receipt) of the install under install_root that ``link`` points into, or None."""
        relative = os.path.relpath(root_fs.link_target(link), os.path.normpath(self.root))
        path = os.path.join(self.root, relative.split(os.sep, 1)[0])
        receipt = root_fs.read_receipt(path) if root_fs.is_real_dir(path) else None
        return (path, receipt) if receipt is not None else None

    # -- download and install ----------------------------------------------------------------

    def _resolve(self, req):
        """Exact version, digest and candidate URLs; SHA256SUMS is read only when no pin settles it."""
        if req.src:
            if req.prefix or not req.sha256:
                raise InstallError('src needs an exact version and its sha256')
            return req.version, req.sha256, ['file://' + os.path.abspath(req.src)]
        if req.url:
            return self._resolve_url(req)
        name, digest, exact = req.choose(self.target, lambda: self._sums([sums_url(m, req.build) for m in req.mirrors], ''))
        return exact, digest, [asset_url(m, req.build, name) for m in req.mirrors]

    def _resolve_url(self, req):
        url = req.url
        basename = unquote(urlsplit(url).path).rsplit('/', 1)[-1]  # never the query: it may hold a token
        named = parse_asset_name(basename) or {}
        exact = named.get('version', req.version)
        if not version_matches(req.version, exact) or req.prefix and not named:
            raise InstallError('url %s does not name Python %s: give the exact version of the '
                               'archive' % (redact_url(url), req.version))
        contradicted = [field for field, wanted in (('build', req.build), ('variant', req.variant),
                                                    ('freethreaded', req.freethreaded))
                        if named and named[field] != wanted]
        if contradicted:
            raise InstallError('url %s names another %s than the one requested: the receipt would lie; '
                               'make build, variant and freethreaded match the archive'
                               % (redact_url(url), ' and '.join(contradicted)))
        digest = req.sha256 or req.pinned_digest(exact, self.target)
        if not digest:
            context = 'no sha256 given for url %s and ' % redact_url(url)
            parts = urlsplit(url)
            sums = urlunsplit((parts.scheme, parts.netloc, parts.path.rsplit('/', 1)[0] + '/SHA256SUMS', '', ''))
            digest = self._sums([sums], context).get(basename)
            if not digest:
                raise InstallError('%sthe SHA256SUMS beside it does not list it: pass sha256' % context)
        return exact, digest, [url]

    def _sums(self, urls, context):
        def attempt(url):
            text = self.fetcher.read_text(url)
            try:
                return parse_sha256sums(text)
            except ValueError as exc:  # an error page or a broken file: the next mirror may have it right
                page = ' (the server sent an HTML page)' if text.lstrip()[:1] == '<' else ''
                raise FetchError(url, 'unusable SHA256SUMS%s: %s' % (page, exc))

        try:
            dummy, sums = self.fetcher.first_success(urls, attempt)
            return sums
        except FetchError as exc:
            raise InstallError('%scannot read SHA256SUMS (%s). Is the build tag on the mirror? Checksums '
                               'are never skipped: pin sha256 to install without SHA256SUMS' % (context, exc))

    def _install(self, req):
        exact, sha256, urls = self._resolve(req)
        name = install_dir_name(req.asset(exact, self.target))
        self._refuse_install_dir(os.path.join(self.root, name))  # an X.Y pin's name is known only now
        receipt = dict(version=exact, build=req.build, target=self.target, variant=req.variant,
                       freethreaded=req.freethreaded, sha256=sha256)
        previous = root_fs.read_receipt(os.path.join(self.root, name))  # a repair or a forced reinstall
        if previous and previous.get('replaced_links'):
            receipt['replaced_links'] = previous['replaced_links']  # the links still point here: keep their old targets

        installed_at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(_install_time()))  # before any download

        def attempt(candidate):
            staging = root_fs.new_staging(self.root, name)
            try:
                manifest = self._fetch_into(staging, candidate, sha256)
                receipt['url'] = redact_url(req.origin or candidate)
                receipt['installed_at'] = installed_at
                self._check_staged(staging, receipt, os.path.join(self.root, name), manifest)
                return staging
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

        try:
            dummy, staging = self.fetcher.first_success(urls, attempt)
        except FetchError as exc:
            text = str(exc) if str(exc).endswith(('.', '?')) else '%s.' % exc
            raise InstallError('could not download %s: %s Nothing was installed; %s' % (
                name, text, _what_to_do(exc, req.build)))
        path = root_fs.swap_in(self.root, staging, name)
        return path, receipt

    def _fetch_into(self, staging, url, sha256):
        """Download, verify and extract into ``staging``; the manifest of the tree written (path -> entry)."""
        from ansible_collections.pbs.python.plugins.module_utils._archive import ArchiveError, extract_tar_gz  # loaded by downloads only

        manifest = {}
        response = self.fetcher.open(url)
        try:
            stats = extract_tar_gz(response.read, staging, close=response.close, manifest=manifest)
        except ArchiveError as exc:
            raise FetchError(url, 'unusable archive: %s' % exc, transient=exc.transient)
        finally:
            response.close()
        if stats['sha256'] != sha256:
            raise ChecksumMismatch('checksum mismatch for %s: expected sha256 %s, got %s. Nothing was '
                                   'installed. The mirror serves other bytes than the pin: check the mirror '
                                   'or the pinned digest' % (redact_url(url), sha256, stats['sha256']))
        return manifest

    def _check_staged(self, staging, receipt, final, manifest):
        """Ready the verified tree for its final path; refuse it if it is not the pinned interpreter for this host.

        The manifest the extractor recorded gets the few paths changed since (relocated files, their
        dropped bytecode, a ``bin/python`` link) and is written beside the receipt, which records its digest.
        """
        interpreter = interpreter_name(receipt['version'], receipt['freethreaded'])
        if not os.path.exists(os.path.join(staging, 'bin', interpreter)):
            raise InstallError('the archive has no bin/%s: it is not a PBS install_only archive of '
                               'Python %s' % (interpreter, minor_of(receipt['version'])))
        from ansible_collections.pbs.python.plugins.module_utils import _manifest

        changed = self._relocate(staging, final, receipt)
        root_fs.ensure_python_link(staging, interpreter)
        touched = [os.path.relpath(path, staging).replace(os.sep, '/') for path in changed] + ['bin/python']
        _manifest.refresh(manifest, staging, touched)
        receipt['tree_digest'] = _manifest.write(staging, manifest)
        works, why = root_fs.interpreter_runs(staging, receipt, self.run)
        if not works:
            raise InstallError('the downloaded interpreter does not run on this host (%s); is target %s '
                               'right for it?' % (why, receipt['target']))
        receipt[root_fs.STARTED_FROM] = root_fs.start_files(staging, receipt)
        root_fs.write_markers(staging, receipt)

    # -- absent --------------------------------------------------------------------------------

    def absent(self, version, build, variant, freethreaded):
        if build is not None:
            check_build(build)
        if version is not None:
            is_prefix(version)
        return self._remove(lambda: self._matching(version, build, variant, freethreaded))

    def prune(self, pins):
        """Remove the installs, of any target, that no pin (an inventory pin, see _pin.normalize_pin) names."""
        return self._remove(lambda: [(path, receipt) for path, receipt in root_fs.installs(self.root)
                                     if not any(pin_matches(pin, receipt) for pin in pins)])

    def _remove(self, doomed_now):
        """Remove the installs ``doomed_now()`` lists, and the links into them; in check mode, say which."""
        if self.check_mode or not os.path.isdir(self.root):
            return self._absent_result(doomed_now())
        with root_fs.Lock(self.root):
            # Recover first: an interrupted run's trash is an install again, and may be doomed too.
            root_fs.recover(self.root)
            doomed = doomed_now()
            result = self._absent_result(doomed)
            for path, receipt in doomed:
                for link in root_fs.links_into(path, receipt, self.link_dir):  # into the install: ours
                    result['links'][link] = self._release_link(link, receipt.get('replaced_links', {}).get(link))
                root_fs.remove(self.root, os.path.basename(path))
        return result

    def _release_link(self, link, old):
        """Give a taken-over link its old target back (atomically), else remove it; the new target."""
        if old is not None:
            if os.path.exists(os.path.join(os.path.dirname(link), old)):
                root_fs.switch_link(link, old)
                return old
            self.warnings.append('%s pointed to %s before take_over_links replaced it, but %s no longer exists: '
                                 'the link is removed instead of restored' % (link, old, old))
        os.unlink(link)
        return None

    def _absent_result(self, doomed):
        removed = [path for path, dummy in doomed]
        return dict(changed=bool(doomed), removed=removed, target=self.target, links={},
                    diff=dict(before=dict(installs=removed), after=dict(installs=[])))
