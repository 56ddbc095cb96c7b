"""One fault matrix for both delivery modes: the hosts and the controller share one download layer.

Every case runs twice in the same ``ansible-playbook`` batch, once with ``delivery: host`` (the
module downloads) and once with ``delivery: controller`` (the action plugin downloads into its
cache), and each test asserts the same effect for both: what reached each origin on the wire,
what is on disk, what the message says. Redirects go from the primary mirror to a second origin
(another port: another origin, as a CDN host is), the way GitHub, Artifactory and S3-backed
mirrors answer release downloads.
"""

import base64
import glob

import pytest

from fault_mirror import (
    ForwardingProxy, basic, redirect, slow_headers, trickle, unavailable,
)
from reliability_kit import (
    ASSET, TAG, Case, asset_path, assert_clean_failure, assert_converges, entry, marker, parallel_play, run_batch,
    sums_path, task_args, visible,
)

MODES = {'host': {}, 'controller': {'delivery': 'controller'}}
USER = 'pbs-reader'
SECRETS = {
    'bearer': 'Rd-5c1e-bearer-token',
    'custom': 'Rd-77a2-custom-header',
    'userinfo': 'Rd-90b3-userinfo-password',
    'password': 'Rd-1d4f-url-password',
    'netrc': 'Rd-3e6a-netrc-password',
    'query': 'Rd-c2d8-query-token',
}
ENCODED = ASSET.replace('+', '%2B')


def to_cdn(auth=None, userinfo=None):
    """The primary wants ``auth`` and answers the asset with a 302 to the same path on the
    secondary (the CDN: another origin)."""
    def program(mirrors, case):
        url = mirrors.primary.alias(case.name, 'good')
        mirrors.secondary.alias(case.name, 'good')
        if auth:
            mirrors.primary.require_auth(case.prefix, auth)
        mirrors.primary.program(asset_path(case.name), then=redirect(
            '%s/%s/%s/%s' % (mirrors.secondary.url, case.name, TAG, ENCODED)))
        if userinfo:
            host, port = mirrors.primary.server_address[:2]
            return 'http://%s@%s:%d/%s' % (userinfo, host, port, case.name)
        return url
    return program


def redirect_to(location):
    def program(mirrors, case):
        mirrors.primary.program(asset_path(case.name), then=redirect(location))
        return mirrors.primary.alias(case.name, 'good')
    return program


def on_primary(*steps, then=None, failover=False):
    def program(mirrors, case):
        url = mirrors.primary.alias(case.name, 'good')
        mirrors.primary.program(asset_path(case.name), *steps, then=then)
        return [url, mirrors.secondary.alias(case.name, 'good')] if failover else url
    return program


@pytest.fixture(scope='module')
def matrix(tmp_path_factory, mirrors, https_mirror, ca, builds, old_install):
    work = tmp_path_factory.mktemp('matrix')
    netrc = work / 'netrc'
    netrc.write_text('machine 127.0.0.1 login %s password %s\n' % (USER, SECRETS['netrc']))
    netrc.chmod(0o600)

    def downgrade(mirrors_, case):
        case.server = https_mirror
        https_mirror.program(asset_path(case.name), then=redirect(mirrors_.secondary.alias(
            case.name, 'good') + '/%s/%s' % (TAG, ENCODED)))
        return https_mirror.alias(case.name, 'good')

    def clear_https(mirrors_, case):
        https_mirror.clear()
        return case.mirror

    def query_url(mirrors_, case):
        return None  # the case gives ``url`` instead of a mirror

    def good_mirror(mirrors_, case):
        return mirrors_.primary.alias(case.name, 'good')

    pin = dict(sha256=builds.new_sha, use_netrc=False)
    headers = {'Authorization': 'Bearer ' + SECRETS['bearer'], 'X-Mirror-Token': SECRETS['custom']}
    specs = {
        'cdn-headers': (to_cdn(auth='Bearer ' + SECRETS['bearer']), dict(pin, headers=headers), {}),
        'cdn-userinfo': (to_cdn(auth=basic(USER, SECRETS['userinfo']),
                                userinfo='%s:%s' % (USER, SECRETS['userinfo'])), pin, {}),
        'cdn-password': (to_cdn(auth=basic(USER, SECRETS['password'])),
                         dict(pin, url_username=USER, url_password=SECRETS['password'], force_basic_auth=True), {}),
        'cdn-netrc': (to_cdn(auth=basic(USER, SECRETS['netrc'])), dict(pin, use_netrc=True), {}),
        'downgrade': (downgrade, dict(pin, ca_path=ca['ca.pem']), {}),
        'to-file': (redirect_to('file:///etc/hostname'), pin, {}),
        'to-ftp': (redirect_to('ftp://127.0.0.1/pbs/' + ASSET), pin, {}),
        'trickle-failover': (on_primary(trickle(), failover=True), pin, {}),
        'trickle': (on_primary(trickle(), trickle()), dict(pin, retries=1), {}),
        'slow-headers': (on_primary(slow_headers(), failover=True), pin, {}),
        'retry-after': (on_primary(unavailable(retry_after=1)), dict(pin, retries=1), {}),
        'query-token': (query_url, dict(pin, url='%s/good/%s/%s?token=%s' % (
            mirrors.primary.url, TAG, ENCODED, SECRETS['query'])), {}),
        'ftp-mirror': (lambda m, c: ['ftp://127.0.0.1/pbs'], pin, {}),
        'huge-timeout': (good_mirror, dict(pin, timeout=10 ** 12),
                         dict(timeout=2)),
    }
    cases = {}
    for mode, extra in MODES.items():
        for name, (program, options, rerun) in specs.items():
            case_name = '%s-%s' % (name, mode[0])
            fix = {'downgrade': clear_https, 'ftp-mirror': good_mirror}.get(name)
            options = dict(options, cache_dir=str(work / 'cache' / case_name), **extra)
            cases[(name, mode)] = Case(case_name, program, options, fix=fix, rerun=rerun)
    https_mirror.reset()
    env = {'ANSIBLE_INJECT_INVOCATION': 'true', 'ANSIBLE_LOG_PATH': str(work / 'ansible.log'), 'NETRC': str(netrc)}
    first, second = run_batch(work, mirrors, list(cases.values()), old_install, env=env, extra_args=['-vvv'])
    return dict(cases=cases, work=work, outputs=[first.output, second.output])


