# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller delivery for pbs_python: ask the host first, then fetch once and send only if needed.

With ``delivery: host`` this plugin only runs the module. With ``delivery: controller`` the
module is asked first (it answers from the host's receipts, without network); only a host that
lacks the build gets the archive, which the controller takes from its verified cache, filled at
most once per asset for the whole fleet. The module then installs from the transferred file with
the same checks as a download, so both modes end in identical installs and receipts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pbs.python.plugins.module_utils._installer import InstallError, Request
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    UPSTREAM, asset_url, redact_url, sums_url,
)
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums
from ansible_collections.pbs.python.plugins.plugin_utils._download_cache import CacheError, DownloadCache

MODULE = 'pbs.python.pbs_python'


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if args.get('delivery', 'host') != 'controller' or args.get('state', 'present') == 'absent' or args.get('src'):
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        try:
            first = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            if not first.pop('needs_archive', False):
                result.update(first)
                return result
            local, name, sha256, version, origin = self._fetch(args, first['target'])
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args.pop('url', None)
            args.update(src=remote, sha256=sha256, version=version, target=first['target'], origin=origin)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _fetch(self, args, target):
        """Resolve the pin for the host's target on the controller and fill the cache."""
        mirrors = args.get('mirror') or [UPSTREAM]
        mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
        cache = DownloadCache(args.get('cache_dir') or '~/.cache/pbs-python/downloads', self._client_options(args),
                              retries=int(args.get('retries', 3)), timeout=int(args.get('timeout', 30)))
        try:
            request = Request(args['version'], args['build'], variant=args.get('variant'),
                              freethreaded=args.get('freethreaded'), mirrors=mirrors, url=args.get('url'),
                              sha256=args.get('sha256'), checksums=args.get('checksums'),
                              strict=bool(args.get('strict_checksums')))
            request.check(target)
            if request.url:
                name = request.url.rsplit('/', 1)[-1]
                sha256 = request.pinned_digest(request.version, target)
                if not sha256:
                    raise InstallError('delivery: controller with url needs sha256')
                urls, version = [request.url], request.version
            else:
                name, sha256, version = request.choose(
                    target, lambda: parse_sha256sums(cache.read_text([sums_url(m, request.build) for m in mirrors])),
                    trusted=cache.cached())
                urls = [asset_url(m, request.build, name) for m in mirrors]
            local = cache.fetch(name, sha256, urls)
        except (InstallError, CacheError, ValueError) as exc:
            raise AnsibleActionFail('delivery: controller: %s' % exc)
        return local, name, sha256, version, redact_url(urls[0])

    @staticmethod
    def _client_options(args):
        """httpx settings equivalent to the module's URL options."""
        options = {'verify': args.get('ca_path') or bool(args.get('validate_certs', True)),
                   'headers': dict(args.get('headers') or {}, **{'User-Agent': 'pbs.python'})}
        if args.get('url_username'):
            options['auth'] = (args['url_username'], args.get('url_password') or '')
        if args.get('client_cert'):
            options['cert'] = (args['client_cert'], args['client_key']) if args.get('client_key') else args['client_cert']
        return options
