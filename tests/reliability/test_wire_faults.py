"""Faults on the wire, through real ansible-playbook runs against programmable loopback mirrors.

Single mirror: every fault fails with a message that says what happened and what to do, leaves
the previous install exactly as it was and no staging or trash directory, and a rerun once the
fault is gone installs the new build (then a further run is a no-op). Failover: the first mirror
broken in each way, the second good, the build comes from the second. Retries: transient faults
are retried with backoff, bounded by ``retries`` and ``timeout``; other faults are not retried.
"""

import pytest

from fault_mirror import (
    FILE, FaultMirror, closed_port, cut, html_page, redirect, serve, stall, status, unavailable,
)
from reliability_kit import (
    ASSET, INSTALL_NAME, Case, asset_path, assert_clean_failure, assert_converges, run_batch, sums_path,
)


def faulty(path_of, *steps, then=FILE):
    """Program ``steps`` (then ``then``) on the primary mirror's path for this case."""
    def program(mirrors, case):
        url = mirrors.primary.alias(case.name, 'good')
        mirrors.primary.program(path_of(case.name), *steps, then=then)
        return url
    return program


def refused(mirrors, case):
    case.port = closed_port()
    return 'http://127.0.0.1:%d/%s' % (case.port, case.name)


def start_on_refused_port(mirrors, case):
    """The mirror comes back on the port that refused connections."""
    case.server = FaultMirror(mirrors.primary.root, port=case.port).start()
    case.server.alias(case.name, 'good')
    return case.mirror


def unresolvable(mirrors, case):
    return 'http://pbs-mirror.invalid:%d/%s' % (mirrors.primary.server_address[1], case.name)


def resolvable(mirrors, case):
    return mirrors.primary.alias(case.name, 'good')


def loop(mirrors, case):
    url = mirrors.primary.alias(case.name, 'good')
    other = '/%s/elsewhere/%s' % (case.name, ASSET)
    mirrors.primary.program(asset_path(case.name), then=redirect(other))
    mirrors.primary.program(other, then=redirect(asset_path(case.name)))
    return url


SINGLE = {
    'refused': dict(program=refused, fix=start_on_refused_port, retries=1),
    'dns': dict(program=unresolvable, fix=resolvable),
    'stall': dict(program=faulty(asset_path, then=stall(after=100, seconds=10))),
    'cut': dict(program=faulty(asset_path, then=cut(after=100))),
    'http500': dict(program=faulty(asset_path, then=status(500)), retries=1),
    'http503': dict(program=faulty(asset_path, then=unavailable(retry_after=1)), retries=1),
    'asset404': dict(program=faulty(asset_path, then=status(404)), retries=2),
    'sums404': dict(program=faulty(sums_path, then=status(404)), sums=True, retries=2),
    'html': dict(program=faulty(asset_path, then=html_page())),
    'sumscut': dict(program=faulty(sums_path, then=cut(after=40)), sums=True, retries=1),
    'sumshtml': dict(program=faulty(sums_path, then=html_page()), sums=True),
    'loop': dict(program=loop),
}


def make_cases(specs, builds, prefix=''):
    """One Case per spec: pinned to the new build's sha256, or forced when SHA256SUMS must decide."""
    cases = {}
    for name, spec in specs.items():
        options = dict(retries=spec.get('retries', 0))
        if spec.get('sums'):
            options['force'] = True  # no pin: SHA256SUMS decides, so force the reinstall over the old build
        else:
            options['sha256'] = builds.new_sha
        cases[name] = Case(prefix + name, spec['program'], options, fix=spec.get('fix'))
    return cases


@pytest.fixture(scope='module')
def single(tmp_path_factory, mirrors, builds, old_install):
    cases = make_cases(SINGLE, builds)
    try:
        run_batch(tmp_path_factory.mktemp('wire-single'), mirrors, list(cases.values()), old_install)
        yield cases
    finally:
        for case in cases.values():
            if getattr(case, 'server', None):
                case.server.stop()


def check(case, old_tree, builds, phrases, requests=None):
    assert_clean_failure(case, old_tree, phrases)
    if requests is not None:
        assert case.failed_state.requests['primary'] == requests
    assert_converges(case, builds.new_sha)