both = pytest.mark.parametrize('mode', sorted(MODES))


@both
@pytest.mark.parametrize('name,given', [
    ('cdn-headers', ('authorization', 'x-mirror-token')), ('cdn-userinfo', ('authorization',)),
    ('cdn-password', ('authorization',)), ('cdn-netrc', ('authorization',)),
], ids=['headers', 'userinfo', 'url_password', 'netrc'])
def test_secrets_reach_the_mirror_and_never_the_cdn_it_redirects_to(matrix, mirrors, mode, name, given):
    case = matrix['cases'][(name, mode)]
    state = case.failed_state
    assert not state.failed and state.marker == 'new', state.msg or state.result
    # The mirror got the credential and checked it (a wrong or missing one is a 401; basic auth
    # without force_basic_auth answers the mirror's 401 challenge first).
    statuses = [s for dummy, path, s in state.requests['primary'] if path == asset_path(case.name)]
    assert statuses[-1] == 302 and set(statuses) <= {401, 302}, statuses
    assert state.requests['secondary'] == [('GET', asset_path(case.name), 200)]
    cdn = state.requests['headers']['secondary'][0]
    for header in given:
        assert header in state.requests['headers']['primary'][-1]
        assert header not in cdn, 'the CDN origin received %s: %r' % (header, state.requests['headers'])
    assert 'cookie' not in cdn and 'proxy-authorization' not in cdn


@both
def test_https_to_http_redirect_is_refused_and_nothing_is_fetched_in_clear(matrix, mirrors, old_tree, builds, mode):
    case = matrix['cases'][('downgrade', mode)]
    assert_clean_failure(case, old_tree, ['redirects from https to plain http', 'refused'])
    assert case.failed_state.requests['secondary'] == [], 'a request went out in clear text'
    assert [s for dummy, dummy2, s in case.failed_state.requests['own']] == [302]
    assert_converges(case, builds.new_sha)


@both
@pytest.mark.parametrize('name,phrase', [('to-file', 'redirects to a local file (file:///etc/hostname): refused'),
                                         ('to-ftp', 'redirects to a ftp: URL: refused')], ids=['file', 'ftp'])
def test_redirects_to_other_schemes_name_the_redirect(matrix, old_tree, builds, mode, name, phrase):
    case = matrix['cases'][(name, mode)]
    assert_clean_failure(case, old_tree, [phrase])
    assert 'connection refused' not in case.failed_state.msg
    assert_converges(case, builds.new_sha)


@both
def test_a_trickling_mirror_counts_as_a_timeout_and_fails_over(matrix, builds, mode):
    case = matrix['cases'][('trickle-failover', mode)]
    state = case.failed_state
    assert not state.failed and state.marker == 'new' and state.receipt['sha256'] == builds.new_sha, state.result
    assert state.requests['primary'] == [('GET', asset_path(case.name), 200)]
    assert state.requests['secondary'] == [('GET', asset_path(case.name), 200)]


@both
def test_a_trickling_mirror_is_retried_then_reported_as_too_slow(matrix, old_tree, builds, mode):
    case = matrix['cases'][('trickle', mode)]
    assert_clean_failure(case, old_tree, ['stalled', 'slower than 1024 bytes/s for 2 seconds'])
    assert case.failed_state.requests['primary'] == [('GET', asset_path(case.name), 200)] * 2
    assert_converges(case, builds.new_sha)


