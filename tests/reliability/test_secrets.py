"""Credentials never leak: not in results, errors, receipts, ``-vvv`` output, Ansible's log file,
the module's syslog lines or the mirror's log file.

Each credential form (``url_password``, an ``Authorization`` header, user info in a mirror URL or
in ``url``) is used in a run that succeeds (the mirror checks it: a wrong one gets 401) and in
runs that fail in several ways, because error paths are where secrets slip out. The playbook runs
with ``-vvv`` and with ``invocation`` injected into results, as ansible-core before 2.19 always
did, and everything written is grepped for each secret and for its base64 form.
"""

import base64
import glob
import os
import socket
import threading

import pytest

from fault_mirror import basic, closed_port, status
from reliability_kit import ASSET, TAG, asset_path, entry, leftovers, parallel_play, task_args

USER = 'pbs-reader'
SECRETS = {
    'password': 'Pw-9f2c51e0-url-password',
    'bearer': 'Tk-4d7a0b33-bearer-header',
    'userinfo': 'Ui-6e1f9c27-mirror-userinfo',
    'urlparam': 'Up-0b8d44e2-url-userinfo',
}


class SyslogCapture(object):
    """Receive what modules send to syslog, on /dev/log, when this host has no syslog daemon."""

    PATH = '/dev/log'

    def __init__(self):
        self.lines = []
        self.sock = None

    def __enter__(self):
        if os.path.lexists(self.PATH) or os.geteuid() != 0:
            return self  # a real syslog (or no right to stand in for one): not captured here
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.PATH)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.lines.append(self.sock.recv(65536).decode('utf-8', 'replace'))
            except socket.timeout:
                continue
            except OSError:
                return

    def __exit__(self, *exc):
        if self.sock is not None:
            self._stop.set()
            self._thread.join(2)
            self.sock.close()
            os.unlink(self.PATH)


def userinfo_url(server, prefix, secret):
    host, port = server.server_address[:2]
    return 'http://%s:%s@%s:%d/%s' % (USER, secret, host, port, prefix)


@pytest.fixture(scope='module')
def leak_check(tmp_path_factory, mirrors, builds):
    work = tmp_path_factory.mktemp('secrets')
    primary = mirrors.primary
    pin = dict(sha256=builds.new_sha, retries=1)
    bearer = {'Authorization': 'Bearer ' + SECRETS['bearer']}
    hosts = {}

    def case(name, auth=None, fault=None, **options):
        primary.alias(name, 'good')
        if auth:
            primary.require_auth('/%s/' % name, auth)
        if fault:
            primary.program(asset_path(name), then=fault)
        hosts[name] = {'pbs': task_args(str(work / 'roots' / name), options.pop('mirror', '%s/%s' % (primary.url, name)),
                                        **dict(pin, **options))}

    password = dict(url_username=USER, url_password=SECRETS['password'], force_basic_auth=True)
    case('pw-ok', auth=basic(USER, SECRETS['password']), **password)
    case('pw-wrong', auth=basic(USER, 'another-password'), **password)
    case('pw-500', auth=basic(USER, SECRETS['password']), fault=status(500), **password)
    case('pw-sums-404', auth=basic(USER, SECRETS['password']), **dict(password, sha256=None, build='20240108'))

    case('bearer-ok', auth=bearer['Authorization'], headers=bearer)
    case('bearer-wrong', auth='Bearer another-token', headers=bearer)
    case('bearer-500', auth=bearer['Authorization'], fault=status(500), headers=bearer)

    userinfo = SECRETS['userinfo']
    case('ui-ok', auth=basic(USER, userinfo), mirror=userinfo_url(primary, 'ui-ok', userinfo))
    case('ui-404', auth=basic(USER, userinfo), fault=status(404), mirror=userinfo_url(primary, 'ui-404', userinfo))
    case('ui-sums', auth=basic(USER, userinfo), mirror=userinfo_url(primary, 'ui-sums', userinfo), sha256=None,
         build='20240108')
    case('ui-refused', mirror='http://%s:%s@127.0.0.1:%d/ui-refused' % (USER, userinfo, closed_port()))
    case('ui-dns', mirror='http://%s:%s@pbs-mirror.invalid/ui-dns' % (USER, userinfo))
    case('ui-and-username', auth=basic(USER, userinfo), mirror=userinfo_url(primary, 'ui-and-username', userinfo),
         url_username=USER)
    case('ui-two-mirrors', mirror=['http://%s:%s@127.0.0.1:%d/x' % (USER, userinfo, closed_port()),
                                   userinfo_url(mirrors.secondary, 'ui-two-mirrors', userinfo)], retries=0)
    mirrors.secondary.alias('ui-two-mirrors', 'good')
    mirrors.secondary.require_auth('/ui-two-mirrors/', basic(USER, userinfo))

    urlparam = SECRETS['urlparam']
    asset_url = '/%s/%s' % (TAG, ASSET.replace('+', '%2B'))
    case('url-ok', auth=basic(USER, urlparam), url=userinfo_url(primary, 'url-ok', urlparam) + asset_url)
    case('url-404', auth=basic(USER, urlparam), fault=status(404),
         url=userinfo_url(primary, 'url-404', urlparam) + asset_url)
    case('url-no-sha', auth=basic(USER, urlparam), url=userinfo_url(primary, 'url-no-sha', urlparam) + asset_url,
         sha256=None)

    log_path = str(work / 'ansible.log')
    env = {'ANSIBLE_LOG_PATH': log_path, 'ANSIBLE_INJECT_INVOCATION': 'true', 'ANSIBLE_KEEP_REMOTE_FILES': '0'}
    primary.reset()
    mirrors.secondary.reset()
    try:
        with SyslogCapture() as syslog:
            run = parallel_play(work / 'work', hosts, ['pbs'], env=env, extra_args=['-vvv'])
    finally:
        mirrors.clear()
    return dict(run=run, work=work, log_path=log_path, syslog=syslog, mirrors=mirrors, auth=list(primary.auth_events))


