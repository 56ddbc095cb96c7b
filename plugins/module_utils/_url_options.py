# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The URL options every downloading module and plugin shares: their spec, their checks, their masking.

Apart from the transport (``_fetch``) so that a module run which makes no request, a no-op, never
loads ssl, http.client and the transport's code (about 25 ms on every host, every run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pbs.python.plugins.module_utils._download_policy import PolicyError, check_scheme, check_timeout, url_secrets

# The URL options of every downloading module, documented once in doc_fragments/_url.py.
URL_ARGUMENT_SPEC = dict(
    retries=dict(type='int', default=3),
    timeout=dict(type='int', default=30),
    headers=dict(type='dict', no_log=True),  # Authorization: Bearer ... must not reach logs or results
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=True),
    url_username=dict(type='str'),
    url_password=dict(type='str', no_log=True),
    force_basic_auth=dict(type='bool', default=False),
    use_proxy=dict(type='bool', default=True),
    use_netrc=dict(type='bool', default=True),
)


class UrlModule(AnsibleModule):
    """An AnsibleModule that masks credentials written inside URL options in everything it returns.

    ``no_log`` covers url_password, but not ``https://user:token@mirror/`` or ``?token=``; the secrets are added
    before the invocation is logged (syslog) and
    when the result is formatted, so even an argument error (raised before any module code runs)
    cannot echo them back through ``invocation``.
    """

    URL_OPTIONS = ('mirror', 'upstream', 'url')

    def _mask_url_secrets(self):
        for name in self.URL_OPTIONS:
            value = (self.params or {}).get(name)
            for url in (value if isinstance(value, list) else [value]):
                if isinstance(url, str):
                    self.no_log_values.update(url_secrets(url))

    def _log_invocation(self):
        self._mask_url_secrets()  # the "Invoked with" line to syslog/journald comes before any result
        super(UrlModule, self)._log_invocation()

    def _return_formatted(self, kwargs):
        self._mask_url_secrets()
        super(UrlModule, self)._return_formatted(kwargs)


def check_url_params(module, what):
    """Validate the shared URL options before any request; ``what`` names the servers ("mirror", "upstream")."""
    params = module.params
    try:
        check_timeout(params['timeout'], params['retries'])
        for name in UrlModule.URL_OPTIONS:
            value = params.get(name)
            for url in (value if isinstance(value, list) else [value] if value else []):
                check_scheme(url, name)
    except PolicyError as exc:
        module.fail_json(msg=str(exc))
    if not params['validate_certs']:
        module.warn('validate_certs is false: the %s\'s identity is not verified (the sha256 check still '
                    'protects every archive)' % what)


class FetcherOnDemand(object):
    """A ``_fetch.Fetcher`` for these options, made at its first use: a run that finds its builds
    installed never imports the transport."""

    def __init__(self, params):
        self._params = params
        self._fetcher = None

    def __getattr__(self, name):
        if name.startswith('_'):  # only the fetcher's public interface; never recurse on our own attributes
            raise AttributeError(name)
        if self._fetcher is None:
            from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher

            self._fetcher = Fetcher(self._params)
        return getattr(self._fetcher, name)
