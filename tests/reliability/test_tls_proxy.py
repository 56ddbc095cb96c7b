"""TLS and proxies, through real ansible-playbook runs.

An HTTPS mirror whose certificate comes from a CA made in the test: refused by default with a
message that says what to do, accepted with ``ca_path``, accepted with ``validate_certs: false``
and a warning. A loopback forward proxy given in the task's ``environment`` carries every request
to a mirror whose host name does not resolve at all; ``use_proxy: false`` bypasses it.
"""

import pytest

from fault_mirror import ForwardingProxy
from reliability_kit import (
    Case, asset_path, assert_clean_failure, assert_converges, entry, leftovers, marker, parallel_play,
    run_batch, sums_path, task_args, visible,
)


@pytest.fixture(scope='module')
def tls(tmp_path_factory, mirrors, https_mirror, ca, builds, old_install):
    def on_https(mirrors_, case):
        case.server = https_mirror
        return https_mirror.alias(case.name, 'good')

    pin = dict(sha256=builds.new_sha)
    cases = {
        'default': Case('tls-default', on_https, dict(pin, retries=2), rerun=dict(ca_path=ca['ca.pem'])),
        'ca-path': Case('tls-ca-path', on_https, dict(pin, ca_path=ca['ca.pem'])),
        'no-validation': Case('tls-no-validation', on_https, dict(pin, validate_certs=False)),
    }
    https_mirror.reset()
    run_batch(tmp_path_factory.mktemp('tls'), mirrors, list(cases.values()), old_install)
    return cases


def test_https_with_a_test_ca_fails_by_default_with_a_clear_message(tls, https_mirror, old_tree, builds):
    case = tls['default']
    assert_clean_failure(case, old_tree, ['TLS certificate verification failed', 'CERTIFICATE_VERIFY_FAILED',
                                          'give the CA bundle of the mirror with ca_path',
                                          'only for testing, set validate_certs: false'])
    assert case.failed_state.requests['own'] == []  # refused at the handshake: no request was sent
    assert https_mirror.tls_failures == 1  # not retried (retries: 2): a certificate does not fix itself
    assert_converges(case, builds.new_sha)  # the rerun passes ca_path


def test_https_works_with_ca_path(tls, builds):
    state = tls['ca-path'].failed_state
    assert not state.failed and state.result['changed'] and state.marker == 'new', state.result
    assert state.result['url'].startswith('https://127.0.0.1:')
    assert not state.result.get('warnings')


def test_https_works_without_validation_but_warns(tls, builds):
    state = tls['no-validation'].failed_state
    assert not state.failed and state.marker == 'new', state.result
    assert any('validate_certs is false' in w and 'not verified' in w for w in state.result.get('warnings', [])), \
        state.result


def test_proxy_from_environment_is_honoured_and_use_proxy_false_bypasses_it(tmp_path, mirrors, builds):
    """``pbs-mirror.invalid`` resolves nowhere: only the proxy (routing it to the mirror) can reach it."""
    mirrors.primary.alias('proxied', 'good')
    mirrors.primary.reset()
    with ForwardingProxy(routes={'pbs-mirror.invalid': mirrors.primary.url}) as proxy:
        environment = {'http_proxy': proxy.url, 'HTTP_PROXY': proxy.url, 'no_proxy': '', 'NO_PROXY': ''}
        mirror = 'http://pbs-mirror.invalid/proxied'
        per_host = {
            'via-proxy': {'pbs': task_args(str(tmp_path / 'via'), mirror, environment=environment)},
            'bypass': {'pbs': task_args(str(tmp_path / 'bypass'), mirror, environment=environment, use_proxy=False)},
        }
        run = parallel_play(tmp_path / 'work', per_host, ['pbs'])
    via, bypass = entry(run, 'pbs', 'via-proxy'), entry(run, 'pbs', 'bypass')
    assert via['status'] == 'ok' and via['result']['changed'], via
    assert marker(str(tmp_path / 'via')) == 'new' and leftovers(str(tmp_path / 'via')) == []
    assert [(m, url, code) for m, url, host, code in proxy.requests] == [
        ('GET', 'http://pbs-mirror.invalid%s' % sums_path('proxied'), 200),
        ('GET', 'http://pbs-mirror.invalid%s' % asset_path('proxied').replace('+', '%2B'), 200)]
    assert mirrors.primary.under('/proxied/') == [('GET', sums_path('proxied'), 200),
                                                  ('GET', asset_path('proxied'), 200)]
    assert bypass['status'] == 'failed'
    assert 'cannot resolve the mirror host name' in bypass['result']['msg']
    assert visible(str(tmp_path / 'bypass')) == [] and leftovers(str(tmp_path / 'bypass')) == []
