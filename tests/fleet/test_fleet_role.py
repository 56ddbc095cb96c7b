"""Issue 3, "Pinned Python per host group", on real SSH hosts: the scenarios that need surgery.

One fleet for the module: a1, a2 in group py312; b1, b2 in group py313; u1 in py312 and py310 (the
union). A PBS-layout mirror on the fleet's bridge address serves every build any pin names, and the
inventory is the fleet's own plus group_vars this file writes (mirror once in ``all``, pins per
group). The tests run in file order and each leaves the fleet converged for the next:

1. converge installs exactly each host's pins; a second converge changes nothing and asks the mirror
   for nothing;
2. drift made by hand (a missing install, an unpinned build, a corrupted interpreter) is reported
   per host with its kind, predicted by ``--check --diff`` on exactly those hosts, and repaired;
3. a changed group pin moves only that group to the new build, keeps the old one until prune;
4. the role's interpreter facts work as ``ansible_python_interpreter`` in a later play;
5. a host in two groups gets the union, and two groups claiming the default for one host fail
   with an error naming both.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

import fleet
import fleet_kit
import pbs_fixtures
from fleet_kit import INSTALL_TASK, ROLE_PLAY
from playbook import published_play

pytestmark = fleet_kit.needs("patchelf")

TAG = f"r{os.getpid() % 100000}"  # netns names are machine-wide: keep concurrent runs apart
HOSTS = {"a1": ["py312"], "a2": ["py312"], "b1": ["py313"], "b2": ["py313"], "u1": ["py312", "py310"]}
NAME = {short: f"{TAG}-{short}" for short in HOSTS}
SHORT = {name: short for short, name in NAME.items()}
TRIPLE = pbs_fixtures.HOST_TRIPLE
ROOT, LINKS = "/opt/pbs-python", "/usr/local/bin"

PY312 = [{"version": "3.12.1", "build": "20240107", "variant": "install_only", "default": True},
         {"version": "3.11.7", "build": "20240107", "variant": "install_only"}]
PY313 = [{"version": "3.13.0", "build": "20241016", "default": True},
         {"version": "3.12.1", "build": "20240108", "variant": "install_only"}]  # synthetic 2nd build
PY313_NEW = [dict(PY313[0], build="20241017"), PY313[1]]  # a newer (synthetic) build of 3.13.0
PY310 = [{"version": "3.10.13", "build": "20240224", "variant": "install_only"}]
GROUP_PINS = {"py312": PY312, "py313": PY313, "py310": PY310}


def variant(pin):
    return pin.get("variant", "install_only_stripped")


def label(pin):
    return f"{pin['version']}+{pin['build']}"


def dirname(pin):
    return f"cpython-{pin['version']}+{pin['build']}-{TRIPLE}-{variant(pin)}"


def asset(pin):
    return dirname(pin) + ".tar.gz"


def minor(pin):
    return ".".join(pin["version"].split(".")[:2])


class World(fleet_kit.World):
    """The fleet, the mirror, the inventory, and helpers to act on them."""

    def __init__(self, base: Path):
        super().__init__(base, SHORT)
        self.group_pins = dict(GROUP_PINS)

    # -- inventory ---------------------------------------------------------------------------
    def write_group_vars(self, **extra_all) -> None:
        gv = self.inventory / "group_vars"
        gv.mkdir(parents=True, exist_ok=True)
        all_vars = {"pbs_python_mirrors": [self.mirror.url], "pbs_python_link_dir": LINKS}
        all_vars.update(extra_all)
        (gv / "all.yml").write_text(yaml.safe_dump(all_vars))
        for group, pins in self.group_pins.items():
            (gv / f"{group}.yml").write_text(yaml.safe_dump({f"pbs_python_installs__{group}": pins}))

    def pins(self, short: str) -> list[dict]:
        return [pin for group in HOSTS[short] for pin in self.group_pins[group]]

    def default_pin(self, short: str) -> dict:
        (pin,) = [p for p in self.pins(short) if p.get("default")]
        return pin

    # -- running things ------------------------------------------------------------------------
    def ssh(self, short: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = fleet.ssh(self.info, NAME[short], command)
        if check:
            assert proc.returncode == 0, f"{short}: {command}: {proc.stderr}"
        return proc

    def installed(self, short: str) -> list[str]:
        return sorted(self.ssh(short, f"ls -1 {ROOT}").stdout.split())

    def receipts(self, short: str) -> dict[str, dict]:
        """Install dir name -> receipt, read on the host with its own Debian python."""
        code = ("import glob, json, os; print(json.dumps({p.split(os.sep)[-2]: json.load(open(p)) "
                f"for p in glob.glob('{ROOT}/*/PBS_RECEIPT.json')}}))")
        return json.loads(self.ssh(short, f'/usr/bin/python3 -c "{code}"').stdout)

    def link(self, short: str, name: str) -> str:
        return self.ssh(short, f"readlink {LINKS}/{name}", check=False).stdout.strip()

    def runs(self, short: str, python: str) -> str:
        # -B: a look must not change the tree (bytecode written as root is an extra file to its manifest check).
        return self.ssh(short, f"{python} -B -c 'import platform; print(platform.python_version())'").stdout.strip()

    def asset_gets(self) -> list[str]:
        return sorted(p.rsplit("/", 1)[1] for p in self.mirror.gets(".tar.gz"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    w = World(tmp_path_factory.mktemp("fleet-role"))
    w.failures_before = request.session.testsfailed
    with w.up([f"{NAME[s]}:{','.join(g)}" for s, g in HOSTS.items()], PY312 + PY313 + PY313_NEW + PY310):
        w.write_group_vars()
        yield w
    assert not {f"pbs-{n}" for n in NAME.values()} & set(os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])


@pytest.fixture(autouse=True)
def in_order(world, request):
    """Each test builds on the state the previous one left: after a failure, skip the rest."""
    if request.session.testsfailed > world.failures_before:
        pytest.skip("an earlier test of this fleet failed; its state is unknown")


def changed_hosts(run, task=None) -> set[str]:
    return {SHORT.get(r["host"], r["host"]) for r in run.changed if task is None or r["task"] == task}


def pruned_hosts(run) -> set[str]:
    """Hosts where the role's one module call removed (or, in check mode, would remove) a build."""
    return {SHORT.get(r["host"], r["host"]) for r in run.changed
            if r["task"] == INSTALL_TASK and r["result"].get("removed")}