def test_connection_refused(single, old_tree, builds):
    check(single['refused'], old_tree, builds, ['connection refused: is the mirror up?', '127.0.0.1:%d' %
                                                single['refused'].port])


def test_dns_failure(single, old_tree, builds):
    check(single['dns'], old_tree, builds, ['cannot resolve the mirror host name', 'pbs-mirror.invalid',
                                            'check the mirror URL'])


def test_stalled_transfer_times_out(single, old_tree, builds):
    case = single['stall']
    check(case, old_tree, builds, ['transfer stalled', 'slower than 1024 bytes/s for 2 seconds',
                                   'raise timeout if the mirror is this slow'],
          [('GET', asset_path('stall'), 200)])


def test_body_cut_off_midway(single, old_tree, builds):
    check(single['cut'], old_tree, builds, ['transfer interrupted after 100 of %d bytes' % len(builds.new), 'closed the connection early'],
          [('GET', asset_path('cut'), 200)])


def test_http_500_is_retried_then_fails(single, old_tree, builds):
    check(single['http500'], old_tree, builds, ['HTTP 500', 'Nothing was installed',
                                                'the fault may be temporary: rerun, raise retries or timeout'], [('GET', asset_path('http500'), 500)] * 2)


def test_http_503_with_retry_after_is_retried_then_fails(single, mirrors, old_tree, builds):
    case = single['http503']
    check(case, old_tree, builds, ['HTTP 503'], [('GET', asset_path('http503'), 503)] * 2)


def test_404_on_the_asset_is_not_retried(single, old_tree, builds):
    check(single['asset404'], old_tree, builds, ['HTTP 404 (not found on this mirror)', ASSET.replace('+', '%2B'),
                                                 'check that the mirror carries build 20240107'],
          [('GET', asset_path('asset404'), 404)])


def test_404_on_sha256sums_is_not_retried(single, old_tree, builds):
    check(single['sums404'], old_tree, builds, ['cannot read SHA256SUMS', 'HTTP 404', 'Is the build tag on the mirror?',
                                                'pin sha256'],
          [('GET', sums_path('sums404'), 404)])


def test_html_error_page_instead_of_the_archive(single, old_tree, builds):
    check(single['html'], old_tree, builds, ['not a gzip archive', 'HTML/XML page'],
          [('GET', asset_path('html'), 200)])


def test_sha256sums_cut_off_midway_is_retried_then_fails(single, old_tree, builds):
    check(single['sumscut'], old_tree, builds, ['cannot read SHA256SUMS', 'transfer interrupted after 40 of'],
          [('GET', sums_path('sumscut'), 200)] * 2)


def test_html_error_page_instead_of_sha256sums(single, old_tree, builds):
    check(single['sumshtml'], old_tree, builds, ['cannot read SHA256SUMS', 'the server sent an HTML page', 'pin sha256'], [('GET', sums_path('sumshtml'), 200)])


def test_redirect_loop(single, old_tree, builds):
    case = single['loop']
    check(case, old_tree, builds, ['redirect', 'loop'])
    assert len(case.failed_state.requests['primary']) <= 12  # urllib gives up; it does not spin


# -- failover: the first mirror broken in each way, the second good ------------------------------

def then_secondary(program):
    """The faulty primary for this case, followed by the good secondary."""
    def both(mirrors, case):
        return [program(mirrors, case), mirrors.secondary.alias(case.name, 'good')]
    return both


def to_other_mirror(mirrors, case):
    url = mirrors.primary.alias(case.name, 'good')
    target = mirrors.secondary.alias(case.name, 'good') + '/20240107/' + ASSET.replace('+', '%2B')
    mirrors.primary.program(asset_path(case.name), then=redirect(target))
    return url


def to_other_path(mirrors, case):
    url = mirrors.primary.alias(case.name, 'good')
    moved = '/%s/moved/%s' % (case.name, ASSET)
    with open('%s/good/20240107/%s' % (mirrors.primary.root, ASSET), 'rb') as handle:
        mirrors.primary.program(moved, then=serve(handle.read()))
    mirrors.primary.program(asset_path(case.name), then=redirect(moved.replace('+', '%2B')))
    return url