def forms(secret):
    """The secret as it could appear: plain, in a Basic header (base64 of user:secret), URL-quoted."""
    return [secret, base64.b64encode(('%s:%s' % (USER, secret)).encode()).decode()]


def test_the_credentials_work_and_wrong_ones_fail_with_a_clear_message(leak_check, builds):
    run = leak_check['run']
    for name in ('pw-ok', 'bearer-ok', 'ui-ok', 'url-ok', 'ui-two-mirrors', 'ui-and-username', 'url-no-sha'):
        result = entry(run, 'pbs', name)
        assert result['status'] == 'ok' and result['result']['changed'], result
        assert result['result']['sha256'] == builds.new_sha
    for name in ('pw-wrong', 'bearer-wrong'):
        result = entry(run, 'pbs', name)
        assert result['status'] == 'failed'
        assert 'HTTP 401 (authentication required: set url_username/url_password or headers)' in \
            result['result']['msg']
    for name in ('pw-500', 'bearer-500', 'ui-404', 'url-404', 'ui-refused', 'ui-dns', 'pw-sums-404'):
        assert entry(run, 'pbs', name)['status'] == 'failed', name
    for name in set(r['host'] for r in run.results):
        assert leftovers(str(leak_check['work'] / 'roots' / name)) == [], name
    assert any(matched for dummy, sent, matched in leak_check['auth'])


def test_urls_in_results_and_receipts_carry_no_user_info(leak_check):
    run = leak_check['run']
    for name in ('ui-ok', 'url-ok', 'ui-two-mirrors', 'ui-and-username'):
        result = entry(run, 'pbs', name)['result']
        assert result['url'].startswith('http://127.0.0.1:') and '@' not in result['url'], result['url']


@pytest.mark.parametrize('kind', sorted(SECRETS))
def test_secret_never_appears_anywhere(leak_check, kind):
    run, work = leak_check['run'], leak_check['work']
    places = {'ansible-playbook -vvv output': run.output}
    for path in glob.glob(str(work / 'work' / '*.results.jsonl')):
        with open(path) as handle:
            places['results (%s)' % os.path.basename(path)] = handle.read()
    for path in glob.glob(str(work / 'roots' / '*' / '*' / 'PBS_RECEIPT.json')):
        with open(path) as handle:
            places['receipt %s' % path] = handle.read()
    with open(leak_check['log_path']) as handle:
        places['ANSIBLE_LOG_PATH'] = handle.read()
    for name in ('primary.log', 'secondary.log'):
        path = str(leak_check['mirrors'].logs / name)
        if os.path.exists(path):
            with open(path) as handle:
                places['mirror %s' % name] = handle.read()
    if leak_check['syslog'].sock is not None:
        places['syslog'] = '\n'.join(leak_check['syslog'].lines)
        assert 'Invoked with' in places['syslog']  # the capture did see the modules log
    assert any('pbs' in text for text in places.values())
    for form in forms(SECRETS[kind]):
        leaks = [where for where, text in places.items() if form in text]
        assert leaks == [], 'secret %r (%s) found in: %s' % (form, kind, ', '.join(leaks))


def test_a_password_in_a_mirror_url_is_masked_even_when_the_arguments_are_refused(tmp_path):
    from playbook import localhost_play, run_playbook
    secret = 'S3CRET' + 'PW42'
    task = {'name': 'bad', 'pbs.python.pbs_python': {
        'version': '3.12', 'build': '20240107', 'mirror': ['http://user:%s@127.0.0.1:9/pbs' % secret],
        'x86_64_level': 'v9'}, 'ignore_errors': True}
    run = run_playbook(localhost_play([task]), str(tmp_path / 'work'), env={'ANSIBLE_INJECT_INVOCATION': 'true'})
    result = run.result('bad')
    assert 'x86_64_level' in result['msg']
    assert secret not in repr(result)
