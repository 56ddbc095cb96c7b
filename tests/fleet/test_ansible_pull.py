"""Issue 12, beyond one controller: hosts that provision themselves with ``ansible-pull``.

A fleet that outgrows push mode turns it around: each host runs ``ansible-pull`` from cron, which
clones the site repository (playbook, inventory, ansible.cfg and the collection vendored under
``collections/``) and runs ``local.yml`` against itself over the local connection. Here two real
hosts (network namespaces, their own root filesystems and sshd) get what such a host has: Debian's
``/usr/bin/python3``, ansible-core installed with pip for that Python, git, and a local clone URL of
the site repository. They converge from the mirror on the fleet bridge, then run again as the daily
timer would: nothing changes and the mirror hears nothing.

What the hosts get comes from this machine, never from a network they could not reach: ansible-core
wheels for the hosts' Python 3.11 downloaded once with pip (cached with the fleet's base root), and
git's binaries copied from this Debian 12 machine's own git package (the hosts run Debian 12 too).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import fleet
import fleet_kit

pytestmark = fleet_kit.needs("git", "patchelf")

TAG = f"p{os.getpid() % 100000}"
HOSTS = [f"{TAG}-h{i}" for i in range(2)]
# The newest ansible-core line that still runs on the hosts' Python 3.11 (2.20 needs 3.12).
HOST_ANSIBLE = "ansible-core==2.19.14"
HOST_PYTHON = "3.11"
PINS = [{"version": "3.12", "build": "20240107", "variant": "install_only", "default": True},
        {"version": "3.11", "build": "20240107", "variant": "install_only"}]
ASSETS = sorted(f"cpython-{v}+20240107-x86_64-unknown-linux-gnu-install_only.tar.gz" for v in ("3.12.1", "3.11.7"))
CHECKOUT = Path(__file__).resolve().parents[2]


def host_wheels() -> Path:
    """ansible-core and its dependencies as wheels for the hosts' Python, downloaded once and cached."""
    cache = fleet.cache_dir() / "ansible-pull" / f"{HOST_ANSIBLE}-py{HOST_PYTHON}"
    if not (cache / ".complete").exists():
        shutil.rmtree(cache, ignore_errors=True)
        platforms = [arg for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                     for arg in ("--platform", p)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(cache), "--only-binary=:all:",
                        "--python-version", HOST_PYTHON, *platforms, HOST_ANSIBLE], check=True)
        (cache / ".complete").write_text("")
    return cache


def give_ansible_and_git(root: Path, wheels: Path) -> None:
    """What a self-provisioning host has before its first pull: ansible-core for its own python3, and git."""
    target = root / "opt/ansible"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
                    "--only-binary=:all:", "--python-version", HOST_PYTHON, "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                    "--target", str(target), HOST_ANSIBLE], check=True)
    for script in (target / "bin").iterdir():  # pip wrote this machine's interpreter into the shebangs
        text = script.read_text()
        script.write_text(re.sub(r"\A#!.*", "#!/usr/bin/python3", text, count=1))
    for name in ("git", "git-upload-pack", "git-receive-pack"):
        if os.path.lexists(f"/usr/bin/{name}"):
            shutil.copy2(f"/usr/bin/{name}", root / "usr/bin" / name, follow_symlinks=False)
    shutil.copytree("/usr/lib/git-core", root / "usr/lib/git-core", symlinks=True, dirs_exist_ok=True)


def site_repository(path: Path, mirror_url: str) -> None:
    """The site repository: playbook, inventory, ansible.cfg and the collection, as a site commits them."""
    path.mkdir()
    (path / "ansible.cfg").write_text("[defaults]\ninventory = inventory.yml\ncollections_path = ./collections\n")
    (path / "inventory.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {name: None for name in HOSTS},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                 "pbs_python_mirrors": [mirror_url], "pbs_python_installs": PINS}}}))
    (path / "local.yml").write_text(yaml.safe_dump(
        [{"name": "Site", "hosts": "all", "gather_facts": False, "roles": ["pbs.python.pbs_python"]}]))
    subprocess.run(["ansible-galaxy", "collection", "install", "--force", "-p", str(path / "collections"),
                    str(CHECKOUT)], check=True, capture_output=True, text=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="site", GIT_AUTHOR_EMAIL="site@example.invalid",
               GIT_COMMITTER_NAME="site", GIT_COMMITTER_EMAIL="site@example.invalid")
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "site"]):
        subprocess.run(["git", *argv], cwd=path, env=env, check=True)


@pytest.fixture(scope="module")
def pull_fleet(tmp_path_factory, mirror_root):
    from mirror_server import MirrorServer

    base = tmp_path_factory.mktemp("ansible-pull")
    wheels = host_wheels()
    try:
        info = fleet.up(base / "fleet", [f"{name}:site" for name in HOSTS])
        with MirrorServer(mirror_root[0], host=info["mirror_address"], log_path=str(base / "access.log")) as mirror:
            site_repository(base / "site", mirror.url)
            for host in info["hosts"]:
                root = Path(host["root"])
                give_ansible_and_git(root, wheels)
                subprocess.run(["git", "clone", "-q", "--bare", str(base / "site"), str(root / "srv/site.git")],
                               check=True)
            yield info, mirror
    finally:
        fleet.down(base / "fleet")


def pull(info: dict, name: str) -> subprocess.CompletedProcess:
    """What the host's timer runs: ansible-pull of the site repository, as root, on the host itself."""
    command = ("LC_ALL=C.UTF-8 PYTHONPATH=/opt/ansible /opt/ansible/bin/ansible-pull -U file:///srv/site.git "
               "-d /var/lib/pbs-site local.yml")
    return fleet.ssh(info, name, command, timeout=600)


def recap(output: str, name: str) -> dict:
    """The site play's recap line for ``name`` (ansible-pull prints the git step's recap first)."""
    lines = re.findall(r"^%s\s+:\s+(ok=.*)$" % re.escape(name), output, re.M)
    assert lines, output[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


def test_hosts_pull_converge_then_a_daily_pull_changes_nothing_and_asks_no_mirror(pull_fleet):
    info, mirror = pull_fleet
    mirror.reset()
    for name in HOSTS:
        first = pull(info, name)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        assert recap(first.stdout, name)["changed"] >= 1 and recap(first.stdout, name)["failed"] == 0
    # Host delivery: each host downloaded each asset once, from the mirror the repository names.
    assert sorted(p.rsplit("/", 1)[1] for p in mirror.gets(".tar.gz")) == sorted(ASSETS * len(HOSTS))
    for host in info["hosts"]:
        for version in ("3.12", "3.11"):
            link = Path(host["root"]) / "usr/local/bin" / f"python{version}"
            assert os.readlink(link).startswith("/opt/pbs-python/cpython-" + version), link

    mirror.reset()
    for name in HOSTS:
        again = pull(info, name)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
        counts = recap(again.stdout, name)
        assert (counts["changed"], counts["failed"], counts["unreachable"]) == (0, 0, 0), again.stdout[-3000:]
    assert mirror.requests == []