FAILOVER = dict((name, dict(spec, program=then_secondary(spec['program']))) for name, spec in SINGLE.items())
FAILOVER['refused'] = dict(program=then_secondary(refused), retries=1)
FAILOVER['redirect-other-mirror'] = dict(program=to_other_mirror)
FAILOVER['redirect-same-mirror'] = dict(program=to_other_path)


@pytest.fixture(scope='module')
def failover(tmp_path_factory, mirrors, builds, old_install):
    cases = make_cases(FAILOVER, builds, prefix='fo-')
    run_batch(tmp_path_factory.mktemp('wire-failover'), mirrors, list(cases.values()), old_install, rerun=False)
    return cases


def installed_from_second(case, builds, asset_from='secondary'):
    state = case.failed_state  # the first (and only) run
    assert not state.failed and state.result['changed'], state.result
    assert state.marker == 'new' and state.receipt['sha256'] == builds.new_sha
    assert state.leftovers == [] and state.visible == [INSTALL_NAME]
    assert ('GET', asset_path(case.name), 200) in state.requests[asset_from]
    if asset_from == 'secondary':
        assert state.result['url'].startswith(case.mirror[1])


@pytest.mark.parametrize('name', ['refused', 'dns', 'stall', 'cut', 'http500', 'http503', 'asset404', 'html', 'loop'])
def test_failover_when_the_archive_fails_on_the_first_mirror(failover, builds, name):
    case = failover[name]
    installed_from_second(case, builds)
    faults = dict(http500=2, http503=2).get(name)
    if faults:  # transient: retried on the first mirror, then the second
        assert [s for dummy, p, s in case.failed_state.requests['primary']] == [500 if name == 'http500' else 503] * 2


@pytest.mark.parametrize('name', ['sums404', 'sumscut', 'sumshtml'])
def test_failover_when_sha256sums_fails_on_the_first_mirror(failover, builds, name):
    case = failover[name]
    state = case.failed_state
    assert ('GET', sums_path(case.name), 200) in state.requests['secondary']
    installed_from_second(case, builds, asset_from='primary')  # the archive itself is fine on the first


def test_redirect_to_another_mirror_is_followed(failover, builds):
    case = failover['redirect-other-mirror']
    state = case.failed_state
    assert not state.failed and state.marker == 'new' and state.leftovers == [], state.result
    assert state.requests['primary'] == [('GET', asset_path(case.name), 302)]
    assert state.requests['secondary'] == [('GET', asset_path(case.name), 200)]
    assert state.result['url'].startswith(mirrors_url_of(case))  # the URL asked for, not where it moved


def mirrors_url_of(case):
    return case.mirror if isinstance(case.mirror, str) else case.mirror[0]


def test_redirect_to_another_path_is_followed(failover, builds):
    case = failover['redirect-same-mirror']
    state = case.failed_state
    assert not state.failed and state.marker == 'new' and state.leftovers == [], state.result
    assert state.requests['primary'] == [('GET', asset_path(case.name), 302),
                                         ('GET', '/%s/moved/%s' % (case.name, ASSET), 200)]


# -- retries: transient faults retried with backoff, bounded by retries and timeout ---------------

def on_asset(*steps, then=FILE):
    return faulty(asset_path, *steps, then=then)


def wrong_bytes_then_second(mirrors, case):
    with open('%s/setup/20240107/%s' % (mirrors.primary.root, ASSET), 'rb') as handle:
        other = handle.read()  # the old build's bytes under the new build's pin
    return [on_asset(then=serve(other))(mirrors, case), mirrors.secondary.alias(case.name, 'good')]


RETRIES = {
    'twice-503': dict(program=on_asset(unavailable(), unavailable()), retries=3),
    'no-retries': dict(program=on_asset(then=unavailable()), retries=0),
    'retry-after': dict(program=on_asset(unavailable(retry_after=1), unavailable(retry_after=1)), retries=2),
    'retry-after-capped': dict(program=on_asset(unavailable(retry_after=3600)), retries=1),
    'backoff': dict(program=on_asset(status(500), status(500)), retries=2),
    'bounded': dict(program=on_asset(then=status(502)), retries=2),
    'stall-bounded': dict(program=on_asset(then=stall(after=100, seconds=10)), retries=1),
    'not-found': dict(program=on_asset(then=status(404)), retries=3),
    'mismatch': dict(program=wrong_bytes_then_second, retries=3),
    'negative-retries': dict(program=on_asset(), retries=-1),
    'zero-timeout': dict(program=on_asset(), retries=0, timeout=0),
}


