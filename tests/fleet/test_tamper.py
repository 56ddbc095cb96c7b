"""Issue 14, "proof of sameness", on real SSH hosts: tampered trees are named by host and file, and repaired.

Four hosts of one group pin the same build. After a converge every host holds the same tree digest.
Then, by hand on the hosts: one byte of ``lib/python3.12/os.py`` changes on t1, a file is added on t2,
a mode changes on t3 (t4 is left alone). The report (JSON and CSV, the cheap check and ``verify``)
names exactly those hosts and files; a converge without repair leaves them, one with
``pbs_python_repair`` reinstalls exactly those three from the pinned bytes and reports them
changed, and a second run is a no-op. Last, a change that keeps size and mtime (on t4) escapes
the cheap check, is found by ``verify``, and is repaired over controller delivery.

The tests run in file order; each leaves the fleet as the next expects.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import fleet
import fleet_kit
import pbs_fixtures
from fleet_kit import INSTALL_TASK

pytestmark = fleet_kit.needs("patchelf")

TAG = f"m{os.getpid() % 100000}"  # netns names are machine-wide: keep concurrent runs apart
HOSTS = ("t1", "t2", "t3", "t4")
NAME = {short: f"{TAG}-{short}" for short in HOSTS}
SHORT = {name: short for short, name in NAME.items()}
PIN = {"version": "3.12.1", "build": "20240107", "variant": "install_only", "default": True}
LABEL = "3.12.1+20240107"
DIR = f"/opt/pbs-python/cpython-3.12.1+20240107-{pbs_fixtures.HOST_TRIPLE}-install_only"
OS_PY, ADDED, CHMODDED = "lib/python3.12/os.py", "lib/python3.12/sitecustomize.py", "lib/python3.12/json/__init__.py"
# One byte of os.py flipped in place: same size, same inode, a new mtime.
FLIP = ("/usr/bin/python3 -c \"p = '{path}'; b = bytearray(open(p, 'rb').read()); b[200] ^= 1; "
        "open(p, 'r+b').write(b)\"")


class World(fleet_kit.World):
    def __init__(self, base: Path):
        super().__init__(base, SHORT)
        self.before: dict = {}  # host -> fingerprint of the converged tree

    def report(self, *extra):
        """(JSON rows, CSV rows) by short host name: every report of this module must succeed, drift or not."""
        run, rows, table = super().report(*extra)
        assert run.rc == 0, run.output[-5000:]
        return rows, table

    def ssh(self, short: str, command: str) -> str:
        proc = fleet.ssh(self.info, NAME[short], command)
        assert proc.returncode == 0, f"{short}: {command}: {proc.stderr}"
        return proc.stdout

    def fingerprint(self, short: str) -> str:
        """sha256 of every file's path, mode and content under the install, read on the host (not by the module);
        not the receipt and the manifest, which record when the install happened."""
        return self.ssh(short, f"cd {DIR} && find . \\( -path ./PBS_RECEIPT.json -o -path ./PBS_MANIFEST.json \\) -prune -o -type f -printf '%p %m\\n' "
                               "-exec sha256sum {} + | sort | sha256sum").split()[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    w = World(tmp_path_factory.mktemp("fleet-tamper"))
    w.failures_before = request.session.testsfailed
    with w.up([f"{NAME[s]}:py312" for s in HOSTS], [PIN]):
        (w.inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(
            {"pbs_python_mirrors": [w.mirror.url], "pbs_python_link_dir": "/usr/local/bin"}))
        (w.inventory / "group_vars" / "py312.yml").write_text(yaml.safe_dump({"pbs_python_installs__py312": [PIN]}))
        yield w


@pytest.fixture(autouse=True)
def in_order(world, request):
    """Each test builds on the state the previous one left: after a failure, skip the rest."""
    if request.session.testsfailed > world.failures_before:
        pytest.skip("an earlier test of this fleet failed; its state is unknown")


def changed(run) -> set[str]:
    return {SHORT.get(r["host"], r["host"]) for r in run.changed}


def tampered_files(rows) -> dict:
    """{host: {kind: paths}} of the report's JSON, for the hosts it flags."""
    found = {}
    for short, row in rows.items():
        for label, kinds in row["tampered_files"].items():
            assert label == LABEL
            found[short] = {kind: paths for kind, paths in kinds.items() if paths}
    return found


