"""Issue 15, the pull-through proxy (role pbs.python.pbs_mirror, ``pbs_mirror_mode: proxy``), on real
nginx and real SSH hosts.

The upstream behaves like GitHub releases: ``<TAG>/<asset>`` needs a bearer token and answers with a
302 to a second origin, the "CDN", whose URL carries an expiring signature (``?expires=&sig=``);
the CDN refuses expired or forged URLs. Both listen on loopback, where the hosts cannot reach them,
and record every request with its headers. The role renders and starts the proxy's nginx on the
fleet's bridge address. The tests run in file order, each building on the state the last one left:

1. three hosts install two pins through the proxy: one upstream and one CDN request per file, the
   token reaches the upstream only, the cache log shows MISS then HIT, HIT;
2. the proxy restarted (the role starts it again): still HIT, no upstream request;
3. uv installs through the proxy with ``--mirror``;
4. a proxy serving wrong bytes is caught on the host by the digest, and nothing is installed;
5. upstream down: cached assets still install, an uncached one fails naming the proxy URL and 502.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

import fleet
import fleet_kit
import pbs_fixtures
import serve_mirror
from ansible_collections.pbs.python.plugins.module_utils._mirror import uv_downloads
from fault_mirror import FaultMirror, redirect, serve, status
from nginx_kit import free_port, nginx_pid, stop_nginx
from playbook import run_playbook

pytestmark = fleet_kit.needs("patchelf", "nginx")

TAG = f"x{os.getpid() % 100000}"  # netns names are machine-wide: keep concurrent runs apart
HOSTS = [f"{TAG}-p1", f"{TAG}-p2", f"{TAG}-p3"]
TRIPLE = pbs_fixtures.HOST_TRIPLE
ROOT = "/opt/pbs-python"
# A token with the characters nginx's configuration syntax would otherwise read: quote, backslash, "$".
TOKEN = 'Bearer pbs-"proxy"-$ecret\\token'
CDN_KEY = b"cdn signing key"

PINS = [{"version": "3.12.1", "build": "20240107", "variant": "install_only"},
        {"version": "3.13.0", "build": "20241016", "variant": "install_only_stripped"}]
UNCACHED = {"version": "3.11.7", "build": "20240107", "variant": "install_only"}  # same tag as PINS[0]
CORRUPT = {"version": "3.10.13", "build": "20240224", "variant": "install_only"}
PLAYBOOK_ENV = {"ANSIBLE_PIPELINING": "True", "ANSIBLE_FORKS": str(len(HOSTS))}


def asset(pin):
    return pbs_fixtures.asset(pin["version"], pin["build"], TRIPLE, pin["variant"])


def path_of(pin):
    """The decoded request path of a pin's archive, as nginx's $uri and the origins' logs spell it."""
    return f"/{pin['build']}/{asset(pin)}"


def dirname(pin):
    return asset(pin)[:-len(".tar.gz")]


