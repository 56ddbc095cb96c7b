# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of delivery: resolve a pin for a host's target and get its verified archive.

Shared by the pbs_python action plugin (controller delivery) and the bootstrap action (hosts
without Python), so both resolve pins exactly as the module does on a host: pinned checksums,
then the verified cache, then the mirror's SHA256SUMS.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import unquote, urlsplit

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pbs.python.plugins.module_utils._download_policy import (
    PolicyError, check_scheme, check_timeout, redact_url,
)
from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.module_utils._naming import UPSTREAM, asset_url, sums_url
from ansible_collections.pbs.python.plugins.module_utils._pin import DEFAULT_CACHE_DIR as DEFAULT_CACHE, InstallError, Pin
from ansible_collections.pbs.python.plugins.module_utils._release import parse_sha256sums
from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC
from ansible_collections.pbs.python.plugins.plugin_utils._download_cache import CacheError, DownloadCache


class DeliveryError(Exception):
    """Resolution or download failed on the controller; the message says why."""


def url_fetcher(options):
    """The hosts' Fetcher for the controller, from URL options as the module takes them.

    Validated by the module's own URL_ARGUMENT_SPEC, so defaults and types cannot drift from the
    hosts'; absent options (None, or "" as the roles' defaults say "none") take the module's defaults.
    """
    given = dict((name, value) for name, value in options.items()
                 if name in URL_ARGUMENT_SPEC and value is not None and value != '')
    result = ArgumentSpecValidator(URL_ARGUMENT_SPEC).validate(given)
    if result.error_messages:
        raise DeliveryError('; '.join(result.error_messages))
    params = result.validated_parameters
    try:
        check_timeout(params['timeout'], params['retries'])
    except PolicyError as exc:
        raise DeliveryError(str(exc))
    return Fetcher(params)


def fetch_for_target(args, target):
    """(local path, asset, sha256, exact version, origin URL) of the pin in ``args`` for ``target``."""
    mirrors = args.get('mirror') or [UPSTREAM]
    mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    cache = DownloadCache(args.get('cache_dir') or DEFAULT_CACHE, url_fetcher(args))
    try:
        for url in mirrors + ([args['url']] if args.get('url') else []):
            check_scheme(url)
        request = Pin(args['version'], args['build'], variant=args.get('variant'),
                      freethreaded=boolean(args.get('freethreaded') or False), mirrors=mirrors,
                      url=args.get('url'), sha256=args.get('sha256'), checksums=args.get('checksums'),
                      strict=boolean(args.get('strict_checksums') or False))
        request.check(target)
        if request.url:
            name = unquote(urlsplit(request.url).path).rsplit('/', 1)[-1]  # no query: it may hold a token
            sha256 = request.pinned_digest(request.version, target)
            if not sha256:
                raise InstallError('controller delivery of a url needs its sha256')
            urls, version = [request.url], request.version
        else:
            name, sha256, version = request.choose(
                target, lambda: parse_sha256sums(cache.read_text([sums_url(m, request.build) for m in mirrors])),
                trusted=cache.cached())
            urls = [asset_url(m, request.build, name) for m in mirrors]
        local = cache.fetch(name, sha256, urls)
    except (InstallError, CacheError, PolicyError, ValueError) as exc:
        raise DeliveryError(str(exc))
    return local, name, sha256, version, cache.origin(name, sha256) or redact_url(urls[0])