@both
def test_headers_sent_a_byte_at_a_time_count_as_a_timeout_and_fail_over(matrix, builds, mode):
    case = matrix['cases'][('slow-headers', mode)]
    state = case.failed_state
    assert not state.failed and state.marker == 'new' and state.receipt['sha256'] == builds.new_sha, state.msg
    assert state.requests['primary'] == [('GET', asset_path(case.name), 200)]
    assert state.requests['secondary'] == [('GET', asset_path(case.name), 200)]


@both
def test_retry_after_is_honoured(matrix, builds, mode):
    case = matrix['cases'][('retry-after', mode)]
    state = case.failed_state
    assert not state.failed and state.marker == 'new', state.msg or state.result
    assert [s for dummy, dummy2, s in state.requests['primary']] == [503, 200]
    times = state.requests['times']
    assert times[1] - times[0] >= 0.9  # the server asked for one second


@both
def test_out_of_range_and_unsupported_options_are_refused_before_any_request(matrix, old_tree, builds, mode):
    ftp = matrix['cases'][('ftp-mirror', mode)]
    assert_clean_failure(ftp, old_tree, ['mirror ftp://127.0.0.1/pbs', 'only https://, http:// and file://'])
    assert ftp.failed_state.requests['primary'] == [] and ftp.failed_state.requests['secondary'] == []
    assert_converges(ftp, builds.new_sha)
    huge = matrix['cases'][('huge-timeout', mode)]
    assert_clean_failure(huge, old_tree, ['timeout must be between 1 and 3600 seconds'])
    assert huge.failed_state.requests['primary'] == []
    assert_converges(huge, builds.new_sha)


@both
def test_a_query_token_works_and_is_masked_everywhere(matrix, mode):
    case = matrix['cases'][('query-token', mode)]
    state = case.failed_state
    assert not state.failed and state.marker == 'new', state.msg or state.result
    assert '?' not in state.receipt['url'] and '?' not in state.result['url']


def test_no_secret_appears_in_any_output(matrix):
    places = dict(('playbook output %d' % n, text) for n, text in enumerate(matrix['outputs']))
    for path in glob.glob(str(matrix['work'] / 'work' / '*.results.jsonl')) + \
            glob.glob(str(matrix['work'] / 'roots' / '*' / '*' / 'PBS_RECEIPT.json')) + \
            glob.glob(str(matrix['work'] / 'cache' / '*' / '*' / '*.origin')) + \
            [str(matrix['work'] / 'ansible.log')]:
        with open(path) as handle:
            places[path] = handle.read()
    assert any('-vvv' in text or 'ESTABLISH' in text for text in matrix['outputs'])
    for key, secret in SECRETS.items():
        for form in (secret, base64.b64encode(('%s:%s' % (USER, secret)).encode()).decode()):
            leaks = [where for where, text in places.items() if form in text]
            assert leaks == [], '%s secret found in: %s' % (key, ', '.join(leaks))


def test_the_controller_downloads_through_the_proxy_of_its_environment(tmp_path, mirrors, builds):
    """Controller delivery uses the hosts' transport, so the controller's ``http_proxy`` carries its
    requests as a host's carries the module's; ``use_proxy: false`` bypasses it there too.
    ``pbs-mirror.invalid`` resolves nowhere: only the proxy (routing it to the mirror) reaches it."""
    mirrors.primary.alias('ctl-proxied', 'good')
    mirrors.primary.reset()
    with ForwardingProxy(routes={'pbs-mirror.invalid': mirrors.primary.url}) as proxy:
        environment = {'http_proxy': proxy.url, 'HTTP_PROXY': proxy.url, 'no_proxy': '', 'NO_PROXY': ''}
        mirror = 'http://pbs-mirror.invalid/ctl-proxied'
        per_host = {
            'via-proxy': {'pbs': task_args(str(tmp_path / 'via'), mirror, delivery='controller',
                                           cache_dir=str(tmp_path / 'cache'))},
            'bypass': {'pbs': task_args(str(tmp_path / 'bypass'), mirror, use_proxy=False, delivery='controller',
                                        cache_dir=str(tmp_path / 'cache-bypass'))},
        }
        run = parallel_play(tmp_path / 'work', per_host, ['pbs'], env=environment)
    via, bypass = entry(run, 'pbs', 'via-proxy'), entry(run, 'pbs', 'bypass')
    assert via['status'] == 'ok' and via['result']['changed'] and via['result']['delivered'], via
    assert marker(str(tmp_path / 'via')) == 'new'
    assert [(m, url, code) for m, url, host, code in proxy.requests] == [
        ('GET', 'http://pbs-mirror.invalid%s' % sums_path('ctl-proxied'), 200),
        ('GET', 'http://pbs-mirror.invalid%s' % asset_path('ctl-proxied').replace('+', '%2B'), 200)]
    assert bypass['status'] == 'failed'
    assert 'cannot resolve the mirror host name' in bypass['result']['msg']
    assert visible(str(tmp_path / 'bypass')) == []
