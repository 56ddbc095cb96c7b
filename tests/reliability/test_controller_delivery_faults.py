"""The same guarantees with ``delivery: controller``, where the controller downloads (httpx, a
verified cache) and the host installs the transferred file with the module's own checks.

Faults on the wire and failover happen on the controller; a hostile archive whose sha256 matches
its pin passes the controller's checksum and must be refused by the host's archive checks; the
credentials the controller uses never appear in any output.
"""

import base64
import glob
import os

import pytest

import tiny_archives
from fault_mirror import FILE, basic, closed_port, cut, serve, status, unavailable
from reliability_kit import (
    INSTALL_NAME, Case, asset_path, assert_clean_failure, assert_converges, run_batch,
)

USER = 'pbs-reader'
SECRET = 'Ct-71c0d2aa-controller-userinfo'
BEARER = 'Ct-3b9e6f10-controller-bearer'


def on_primary(*steps, then=FILE):
    def program(mirrors, case):
        url = mirrors.primary.alias(case.name, 'good')
        if steps or then is not FILE:
            mirrors.primary.program(asset_path(case.name), *steps, then=then)
        return url
    return program


def refused_then_second(mirrors, case):
    return ['http://127.0.0.1:%d/%s' % (closed_port(), case.name), mirrors.secondary.alias(case.name, 'good')]


def with_userinfo(*steps, then=FILE):
    def program(mirrors, case):
        on_primary(*steps, then=then)(mirrors, case)
        mirrors.primary.require_auth('/%s/' % case.name, basic(USER, SECRET))
        host, port = mirrors.primary.server_address[:2]
        return 'http://%s:%s@%s:%d/%s' % (USER, SECRET, host, port, case.name)
    return program


def with_bearer(*steps, then=FILE):
    def program(mirrors, case):
        mirrors.primary.require_auth('/%s/' % case.name, 'Bearer ' + BEARER)
        return on_primary(*steps, then=then)(mirrors, case)
    return program


@pytest.fixture(scope='module')
def controller(tmp_path_factory, mirrors, builds, old_install):
    work = tmp_path_factory.mktemp('controller')
    outside = str(work / 'outside')
    os.makedirs(outside)
    hostile = tiny_archives.hostile_archive('symlink', outside)
    pin = dict(sha256=builds.new_sha, delivery='controller', retries=1)
    bearer = dict(pin, headers={'Authorization': 'Bearer ' + BEARER})
    specs = {
        'ctl-failover': (refused_then_second, pin, {}),
        'ctl-503': (on_primary(unavailable(), unavailable()), dict(pin, retries=3), {}),
        'ctl-cut': (on_primary(cut(after=100)), pin, {}),
        'ctl-404': (on_primary(then=status(404)), pin, {}),
        'ctl-mismatch': (on_primary(then=serve(builds.old)), pin, {}),
        'ctl-hostile': (on_primary(then=serve(hostile)), dict(pin, sha256=tiny_archives.sha256(hostile)),
                        dict(sha256=builds.new_sha)),
        'ctl-userinfo': (with_userinfo(), pin, {}),
        'ctl-userinfo-404': (with_userinfo(then=status(404)), pin, {}),
        'ctl-bearer': (with_bearer(), bearer, {}),
        'ctl-bearer-500': (with_bearer(then=status(500)), bearer, {}),
    }
    cases = {}
    for name, (program, options, rerun) in specs.items():
        cases[name] = Case(name, program, dict(options, cache_dir=str(work / 'cache' / name)), rerun=rerun)
    env = {'ANSIBLE_INJECT_INVOCATION': 'true', 'ANSIBLE_LOG_PATH': str(work / 'ansible.log')}
    first, second = run_batch(work, mirrors, list(cases.values()), old_install, env=env, extra_args=['-vvv'])
    return dict(cases=cases, work=work, outside=outside, outputs=[first.output, second.output])


def cached(case):
    """Archives and partial downloads in the controller cache (not the .origin records beside them)."""
    return sorted(os.path.relpath(p, case.options['cache_dir'])
                  for p in glob.glob(os.path.join(case.options['cache_dir'], '*', '*.tar.gz*'))
                  if not p.endswith('.origin'))


def test_controller_failover_retries_and_resume(controller, builds):
    cases = controller['cases']
    for name in ('ctl-failover', 'ctl-503', 'ctl-cut'):
        state = cases[name].failed_state
        assert not state.failed and state.marker == 'new' and state.leftovers == [], (name, state.result)
        assert cached(cases[name]) == ['%s/%s' % (builds.new_sha, INSTALL_NAME + '.tar.gz')]
    assert cases['ctl-failover'].failed_state.requests['secondary'] == [
        ('GET', asset_path('ctl-failover'), 200)]
    # The receipt names the mirror that served the bytes, not the first one listed.
    assert cases['ctl-failover'].failed_state.result['url'].endswith(asset_path('ctl-failover').replace('+', '%2B'))
    assert cases['ctl-failover'].failed_state.receipt['url'] == cases['ctl-failover'].failed_state.result['url']
    assert [s for dummy, dummy2, s in cases['ctl-503'].failed_state.requests['primary']] == [503, 503, 200]
    assert [s for dummy, dummy2, s in cases['ctl-cut'].failed_state.requests['primary']] == [200, 200]


def test_controller_404_fails_cleanly_then_converges(controller, old_tree, builds):
    case = controller['cases']['ctl-404']
    assert_clean_failure(case, old_tree, ['delivery: controller', 'HTTP 404', 'Nothing was cached or installed',
                                          'check that the mirror carries it'])
    assert_converges(case, builds.new_sha)


def test_controller_checksum_mismatch_caches_and_installs_nothing(controller, old_tree, builds):
    case = controller['cases']['ctl-mismatch']
    assert_clean_failure(case, old_tree, ['checksum mismatch', builds.new_sha, builds.old_sha,
                                          'nothing was cached or installed'])
    assert_converges(case, builds.new_sha)
    assert cached(case) == ['%s/%s' % (builds.new_sha, INSTALL_NAME + '.tar.gz')]  # only the rerun's, verified


def test_controller_delivered_hostile_archive_is_refused_on_the_host(controller, old_tree, builds):
    case = controller['cases']['ctl-hostile']
    assert_clean_failure(case, old_tree, ['unusable archive', 'is a symlink to', 'leaves the install directory'])
    assert os.listdir(controller['outside']) == []
    assert_converges(case, builds.new_sha)


def test_controller_credentials_work_and_never_appear(controller, builds):
    cases = controller['cases']
    for name in ('ctl-userinfo', 'ctl-bearer'):
        state = cases[name].failed_state
        assert not state.failed and state.marker == 'new', state.result
        assert '@' not in state.result['url'] and '@' not in state.receipt['url']
    for name in ('ctl-userinfo-404', 'ctl-bearer-500'):
        assert cases[name].failed_state.failed
    places = dict(('playbook output %d' % n, text) for n, text in enumerate(controller['outputs']))
    for path in glob.glob(str(controller['work'] / 'work' / '*.results.jsonl')) + \
            glob.glob(str(controller['work'] / 'roots' / '*' / '*' / 'PBS_RECEIPT.json')) + \
            [str(controller['work'] / 'ansible.log')]:
        with open(path) as handle:
            places[path] = handle.read()
    for secret in (SECRET, BEARER, base64.b64encode(('%s:%s' % (USER, SECRET)).encode()).decode()):
        leaks = [where for where, text in places.items() if secret in text]
        assert leaks == [], 'secret %r found in: %s' % (secret, ', '.join(leaks))
