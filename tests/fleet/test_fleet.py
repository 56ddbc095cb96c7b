"""Real-host tests for tests/fleet/fleet.py: two hosts over real SSH, then a clean teardown."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

import fleet
import fleet_kit

pytestmark = fleet_kit.needs()

TAG = f"t{os.getpid() % 100000}"  # netns names are machine-wide: keep concurrent runs apart
PY, NOPY = f"{TAG}-py", f"{TAG}-nopy"


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def mounts_in(path) -> list[str]:
    root = os.path.realpath(path)
    with open("/proc/self/mountinfo") as fh:
        return [line.split()[4] for line in fh if line.split()[4].startswith(root)]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def ssh(info: dict, host: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return fleet.ssh(info, host, command, timeout)


def addr(info: dict, host: str) -> str:
    return next(x["address"] for x in info["hosts"] if x["name"] == host)


@pytest.fixture(scope="module")
def fleet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("fleet")
    try:
        yield fleet.up(state, [f"{PY}:python_hosts,all_hosts", f"{NOPY}:bare,all_hosts"], no_python=[NOPY])
    finally:
        fleet.down(state)


def test_state_files(fleet_info):
    state = Path(fleet_info["state_dir"])
    on_disk = json.loads((state / "fleet.json").read_text())
    assert on_disk["ready"] is True
    assert on_disk["mirror_address"] == "10.231.0.1"
    for h in on_disk["hosts"]:
        assert h["address"].startswith("10.231.0.") and h["pids"] and Path(h["root"]).is_dir()
    yaml = pytest.importorskip("yaml")
    inv = yaml.safe_load((state / "inventory.yml").read_text())
    hv = inv["all"]["hosts"]
    assert hv[PY]["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "ansible_python_interpreter" not in hv[NOPY]
    assert "StrictHostKeyChecking=no" in hv[NOPY]["ansible_ssh_common_args"]
    assert set(inv["all"]["children"]["all_hosts"]["hosts"]) == {PY, NOPY}
    assert set(inv["all"]["children"]["bare"]["hosts"]) == {NOPY}
    ic = yaml.safe_load((state / "instance_config.yml").read_text())
    assert {i["instance"]: i["address"] for i in ic} == {PY: addr(fleet_info, PY), NOPY: addr(fleet_info, NOPY)}
    assert all(i["user"] == "root" and i["port"] == 22 and i["identity_file"] == fleet_info["key"] for i in ic)


def test_each_host_has_its_own_hostname(fleet_info):
    for name in (PY, NOPY):
        r = ssh(fleet_info, name, "uname -n; cat /etc/hostname")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [name, name]


def test_writes_stay_on_their_host(fleet_info):
    r = ssh(fleet_info, PY, "echo only-here > /opt/marker && cat /opt/marker")
    assert r.returncode == 0 and r.stdout.strip() == "only-here", r.stderr
    r = ssh(fleet_info, NOPY, "test -e /opt/marker && echo present || echo absent")
    assert r.stdout.strip() == "absent", r.stderr
    py = next(h for h in fleet_info["hosts"] if h["name"] == PY)
    assert (Path(py["dir"]) / "upper/opt/marker").read_text() == "only-here\n"
    assert not (Path(fleet_info["base"]) / "opt/marker").exists()


def test_python_and_no_python(fleet_info):
    r = ssh(fleet_info, PY, "/usr/bin/python3 -c 'import sys; print(sys.version)'")
    assert r.returncode == 0 and r.stdout.startswith("3."), r.stderr
    r = ssh(fleet_info, NOPY, "command -v python3 python3.11 python; ls -d /usr/bin/python3* /usr/lib/python3*")
    assert r.returncode != 0 and r.stdout == "", r.stdout


def test_both_hosts_reach_the_mirror_address(fleet_info):
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"pbs-fleet-ok {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            seen.append((self.client_address[0], self.path))

    server = http.server.ThreadingHTTPServer((fleet_info["mirror_address"], 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://{fleet_info['mirror_address']}:{server.server_address[1]}"
        r = ssh(fleet_info, PY, "python3 -c \"import urllib.request; "
                f"print(urllib.request.urlopen('{base}/from-py', timeout=10).read().decode())\"")
        assert r.returncode == 0 and "pbs-fleet-ok /from-py" in r.stdout, r.stderr
        port = server.server_address[1]
        r = ssh(fleet_info, NOPY, f"bash -c 'exec 3<>/dev/tcp/{fleet_info['mirror_address']}/{port}; "
                "printf \"GET /from-nopy HTTP/1.0\\r\\nHost: mirror\\r\\n\\r\\n\" >&3; cat <&3'")
        assert r.returncode == 0 and "pbs-fleet-ok /from-nopy" in r.stdout, r.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert (addr(fleet_info, PY), "/from-py") in seen
    assert (addr(fleet_info, NOPY), "/from-nopy") in seen


def test_down_leaves_nothing(tmp_path):
    others_before = {n for n in netns_names() if n.startswith("pbs-")}
    names = [f"{TAG}-d1", f"{TAG}-d2"]
    try:
        info = fleet.up(tmp_path, names, no_python=[names[1]])
        assert all(ssh(info, n, "true").returncode == 0 for n in names)
        procs = [p for h in info["hosts"] for p in h["pids"]]
        veths = [h["veth"] for h in info["hosts"]]
        assert all(alive(p) for p in procs) and mounts_in(tmp_path / "hosts")
    finally:
        fleet.down(tmp_path)
    assert not {f"pbs-{n}" for n in names} & netns_names()
    if not others_before:
        assert not {n for n in netns_names() if n.startswith("pbs-")}
        assert not Path("/sys/class/net/pbsbr0").exists()
    assert not set(veths) & set(os.listdir("/sys/class/net"))
    assert not mounts_in(tmp_path)
    assert not [p for p in procs if alive(p)]
    assert not (tmp_path / "hosts").exists() and not (tmp_path / "fleet.json").exists()
    fleet.down(tmp_path)  # a second down is a no-op


def test_failed_up_tears_down_what_it_built(tmp_path):
    good, taken = f"{TAG}-ok", f"{TAG}-taken"
    subprocess.run(["ip", "netns", "add", f"pbs-{taken}"], check=True)  # makes up fail midway
    try:
        with pytest.raises(fleet.FleetError, match="already exists"):
            fleet.up(tmp_path, [good, taken])
        assert f"pbs-{good}" not in netns_names()
        assert f"pbs-{taken}" in netns_names()  # not ours to delete
        assert not mounts_in(tmp_path)
        assert not (tmp_path / "hosts").exists() and not (tmp_path / "fleet.json").exists()
        fleet.down(tmp_path)
    finally:
        subprocess.run(["ip", "netns", "del", f"pbs-{taken}"], check=True)