# ------------------------------------------------------------------------------------------------


def test_1_converge_installs_each_groups_pins_and_rerun_is_a_free_noop(world):
    world.mirror.reset()
    run = world.play(ROLE_PLAY + [published_play()])
    assert run.rc == 0, run.output[-5000:]
    assert changed_hosts(run) == set(HOSTS)
    for short in HOSTS:
        pins = world.pins(short)
        assert world.installed(short) == sorted(dirname(p) for p in pins), short
        receipts = world.receipts(short)
        for pin in pins:
            receipt = receipts[dirname(pin)]
            assert (receipt["version"], receipt["build"]) == (pin["version"], pin["build"])
            assert receipt["sha256"] == world.sums[asset(pin)]
        published = run.result("published", NAME[short])["msg"]
        interpreters = published["interpreters"]
        assert interpreters == {minor(p): f"{ROOT}/{dirname(p)}/bin/python{minor(p)}" for p in pins}
        default = world.default_pin(short)
        assert published["default_interpreter"] == interpreters[minor(default)]
        assert world.link(short, "python3") == interpreters[minor(default)]
    # Each host fetched each of its assets once; the two 3.12.1 builds are different bytes.
    assert world.asset_gets() == sorted(asset(p) for s in HOSTS for p in world.pins(s))
    assert world.sums[asset(PY312[0])] != world.sums[asset(PY313[1])]

    world.mirror.reset()
    again = world.converge()
    assert again.changed == [], [(r["host"], r["task"]) for r in again.changed]
    assert world.mirror.requests == []


