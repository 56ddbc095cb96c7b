"""What the fleet test modules share, kept out of fleet.py, which stays a stdlib-only command.

``needs`` is every module's ``pytestmark``: where a fleet cannot be built, they all skip, for the
reason that holds. ``World`` serves the modules that keep one fleet, mirror and inventory for all
their tests and run the role and the report on it, so that bringing it up and down, running a play
and reading the report behave, and trace in the log, the same in each.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest

import fleet
import pbs_fixtures
import serve_mirror
from mirror_server import MirrorServer
from playbook import run_playbook

ROLE_PLAY = [{"name": "Converge", "hosts": "all", "gather_facts": False, "roles": ["pbs.python.pbs_python"]}]
INSTALL_TASK = "pbs.python.pbs_python : Install the pinned builds"


def needs(*commands: str) -> list:
    """The ``pytestmark`` of a fleet test module that also runs ``commands`` on this machine.

    Every test reaches its hosts over SSH (Ansible, fleet.ssh), hence ``ssh`` beside what fleet.up runs.
    """
    missing = [c for c in fleet.UP_COMMANDS + ("ssh",) + commands if shutil.which(c) is None]
    return [
        pytest.mark.fleet,
        pytest.mark.skipif(os.geteuid() != 0, reason="the fleet needs root"),
        pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} on PATH"),
    ]


class World:
    """One fleet, its mirror and its inventory under ``base``, for all the tests of a module; the module's
    World adds what its scenario acts on. ``short`` maps each fleet host name to the name the tests use."""

    def __init__(self, base: Path, short: dict[str, str]):
        self.base, self.state, self.inventory, self.work = base, base / "fleet", base / "inventory", base / "work"
        self.short = short
        self.info: dict = {}
        self.mirror: MirrorServer | None = None
        self.sums: dict = {}  # asset name -> sha256 on the mirror
        self.failures_before = 0
        # Fewer SSH round trips per task, every host at once; the molecule scenario covers the default (no pipelining).
        self.env = {"ANSIBLE_PIPELINING": "True", "ANSIBLE_FORKS": str(len(short))}

    @contextlib.contextmanager
    def up(self, hosts, pins):
        """The fleet of ``hosts`` (fleet.up specs), a mirror of ``pins`` on its bridge and an inventory of its
        hosts with an empty group_vars; all of it gone after, whatever failed."""
        try:
            self.info = fleet.up(self.state, hosts)
            mirror_root = self.base / "mirror"
            self.sums = pbs_fixtures.make_mirror(str(mirror_root), serve_mirror.mirror_pins(pins))
            self.mirror = MirrorServer(str(mirror_root), host=self.info["mirror_address"],
                                       log_path=str(self.base / "access.log"))
            self.mirror.start()
            (self.inventory / "group_vars").mkdir(parents=True)
            shutil.copy(self.state / "inventory.yml", self.inventory / "hosts.yml")
            yield
        finally:
            try:
                if self.mirror is not None:
                    self.mirror.stop()
            finally:
                fleet.down(self.state)
        assert not (self.state / "fleet.json").exists()

    def play(self, plays, *extra, check=False, diff=False):
        """Run ``plays`` on the fleet; the line it prints is what a slow or failed module's log shows of each run."""
        t0 = time.monotonic()
        run = run_playbook(plays, str(self.work), inventory=str(self.inventory), extra_args=list(extra),
                           check=check, diff=diff, env=self.env)
        what = plays[-1].get("name") or plays[-1].get("import_playbook") or "play"
        shown = " ".join(extra).split("-e pbs_python_report_json=", maxsplit=1)[0].strip()
        changed = sorted({self.short.get(r["host"], r["host"]) for r in run.changed})
        print(f"ansible-playbook {what} {shown}{' --check' if check else ''}: "
              f"{time.monotonic() - t0:.1f}s, rc {run.rc}, changed on {changed}")
        return run

    def converge(self, *extra, check=False, diff=False):
        run = self.play(ROLE_PLAY, *extra, check=check, diff=diff)
        assert run.rc == 0, run.output[-5000:]
        return run

    def report(self, *extra):
        """Run pbs.python.report; (run, JSON rows, CSV rows), rows by short host name.

        The run's rc is the caller's to judge: with ``pbs_python_report_fail_on_drift`` a failed run is
        the expected outcome, and its JSON (None if the report wrote none) is written before it fails.
        """
        out = self.work / f"report-{time.monotonic_ns()}"
        run = self.play([{"import_playbook": "pbs.python.report"}], *extra,
                        "-e", f"pbs_python_report_json={out}.json", "-e", f"pbs_python_report_csv={out}.csv")
        rows = json.loads(Path(f"{out}.json").read_text()) if Path(f"{out}.json").exists() else None
        with open(f"{out}.csv", newline="") as handle:
            table = {self.short[row["host"]]: row for row in csv.DictReader(handle)}
        return run, None if rows is None else {self.short[row["host"]]: row for row in rows}, table