def test_1_a_converged_fleet_holds_one_tree_digest_and_no_drift(world):
    run = world.converge()
    assert changed(run) == set(HOSTS)
    rows, table = world.report("-e", "pbs_python_report_verify=true")
    digests = {short: row["tree_digests"][LABEL] for short, row in rows.items()}
    assert len(set(digests.values())) == 1 and len(digests["t1"]) == 64, digests
    assert not [short for short, row in rows.items() if row["drift"] or row["tampered"]]
    assert {short: row["tree_digests"] for short, row in table.items()} == {
        short: f"{LABEL}={digests[short]}" for short in HOSTS}
    world.before = {short: world.fingerprint(short) for short in HOSTS}
    assert len(set(world.before.values())) == 1


def test_2_one_changed_byte_an_added_file_and_a_chmod_are_named_by_host_and_file(world):
    world.ssh("t1", FLIP.format(path=f"{DIR}/{OS_PY}"))
    world.ssh("t2", f"echo 'import os' > {DIR}/{ADDED}")
    world.ssh("t3", f"chmod 0664 {DIR}/{CHMODDED}")
    expected = {"t1": {"modified": [OS_PY]}, "t2": {"extra": [ADDED]}, "t3": {"mode": [CHMODDED]}}
    for verify in ("false", "true"):
        rows, table = world.report("-e", f"pbs_python_report_verify={verify}")
        assert {short for short, row in rows.items() if row["drift"]} == set(expected), verify
        assert tampered_files(rows) == expected, verify
        assert {short: row["tampered"] for short, row in rows.items()} == {
            "t1": [LABEL], "t2": [LABEL], "t3": [LABEL], "t4": []}
        assert {short: row["tampered_files"] for short, row in table.items()} == {
            "t1": f"{LABEL} modified {OS_PY}", "t2": f"{LABEL} extra {ADDED}", "t3": f"{LABEL} mode {CHMODDED}",
            "t4": ""}, verify
        assert {short: row["drift"] for short, row in table.items()} == {
            "t1": "True", "t2": "True", "t3": "True", "t4": "False"}


def test_3_repair_reinstalls_exactly_the_tampered_hosts_from_the_pinned_bytes(world):
    world.mirror.reset()
    plain = world.converge()
    assert plain.changed == [] and world.mirror.requests == []  # repair not asked: reported, left alone

    repair = world.converge("-e", '{"pbs_python_repair": true}')
    assert changed(repair) == {"t1", "t2", "t3"}
    for short, kind, path in (("t1", "modified", OS_PY), ("t2", "extra", ADDED), ("t3", "mode", CHMODDED)):
        (result,) = repair.result(INSTALL_TASK, NAME[short])["results"]
        assert result["changed"] and result["repaired"][kind] == [path], result
    asset = f"cpython-3.12.1+20240107-{pbs_fixtures.HOST_TRIPLE}-install_only.tar.gz"
    assert sorted(p.rsplit("/", 1)[1] for p in world.mirror.gets(".tar.gz")) == [asset] * 3
    assert {short: world.fingerprint(short) for short in HOSTS} == world.before
    for short in HOSTS:
        assert world.ssh(short, "readlink /usr/local/bin/python3").strip() == f"{DIR}/bin/python3.12"

    rows, dummy = world.report("-e", "pbs_python_report_verify=true")
    assert not [short for short, row in rows.items() if row["drift"]]
    assert len({row["tree_digests"][LABEL] for row in rows.values()}) == 1
    world.mirror.reset()
    again = world.converge("-e", '{"pbs_python_repair": true}')
    assert again.changed == [] and world.mirror.requests == []


def test_4_a_change_that_keeps_size_and_mtime_needs_verify_and_is_repaired_over_controller_delivery(world):
    world.ssh("t4", f"touch -r {DIR}/{OS_PY} /tmp/mtime && " + FLIP.format(path=f"{DIR}/{OS_PY}")
              + f" && touch -r /tmp/mtime {DIR}/{OS_PY}")
    rows, dummy = world.report()
    assert not [short for short, row in rows.items() if row["drift"]]  # the cheap check cannot see it
    rows, dummy = world.report("-e", "pbs_python_report_verify=true")
    assert tampered_files(rows) == {"t4": {"modified": [OS_PY]}}

    world.mirror.reset()
    repair = world.converge("-e", '{"pbs_python_repair": true, "pbs_python_verify": true, '
                                  '"pbs_python_delivery": "controller", "pbs_python_cache_dir": "%s"}'
                            % (world.base / "cache"))
    assert changed(repair) == {"t4"}
    (result,) = repair.result(INSTALL_TASK, NAME["t4"])["results"]
    assert result["delivered"] and result["repaired"]["modified"] == [OS_PY]
    assert len(world.mirror.gets(".tar.gz")) == 1  # the controller's one download
    assert world.fingerprint("t4") == world.before["t4"]