def test_2_drift_is_reported_by_kind_predicted_by_check_and_repaired(world):
    a1_gone, b1_extra, b2_broken = PY312[1], PY312[1], PY313[0]
    # a1: an install disappears.  b1: someone installs a build no pin of b1 names (ad hoc).
    # b2: the pinned interpreter's binary is truncated.
    world.ssh("a1", f"rm -rf {ROOT}/{dirname(a1_gone)}")
    adhoc = world.play([{"hosts": NAME["b1"], "gather_facts": False, "tasks": [{
        "name": "Ad hoc install", "pbs.python.pbs_python": {
            "version": b1_extra["version"], "build": b1_extra["build"], "variant": variant(b1_extra),
            "mirror": world.mirror.url}}]}])
    assert adhoc.rc == 0 and adhoc.result("Ad hoc install")["changed"], adhoc.output[-3000:]
    world.ssh("b2", f"truncate -s 4096 {ROOT}/{dirname(b2_broken)}/bin/python{minor(b2_broken)}")

    # The report (JSON written before it fails on drift) names exactly these hosts, by kind.
    run, rows, table = world.report("-e", "pbs_python_report_fail_on_drift=true")
    drift = {short: {kind: row[kind] for kind in ("missing", "unpinned", "broken") if row[kind]}
             for short, row in rows.items() if row["drift"]}
    assert drift == {"a1": {"missing": [label(a1_gone)]},
                     "b1": {"unpinned": [label(b1_extra)]},
                     "b2": {"broken": [label(b2_broken)]}}
    assert {s: (row["missing"], row["unpinned"], row["broken"]) for s, row in table.items()
            if row["drift"] == "True"} == {"a1": (label(a1_gone), "", ""), "b1": ("", label(b1_extra), ""),
                                           "b2": ("", "", label(b2_broken))}
    assert run.rc != 0
    failed = run.result("Fail when hosts drifted from their pins", "localhost")
    assert failed["msg"] == f"Hosts that drifted from their pins: {NAME['a1']}, {NAME['b1']}, {NAME['b2']}", \
        run.output[-3000:]

    # --check --diff predicts the repair on exactly the broken and missing hosts, touching nothing.
    world.mirror.reset()
    check = world.converge(check=True, diff=True)
    assert changed_hosts(check) == {"a1", "b2"}
    for short, pin in (("a1", a1_gone), ("b2", b2_broken)):
        items = check.result(INSTALL_TASK, NAME[short])["results"]
        (item,) = [i for i in items if i["changed"]]
        assert (item["version"], item["build"]) == (pin["version"], pin["build"])
        assert item["diff"]["after"]["path"] == f"{ROOT}/{dirname(pin)}"
    assert "--- before" in check.output and "+++ after" in check.output
    assert world.mirror.requests == []
    assert dirname(a1_gone) not in world.installed("a1")
    assert world.ssh("b2", f"{ROOT}/{dirname(b2_broken)}/bin/python{minor(b2_broken)} -V", check=False).returncode != 0
    # With prune, the unpinned build on b1 would go too.
    pruning = world.converge("-e", '{"pbs_python_prune": true}', check=True, diff=True)
    assert changed_hosts(pruning) == {"a1", "b1", "b2"}
    assert pruned_hosts(pruning) == {"b1"}
    assert dirname(b1_extra) in world.installed("b1")

    # A real converge repairs a1 and b2 and leaves the unpinned build alone.
    world.mirror.reset()
    repair = world.converge()
    assert changed_hosts(repair) == {"a1", "b2"}
    assert world.asset_gets() == sorted([asset(a1_gone), asset(b2_broken)])
    assert world.runs("b2", f"{ROOT}/{dirname(b2_broken)}/bin/python{minor(b2_broken)}") == b2_broken["version"]
    assert world.runs("a1", f"{LINKS}/python{minor(a1_gone)}") == a1_gone["version"]
    run, rows, dummy = world.report()
    assert run.rc == 0
    assert {s for s, row in rows.items() if row["drift"]} == {"b1"}
    assert rows["b1"]["unpinned"] == [label(b1_extra)] and not rows["b1"]["missing"] + rows["b1"]["broken"]


def test_3_a_changed_group_pin_moves_only_that_group_and_prune_drops_the_old_build(world):
    old, new = PY313[0], PY313_NEW[0]
    before = {short: world.receipts(short) for short in HOSTS}
    world.group_pins["py313"] = PY313_NEW
    world.write_group_vars()

    world.mirror.reset()
    run = world.converge()
    assert changed_hosts(run) == {"b1", "b2"}
    assert world.asset_gets() == [asset(new), asset(new)]
    for short in ("a1", "a2", "u1"):
        assert world.receipts(short) == before[short], short  # untouched, installed_at included
    for short in ("b1", "b2"):
        receipts = world.receipts(short)
        assert receipts[dirname(new)]["sha256"] == world.sums[asset(new)] != world.sums[asset(old)]
        assert receipts[dirname(old)] == before[short][dirname(old)]  # no prune: the old build stays
        target = f"{ROOT}/{dirname(new)}/bin/python{minor(new)}"
        assert world.link(short, f"python{minor(new)}") == target
        assert world.link(short, "python3") == target
        assert world.runs(short, f"{LINKS}/python3") == new["version"]
    run, rows, dummy = world.report()
    assert {s: row["unpinned"] for s, row in rows.items() if row["drift"]} == {
        "b1": sorted([label(PY312[1]), label(old)]), "b2": [label(old)]}

    world.mirror.reset()
    pruned = world.converge("-e", '{"pbs_python_prune": true}')
    assert changed_hosts(pruned) == pruned_hosts(pruned) == {"b1", "b2"}
    assert world.mirror.requests == []
    for short in HOSTS:
        assert world.installed(short) == sorted(dirname(p) for p in world.pins(short)), short
    for short in ("b1", "b2"):
        assert world.link(short, "python3") == f"{ROOT}/{dirname(new)}/bin/python{minor(new)}"
    run, rows, dummy = world.report("-e", "pbs_python_report_fail_on_drift=true")
    assert run.rc == 0 and not [s for s, row in rows.items() if row["drift"]], run.output[-3000:]


