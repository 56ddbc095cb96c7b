# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The URL options every module that downloads shares: one text, so they never drift apart."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  retries:
    description:
      - How many times a transient failure (connection error, timeout, 5xx, interrupted transfer) is
        retried on the same mirror (or upstream), with exponential backoff honouring C(Retry-After). V(0) or more.
    type: int
    default: 3
  timeout:
    description:
      - Socket timeout in seconds for each request; also caps a single backoff wait. From V(1) to V(3600).
      - A transfer slower than 1 KiB/s for this many seconds counts as a timeout too (as curl's
        C(--speed-limit 1024 --speed-time TIMEOUT)) and is retried and fails over like one, so a mirror
        that trickles bytes cannot hold a play for hours.
    type: int
    default: 30
  headers:
    description:
      - Extra HTTP headers, for example an C(Authorization) header for a private mirror. Their
        values are treated as secrets (not logged, masked in results).
      - Like every credential (O(url_username)/O(url_password), user info in a mirror URL, C(~/.netrc) entries,
        O(client_cert)), they are sent only to the origin (scheme, host and port) of the mirror they were
        given for. A redirect to another origin, such as a CDN with a pre-signed URL, is followed without
        them; a redirect from C(https://) to C(http://) or to any other scheme is refused.
    type: dict
  validate_certs:
    description:
      - Verify TLS certificates. Disabling it is reported as a warning.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates to trust for HTTPS mirrors.
    type: path
  client_cert:
    description:
      - PEM client certificate for mutual TLS, presented to the mirror's origin only.
    type: path
  client_key:
    description:
      - PEM private key for O(client_cert).
    type: path
  url_username:
    description:
      - Username for HTTP basic authentication.
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication.
    type: str
  force_basic_auth:
    description:
      - Send basic authentication credentials with the first request instead of waiting for a 401.
    type: bool
    default: false
  use_proxy:
    description:
      - Use proxies from the environment (C(https_proxy), C(http_proxy), C(no_proxy)).
    type: bool
    default: true
  use_netrc:
    description:
      - Read credentials from C(~/.netrc) (or C($NETRC)) for the mirror's host when no others are given;
        like every credential they are not sent after a redirect to another origin.
    type: bool
    default: true
'''
