"""The download policy on its own: redirects, secrets, retries, speed floor, resume, redaction.

Pure functions, so every rule is checked here without a network; the transports that carry them
out are tested against real loopback servers in tests/reliability.
"""

from email.utils import formatdate

import pytest

from ansible_collections.pbs.python.plugins.module_utils import _download_policy as policy
from ansible_collections.pbs.python.plugins.module_utils._naming import UPSTREAM

# What GitHub answers for a release asset: a 302 to its CDN with a pre-signed, expiring URL.
GITHUB_ASSET = UPSTREAM + '/20240726/cpython-3.12.4%2B20240726-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz'
GITHUB_CDN = ('https://objects.githubusercontent.com/github-production-release-asset-2e65be/162334160/'
              'abc?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAVCODYLSA53PQK4ZA%2F20240801'
              '&X-Amz-Signature=0123456789abcdef&response-content-type=application%2Foctet-stream')


@pytest.mark.parametrize('url,expected', [
    ('https://user:ghp_SECRETtoken@mirror.example/pbs/20260814/cpython-3.12.14%2B20260814-x.tar.gz',
     'https://mirror.example/pbs/20260814/cpython-3.12.14%2B20260814-x.tar.gz'),
    ('https://token@mirror.example:8443/pbs?X-Amz-Signature=SECRET&X-Amz-Credential=AKIA',
     'https://mirror.example:8443/pbs'),
    ('https://u:p%40ss@w@mirror.example/a/SHA256SUMS?sig=SECRET#frag',
     'https://mirror.example/a/SHA256SUMS'),
    ('file:///srv/pbs/20240107/SHA256SUMS', 'file:///srv/pbs/20240107/SHA256SUMS'),
    (UPSTREAM + '/20260814/SHA256SUMS', UPSTREAM + '/20260814/SHA256SUMS'),
])
def test_redact_url(url, expected):
    redacted = policy.redact_url(url)
    assert redacted == expected
    for secret in ('SECRET', 'ghp_', 'token', 'AKIA', 'p%40ss', 'user:'):
        assert secret not in redacted


def test_url_secrets_cover_user_info_and_every_query_value():
    secrets = policy.url_secrets('https://bot:p%40ss@mirror.example/pbs?token=ghp_abc123&expires=1700000000&a=1')
    assert {'bot', 'p%40ss', 'p@ss', 'ghp_abc123', '1700000000'} <= set(secrets)
    assert 'ghp_SECRETTOKEN1234' in policy.url_secrets('https://ghp_SECRETTOKEN1234:x-oauth-basic@github.example/m')
    assert '1' not in secrets  # too short to mask without garbling the output
    assert policy.url_secrets('https://tok3n@mirror.example/pbs') == ['tok3n']
    assert policy.url_secrets(UPSTREAM) == []
    assert 'AKIAVCODYLSA53PQK4ZA/20240801' in policy.url_secrets(GITHUB_CDN)


@pytest.mark.parametrize('url', ['ftp://mirror/pbs', 'javascript:alert(1)', 'mirror.example/pbs', 'HTTPX://m/p'])
def test_schemes_other_than_http_https_file_are_refused_up_front(url):
    with pytest.raises(policy.PolicyError, match='only https://, http:// and file://'):
        policy.check_scheme(url)


@pytest.mark.parametrize('url', ['https://m/pbs', 'HTTP://m/pbs', 'file:///srv/pbs'])
def test_supported_schemes(url):
    assert policy.check_scheme(url) == url


def test_origin_is_scheme_host_and_port_with_default_ports():
    assert policy.origin('https://Mirror.Example/pbs') == ('https', 'mirror.example', 443)
    assert policy.origin('https://mirror.example:443/x') == policy.origin('https://u:p@mirror.example/y')
    assert policy.origin('http://mirror.example/x') != policy.origin('https://mirror.example/x')
    assert policy.origin('https://mirror.example:8443/x') != policy.origin('https://mirror.example/x')


def test_secrets_stay_with_their_origin():
    assert policy.may_send_secrets('https://u:p@mirror.example/pbs', 'https://mirror.example/pbs/20240726/a')
    assert not policy.may_send_secrets(GITHUB_ASSET, GITHUB_CDN)
    assert not policy.may_send_secrets('https://mirror.example/pbs', 'https://mirror.example:8443/pbs')
    assert not policy.may_send_secrets('https://mirror.example/pbs', 'http://mirror.example/pbs')
    assert not policy.may_send_secrets('https://mirror.example/pbs', 'https://mirror.example.evil/pbs')


def test_redirects_resolve_relative_locations_and_follow_to_a_cdn():
    assert policy.next_hop(GITHUB_ASSET, GITHUB_CDN, 0) == GITHUB_CDN
    assert policy.next_hop('https://m.example/pbs/20240726/a', '/store/a', 1) == 'https://m.example/store/a'
    assert policy.next_hop('http://m.example/pbs/a', 'https://cdn.example/a', 0) == 'https://cdn.example/a'