@pytest.fixture(scope='module')
def retries(tmp_path_factory, mirrors, builds, old_install):
    cases = {}
    for name, spec in RETRIES.items():
        options = dict(retries=spec['retries'], sha256=builds.new_sha)
        if 'timeout' in spec:
            options['timeout'] = spec['timeout']
        cases[name] = Case('rt-' + name, spec['program'], options)
    run_batch(tmp_path_factory.mktemp('wire-retries'), mirrors, list(cases.values()), old_install, rerun=False)
    return cases


def statuses(case):
    return [s for dummy, path, s in case.failed_state.requests['primary'] if path == asset_path(case.name)]


def gaps(case):
    times = case.failed_state.requests['times']
    return [b - a for a, b in zip(times, times[1:])]


def succeeded(case, builds):
    state = case.failed_state
    assert not state.failed and state.marker == 'new' and state.leftovers == [], state.result


def test_503_twice_then_200_succeeds_within_retries(retries, builds):
    succeeded(retries['twice-503'], builds)
    assert statuses(retries['twice-503']) == [503, 503, 200]


def test_retries_0_fails_after_one_request(retries, old_tree):
    case = retries['no-retries']
    assert_clean_failure(case, old_tree, ['HTTP 503'])
    assert statuses(case) == [503]


def test_retry_after_is_honoured(retries, builds):
    case = retries['retry-after']
    succeeded(case, builds)
    assert statuses(case) == [503, 503, 200]
    assert all(gap >= 0.95 for gap in gaps(case)), gaps(case)


def test_retry_after_is_capped_by_timeout(retries, builds):
    case = retries['retry-after-capped']  # Retry-After: 3600, timeout: 2
    succeeded(case, builds)
    assert statuses(case) == [503, 200]
    assert 1.9 <= gaps(case)[0] < 10, gaps(case)


def test_backoff_is_exponential_without_retry_after(retries, builds):
    case = retries['backoff']
    succeeded(case, builds)
    assert statuses(case) == [500, 500, 200]
    first, second = gaps(case)
    # 0.5 s, then 1 s, each with jitter of -50% to +50% (a fleet that failed together spreads out)
    assert 0.2 <= first <= 1.0 and 0.45 <= second <= 1.9, gaps(case)


def test_persistent_5xx_stops_after_retries_plus_one_requests(retries, old_tree):
    case = retries['bounded']
    assert_clean_failure(case, old_tree, ['HTTP 502', 'the fault may be temporary'])
    assert statuses(case) == [502, 502, 502]


def test_stalls_are_bounded_by_timeout_and_retries(retries, old_tree):
    case = retries['stall-bounded']
    assert_clean_failure(case, old_tree, ['transfer stalled'])
    assert statuses(case) == [200, 200]  # headers came, then nothing
    assert 2.0 <= gaps(case)[0] < 6, gaps(case)  # timeout (2 s) plus the first backoff (0.5 s)


def test_404_is_not_retried(retries, old_tree):
    case = retries['not-found']
    assert_clean_failure(case, old_tree, ['HTTP 404'])
    assert statuses(case) == [404]


def test_checksum_mismatch_is_neither_retried_nor_failed_over(retries, old_tree, builds):
    case = retries['mismatch']
    assert_clean_failure(case, old_tree, ['checksum mismatch', builds.new_sha, builds.old_sha])
    assert statuses(case) == [200]
    assert case.failed_state.requests['secondary'] == []


@pytest.mark.parametrize('name, phrase', [('negative-retries', 'retries must be between 0 and 100'),
                                          ('zero-timeout', 'timeout must be between 1 and 3600 seconds')],
                         ids=['negative-retries', 'zero-timeout'])
def test_retries_and_timeout_out_of_range_are_refused_before_any_request(retries, old_tree, name, phrase):
    case = retries[name]
    assert_clean_failure(case, old_tree, [phrase])
    assert case.failed_state.requests['primary'] == []