def test_4_interpreter_facts_drive_ansible_python_interpreter_in_a_later_play(world):
    plays = ROLE_PLAY + [{
        "name": "Use the pinned interpreters",
        "hosts": "all",
        "gather_facts": True,
        "gather_subset": ["min"],  # the python facts are part of it
        "vars": {"ansible_python_interpreter": "{{ pbs_python_default_interpreter }}"},
        "tasks": [
            {"name": "Ping on the default pin", "ansible.builtin.ping": {}},
            {"name": "Report the default pin",
             "ansible.builtin.debug": {"msg": "{{ ansible_facts.python_version }} {{ ansible_facts.python.executable }}"}},
            {"name": "Gather facts with every pinned minor",
             "ansible.builtin.setup": {"gather_subset": ["!all", "!min", "python"]},
             "vars": {"ansible_python_interpreter": "{{ item.value }}"},
             "loop": "{{ pbs_python_interpreters | dict2items }}",
             "loop_control": {"label": "{{ item.key }}"}},
        ],
    }]
    run = world.play(plays)
    assert run.rc == 0, run.output[-5000:]
    for short in HOSTS:
        default = world.default_pin(short)
        python = f"{ROOT}/{dirname(default)}/bin/python{minor(default)}"
        assert run.result("Ping on the default pin", NAME[short])["ping"] == "pong"
        assert run.result("Report the default pin", NAME[short])["msg"] == f"{default['version']} {python}"
        items = run.result("Gather facts with every pinned minor", NAME[short])["results"]
        seen = {i["item"]["key"]: (i["ansible_facts"]["ansible_python"]["executable"],
                                   "{major}.{minor}.{micro}".format(**i["ansible_facts"]["ansible_python"]["version"]))
                for i in items}
        assert seen == {minor(p): (f"{ROOT}/{dirname(p)}/bin/python{minor(p)}", p["version"])
                        for p in world.pins(short)}, short


def test_4b_externally_managed_marks_every_install_without_downloading(world):
    def marked(short):
        found = world.ssh(short, f"ls {ROOT}/*/lib/python3.*/EXTERNALLY-MANAGED", check=False).stdout.split()
        return sorted(path.split("/")[-4] for path in found)

    world.mirror.reset()
    on = world.converge("-e", '{"pbs_python_externally_managed": true}')
    assert changed_hosts(on) == set(HOSTS)
    for short in HOSTS:
        assert marked(short) == sorted(dirname(p) for p in world.pins(short)), short
    again = world.converge("-e", '{"pbs_python_externally_managed": true}')
    assert again.changed == [], [(r["host"], r["task"]) for r in again.changed]
    off = world.converge()
    assert changed_hosts(off) == set(HOSTS) and all(marked(short) == [] for short in HOSTS)
    assert world.mirror.requests == []


def test_5_a_host_in_two_groups_gets_the_union_and_two_defaults_fail_naming_both(world):
    union = world.pins("u1")
    assert {minor(p) for p in union} == {"3.10", "3.11", "3.12"}
    assert world.installed("u1") == sorted(dirname(p) for p in union)
    for pin in union:
        assert world.link("u1", f"python{minor(pin)}") == f"{ROOT}/{dirname(pin)}/bin/python{minor(pin)}"
        assert world.runs("u1", f"{LINKS}/python{minor(pin)}") == pin["version"]
    assert world.runs("u1", f"{LINKS}/python3") == PY312[0]["version"]

    # a2 also joins py313 (an extra inventory source): py312 and py313 both pin a default.
    extra = world.base / "a2-in-py313.yml"
    extra.write_text(yaml.safe_dump({"all": {"children": {"py313": {"hosts": {NAME["a2"]: None}}}}}))
    before = world.receipts("a2")
    run = world.play(ROLE_PLAY, "-i", str(extra), "--limit", NAME["a2"])
    assert run.rc != 0
    (failure,) = [r for r in run.results if r["status"] == "failed"]
    assert failure["host"] == NAME["a2"] and failure["action"] == "pbs.python.pbs_python"
    message = failure["result"]["msg"]
    assert "claim the default python3 link" in message, message
    for group, pin in (("py312", PY312[0]), ("py313", world.group_pins["py313"][0])):
        assert f"pbs_python_installs__{group}" in message and label(pin) in message, message
    assert world.receipts("a2") == before