@pytest.mark.parametrize('location,message', [
    ('http://cdn.example/a', 'from https to plain http'),
    ('file:///etc/shadow', 'redirects to a local file'),
    ('ftp://cdn.example/a', 'redirects to a ftp: URL'),
    ('javascript:alert(1)', 'redirects to a javascript: URL'),
    ('', 'without a Location'),
])
def test_redirects_refused_with_the_reason(location, message):
    with pytest.raises(policy.PolicyError, match=message):
        policy.next_hop('https://m.example/pbs/a', location, 0)


def test_redirect_loops_end():
    with pytest.raises(policy.PolicyError, match='more than 10 redirects'):
        policy.next_hop('https://m.example/a', '/a', policy.MAX_REDIRECTS)


def test_retry_after_in_both_forms():
    assert policy.retry_after_seconds('7') == 7.0
    assert policy.retry_after_seconds(' 2.5 ') == 2.5
    assert policy.retry_after_seconds('-3') == 0.0
    now = 1_700_000_000
    assert policy.retry_after_seconds(formatdate(now + 12, usegmt=True), now=now) == 12.0
    assert policy.retry_after_seconds(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert policy.retry_after_seconds('soon') is None
    assert policy.retry_after_seconds(None) is None


def test_backoff_jitters_grows_and_is_capped():
    assert policy.backoff(0, None, 30, jitter=lambda: 0.0) == 0.25
    assert policy.backoff(0, None, 30, jitter=lambda: 1.0) == 0.75
    assert policy.backoff(3, None, 30, jitter=lambda: 0.5) == 4.0
    assert policy.backoff(20, None, 30, jitter=lambda: 0.5) == policy.MAX_BACKOFF
    assert policy.backoff(20, None, 5, jitter=lambda: 0.5) == 5.0  # never longer than the timeout
    assert policy.backoff(0, 9.0, 30) == 9.0  # the server's word wins over our schedule
    assert policy.backoff(0, 3600.0, 30) == 30.0


@pytest.mark.parametrize('timeout,retries', [(0, 3), (10 ** 12, 3), (30, -1), (30, 10 ** 9)])
def test_out_of_range_numbers_are_refused(timeout, retries):
    with pytest.raises(policy.PolicyError, match='must be between'):
        policy.check_timeout(timeout, retries)


def test_speed_floor_trips_on_a_trickle_and_not_on_a_steady_stream():
    now = [0.0]
    trickle = policy.SpeedFloor(30, clock=lambda: now[0])
    trickle.waiting()
    for dummy in range(29):
        now[0] += 1
        assert trickle.update(1) is None
    now[0] += 1
    assert 'slower than 1024 bytes/s for 30 seconds (30 bytes in 30 s)' in trickle.update(1)

    now[0] = 0.0
    steady = policy.SpeedFloor(30, clock=lambda: now[0])
    steady.waiting()
    for dummy in range(300):  # 10 minutes at 2 KiB/s: slow but alive
        now[0] += 2
        assert steady.update(4096) is None


def test_speed_floor_judges_each_window_afresh():
    now = [0.0]
    floor = policy.SpeedFloor(10, clock=lambda: now[0])
    floor.waiting()
    now[0] = 10
    assert floor.update(1 << 20) is None  # a fast first window earns nothing for the next
    now[0] = 20
    assert floor.update(10) is not None


def test_speed_floor_counts_only_time_spent_waiting_for_the_network():
    now = [0.0]
    floor = policy.SpeedFloor(10, clock=lambda: now[0])
    floor.waiting()
    now[0] = 5
    assert floor.update(100) is None
    floor.idle()
    now[0] = 500  # the consumer (a slow disk) held the data for minutes: not the mirror's fault
    assert floor.update(0) is None
    floor.waiting()
    now[0] = 506
    assert 'slower than 1024 bytes/s for 10 seconds (100 bytes in 11 s)' in floor.update(0)


@pytest.mark.parametrize('url', ['http://mirror.example: 8089/pbs', 'http://mirror.example:8089 /pbs',
                                 'http://mirror.example:65616/pbs'])
def test_ports_the_parser_cannot_read_are_errors_never_the_default(url):
    with pytest.raises(policy.PolicyError, match='invalid port'):
        policy.origin(url)
    with pytest.raises(policy.PolicyError, match='invalid port'):
        policy.check_scheme(url)
    assert not policy.may_send_secrets('http://mirror.example/pbs', url)
    with pytest.raises(policy.PolicyError, match='invalid port'):
        policy.next_hop('http://mirror.example/pbs/a', url, 0)


@pytest.mark.parametrize('offset,status,content_range,action', [
    (0, 200, None, 'restart'),
    (1000, 206, 'bytes 1000-4999/5000', 'append'),
    (1000, 206, 'bytes 0-4999/5000', 'discard'),
    (1000, 200, None, 'restart'),
    (1000, 416, 'bytes */1000', 'complete'),
])
def test_resume_actions(offset, status, content_range, action):
    assert policy.resume_action(offset, status, content_range) == action
    assert policy.range_header(offset) == ({'Range': 'bytes=%d-' % offset} if offset else {})