def sign(path, expires):
    return hmac.new(CDN_KEY, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()


def to_cdn(cdn, path):
    """The upstream's answer: a 302 to the CDN with a URL that expires in a minute, as GitHub's do."""
    def step(handler):
        expires = int(time.time()) + 60
        redirect(f"{cdn.url}{quote(path)}?expires={expires}&sig={sign(path, expires)}")(handler)
    return step


def signed_only(path):
    """The CDN's check: an expired or forged URL gets 403, a valid one the file."""
    def hook(handler):
        query = parse_qs(urlsplit(handler.path).query)
        expires = (query.get("expires") or ["0"])[0]
        valid = expires.isdigit() and int(expires) >= time.time() and hmac.compare_digest(
            (query.get("sig") or [""])[0], sign(path, expires))
        if not valid:
            status(403, b"signature expired or invalid\n")(handler)
            return True
        return False
    return hook


class World:
    """The fleet, the two origins, the proxy and helpers to act on them."""

    def __init__(self, base: Path):
        self.base = base
        self.state = base / "fleet"
        self.work = base / "work"
        self.origin_root = base / "origin"
        self.nginx_dir = base / "proxy-nginx"
        self.info: dict = {}
        self.sums: dict = {}
        self.upstream: FaultMirror | None = None
        self.cdn: FaultMirror | None = None
        self.port = 0
        self.url = ""
        self.failures_before = 0
        self.deploy_run = None

    def start_origins(self):
        """GitHub-like upstream (token, 302 to the CDN) and the CDN (signed URLs only), on loopback."""
        self.cdn = FaultMirror(str(self.origin_root), log_path=str(self.base / "cdn.log")).start()
        self.upstream = FaultMirror(str(self.origin_root), log_path=str(self.base / "upstream.log")).start()
        self.upstream.require_auth("/", TOKEN)
        for tag in os.listdir(self.origin_root):
            for name in os.listdir(self.origin_root / tag):
                path = f"/{tag}/{name}"
                self.upstream.program(path, then=to_cdn(self.cdn, path))
                self.cdn.hooks[path] = signed_only(path)

    def deploy(self):
        """Run the role in proxy mode on this machine (the controller), listening on the bridge."""
        extra = {"pbs_mirror_mode": "proxy", "pbs_mirror_upstream": [self.upstream.url],
                 "pbs_mirror_nginx_dir": str(self.nginx_dir), "pbs_mirror_nginx_user": "root",
                 "pbs_mirror_listen": f"{self.info['mirror_address']}:{self.port}",
                 "pbs_mirror_headers": {"Authorization": TOKEN}, "pbs_mirror_timeout": 10,
                 "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}
        self.work.mkdir(exist_ok=True)
        path = self.work / "proxy.json"
        path.write_text(json.dumps(extra))
        run = run_playbook("- import_playbook: pbs.python.mirror\n", str(self.work), inventory="localhost,",
                           extra_args=["-e", f"@{path}"])
        assert run.rc == 0, run.output[-5000:]
        return run

    def play(self, plays, *extra):
        return run_playbook(plays, str(self.work), inventory=str(self.state / "inventory.yml"),
                            extra_args=list(extra), env=PLAYBOOK_ENV)

    def install(self, hosts, pins, force=False):
        """The module on ``hosts``, from the proxy only, without retries (a fault shows at once)."""
        tasks = [{"name": f"Install {p['version']}+{p['build']}", "pbs.python.pbs_python": dict(
            p, mirror=self.url, retries=0, force=force)} for p in pins]
        return self.play([{"hosts": ":".join(hosts), "gather_facts": False, "tasks": tasks}])

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess:
        return fleet.ssh(self.info, host, command)

    def listing(self, host):
        """Everything in the install root, hidden files (the lock, any staging) included."""
        proc = self.ssh(host, f"ls -A {ROOT}")
        assert proc.returncode == 0, proc.stderr
        return sorted(proc.stdout.split())

    def cache_log(self, uri):
        """(cache status, HTTP status) of each request for ``uri`` in the proxy's cache log, in the
        order the requests started (lines are written as they end: a MISS that streams the asset to
        a slow client ends after the HITs that waited for its cache entry)."""
        found = []
        for line in (self.nginx_dir / "cache.log").read_text().splitlines():
            end, cache, code, path, took = re.match(
                r'^(\S+) (\S+) (\d+) "([^"]*)" request_time=(\S+) ', line).groups()
            if path == uri:
                found.append((float(end) - float(took), cache != "MISS", cache, int(code)))
        return [(cache, code) for dummy, dummy2, cache, code in sorted(found)]

    def archive_gets(self, origin):
        return sorted(e["path"] for e in origin.events if e["method"] == "GET" and e["path"].endswith(".tar.gz"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    w = World(tmp_path_factory.mktemp("pull-through"))
    w.failures_before = request.session.testsfailed
    try:
        w.info = fleet.up(w.state, [f"{name}:site" for name in HOSTS])
        w.sums = pbs_fixtures.make_mirror(str(w.origin_root), serve_mirror.mirror_pins(PINS + [UNCACHED, CORRUPT]))
        w.start_origins()
        w.port = free_port(w.info["mirror_address"])
        w.url = f"http://{w.info['mirror_address']}:{w.port}"
        w.deploy_run = w.deploy()
        yield w
    finally:
        try:
            stop_nginx(str(w.nginx_dir))
            for origin in (w.upstream, w.cdn):
                if origin is not None:
                    origin.stop()
        finally:
            fleet.down(w.state)


@pytest.fixture(autouse=True)
def in_order(world, request):
    """Each test builds on the state the previous one left: after a failure, skip the rest."""
    if request.session.testsfailed > world.failures_before:
        pytest.skip("an earlier test of this proxy failed; its state is unknown")


# ------------------------------------------------------------------------------------------------


def test_0_the_role_renders_a_proxy_that_keeps_its_credentials_secret(world):
    conf = world.nginx_dir / "nginx.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600  # it holds the upstream's token
    assert "proxy_cache_path" in conf.read_text()
    assert world.deploy_run.result("pbs.python.pbs_mirror : Publish the mirror's URL")[
        "ansible_facts"]["pbs_mirror_url"] == world.url
    assert "pbs-" + '"proxy"' not in world.deploy_run.output and "ecret" not in world.deploy_run.output
    # The CDN really refuses what it must, so "no 403 at the CDN" below means the proxy followed fresh URLs.
    path = path_of(PINS[0])
    for query in ("", f"?expires={int(time.time()) - 1}&sig={sign(path, int(time.time()) - 1)}",
                  f"?expires={int(time.time()) + 60}&sig=forged"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(world.cdn.url + quote(path) + query, timeout=10)
        assert error.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as error:  # and the upstream wants its token
        urllib.request.urlopen(world.upstream.url + quote(path), timeout=10)
    assert error.value.code == 401
    world.cdn.reset()
    world.upstream.reset()


def test_1_three_hosts_install_two_pins_with_one_upstream_fetch_per_file(world):
    run = world.install(HOSTS, PINS)
    assert run.rc == 0, run.output[-5000:]
    for host in HOSTS:
        assert [n for n in world.listing(host) if n != ".lock"] == sorted(dirname(p) for p in PINS), host
        for pin in PINS:
            result = run.result(f"Install {pin['version']}+{pin['build']}", host)
            assert result["changed"] and result["sha256"] == world.sums[asset(pin)]
            assert result["url"] == f"{world.url}/{pin['build']}/{quote(asset(pin))}"  # hosts only saw the proxy
            python = f"{ROOT}/{dirname(pin)}/bin/python{pin['version'][:4]}"
            assert world.ssh(host, f"{python} -c 'import platform; print(platform.python_version())'"
                             ).stdout.strip() == pin["version"]

    # One upstream request and one CDN request per file, whatever the three hosts asked.
    archives = sorted(path_of(p) for p in PINS)
    sums = sorted(f"/{p['build']}/SHA256SUMS" for p in PINS)
    assert world.archive_gets(world.upstream) == archives
    assert world.archive_gets(world.cdn) == archives
    assert sorted(e["path"] for e in world.cdn.events) == sorted(archives + sums)
    assert sorted(e["path"] for e in world.upstream.events) == sorted(archives + sums)
    # The token went to the upstream, escaped intact through nginx's configuration, and nowhere else.
    assert all(e["headers"].get("authorization") == TOKEN and e["status"] == 302 for e in world.upstream.events)
    assert world.upstream.auth_events and all(matched for dummy, dummy2, matched in world.upstream.auth_events)
    for event in world.cdn.events:
        assert event["status"] == 200, event
        assert "authorization" not in event["headers"], event
        assert not any("ecret" in value for value in event["headers"].values()), event

    for pin in PINS:
        assert world.cache_log(path_of(pin)) == [("MISS", 200), ("HIT", 200), ("HIT", 200)], pin
    access = (world.nginx_dir / "access.log").read_text()
    assert access.count(" cache=MISS upstream=302 : 200") == len(archives + sums)


def test_2_a_restarted_proxy_still_serves_from_its_cache(world):
    before = nginx_pid(str(world.nginx_dir))
    stop_nginx(str(world.nginx_dir))
    assert nginx_pid(str(world.nginx_dir)) is None or not os.path.exists(f"/proc/{before}")
    again = world.deploy()  # the role finds nginx stopped and starts it with the same cache directory
    assert again.result("pbs.python.pbs_mirror : Start nginx")["changed"]
    assert nginx_pid(str(world.nginx_dir)) not in (None, before)
    world.upstream.reset()
    world.cdn.reset()
    run = world.install(HOSTS[:1], PINS, force=True)
    assert run.rc == 0, run.output[-5000:]
    assert world.archive_gets(world.upstream) == [] and world.archive_gets(world.cdn) == []
    for pin in PINS:
        assert world.cache_log(path_of(pin))[-1] == ("HIT", 200), pin


def test_3_uv_installs_through_the_proxy(world, tmp_path):
    pin = PINS[0]
    downloads = tmp_path / "download-metadata.json"  # uv needs the digests of these test builds
    downloads.write_text(json.dumps(uv_downloads({(pin["build"], asset(pin)): world.sums[asset(pin)]})))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UV_NO_CONFIG": "1",
           "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"), "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
           "UV_PYTHON_BIN_DIR": str(tmp_path / "bin")}
    install = subprocess.run(["uv", "python", "install", "3.12", "--mirror", world.url,
                              "--python-downloads-json-url", str(downloads)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=180, check=False)
    assert install.returncode == 0, install.stdout
    python = tmp_path / "pythons" / "cpython-3.12.1-linux-x86_64-gnu" / "bin" / "python3.12"
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.strip() == "3.12.1"
    access = (world.nginx_dir / "access.log").read_text()
    assert re.search(r'"GET /%s/%s HTTP/1.1" 200 \d+ "-" "uv/[^"]*" cache=HIT' % (
        pin["build"], re.escape(quote(asset(pin)))), access), access[-2000:]


def test_4_wrong_bytes_from_the_proxy_fail_the_digest_and_install_nothing(world):
    # The CDN serves another build's bytes (a valid archive, so only the digest can tell) for one asset.
    other = Path(pbs_fixtures.stamped_archive(CORRUPT["version"], 4242)).read_bytes()
    assert hashlib.sha256(other).hexdigest() != world.sums[asset(CORRUPT)]
    world.cdn.program(path_of(CORRUPT), then=serve(other))
    before = world.listing(HOSTS[0])
    run = world.install(HOSTS[:1], [CORRUPT])
    assert run.rc != 0
    (failure,) = [r for r in run.results if r["status"] == "failed"]
    message = failure["result"]["msg"]
    assert "checksum mismatch" in message and world.sums[asset(CORRUPT)] in message, message
    assert hashlib.sha256(other).hexdigest() in message and world.url in message, message
    assert world.listing(HOSTS[0]) == before  # no install, no staging left behind
    assert world.cache_log(path_of(CORRUPT)) == [("MISS", 200)]


def test_5_upstream_down_cached_assets_install_and_an_uncached_one_fails_naming_the_proxy(world):
    world.upstream.stop()
    world.cdn.stop()
    world.upstream = world.cdn = None
    run = world.install(HOSTS[1:2], PINS, force=True)
    assert run.rc == 0, run.output[-5000:]
    for pin in PINS:
        assert world.cache_log(path_of(pin))[-1] == ("HIT", 200), pin

    before = world.listing(HOSTS[2])
    run = world.install(HOSTS[2:3], [UNCACHED])
    assert run.rc != 0
    (failure,) = [r for r in run.results if r["status"] == "failed"]
    message = failure["result"]["msg"]
    assert f"{world.url}/{UNCACHED['build']}/{quote(asset(UNCACHED))}: HTTP 502" in message, message
    assert world.listing(HOSTS[2]) == before
    assert world.cache_log(path_of(UNCACHED)) == [("MISS", 502)]
    # The fault was not cached: the proxy answers it again from the (still absent) upstream, not from disk.
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{world.url}/{UNCACHED['build']}/{quote(asset(UNCACHED))}", timeout=30)
    assert error.value.code == 502
    assert world.cache_log(path_of(UNCACHED))[-1] == ("MISS", 502)


@pytest.mark.parametrize("bad", [
    {},  # the control: sound settings pass the check
    {"pbs_mirror_upstream": ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]},  # nginx proxies one upstream
    {"pbs_mirror_upstream": ["http://user:secret@127.0.0.1:1/a"]},  # user info belongs in the variables
    {"pbs_mirror_upstream": ['http://127.0.0.1:1/a"; include /etc/passwd; #']},  # configuration injection
    {"pbs_mirror_headers": {"X-Token": "a\nproxy_pass http://elsewhere;"}},
    {"pbs_mirror_headers": {"X-Token; include /x": "a"}},
    {"pbs_mirror_proxy_max_size": "10g; include /etc/passwd"},
    {"pbs_mirror_proxy_cache_dir": '/var/cache/pbs"; include /etc/passwd; #'},
    {"pbs_mirror_proxy_env": {"https_proxy": "http://proxy:3128"}},  # nginx cannot use a forward proxy
], ids=["sound", "two-upstreams", "userinfo", "quote-in-url", "newline-in-header", "bad-header-name", "bad-size",
        "quote-in-cache-dir", "forward-proxy"])
def test_6_settings_that_nginx_cannot_honour_or_that_would_inject_configuration_are_refused(world, bad, tmp_path):
    """Checked in check mode: the refusal comes before anything is written or started."""
    nginx_dir = tmp_path / "nginx"
    extra = {"pbs_mirror_mode": "proxy", "pbs_mirror_upstream": ["https://pbs.example/releases/download"],
             "pbs_mirror_headers": {"Authorization": TOKEN},
             "pbs_mirror_nginx_dir": str(nginx_dir), "pbs_mirror_listen": f"127.0.0.1:{free_port()}",
             "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}
    extra.update(bad)
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    run = run_playbook("- import_playbook: pbs.python.mirror\n", str(tmp_path), inventory="localhost,",
                       extra_args=["-e", f"@{tmp_path / 'extra.json'}"], check=True)
    assert not nginx_dir.exists()
    if not bad:
        assert run.rc == 0, run.output[-3000:]
        assert not run.result("pbs.python.pbs_mirror : Check the proxy settings").get("failed")
        return
    assert run.rc != 0
    (failure,) = [r for r in run.results if r["status"] == "failed"]
    assert failure["task"] == "pbs.python.pbs_mirror : Check the proxy settings", failure
    assert "pbs_mirror_mode proxy needs" in failure["result"]["msg"]
