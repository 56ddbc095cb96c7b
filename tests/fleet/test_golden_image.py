"""Golden images (issue 14): build an image root offline through the chroot connection, twice, and boot it.

The image is a copy of the fleet's debootstrap base root, provisioned without booting it: the role
runs against it through ``community.general.chroot`` with controller delivery, so the controller
fetches from a loopback mirror that requires credentials and nothing inside the root talks to a
mirror. Two builds from the same pins (into two copies of the base) must give byte-identical install
trees; each build must leave the root clean (only the install root and ``link_dir`` change, no
leftovers, no bytecode, no trace of the credentials). Then three network-namespace hosts boot the
first image (their root filesystem is that image under an overlay): the role is a no-op on their
first run with zero requests to the mirror, and ``pbs.python.report`` shows them in step.

What the build needs and why is in docs/golden-images.md; this test is the "chroot build" recipe.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

import fleet
import fleet_kit
import pbs_fixtures
import serve_mirror
from fault_mirror import FaultMirror
from mirror_server import MirrorServer
from playbook import run_playbook

EXTRA_COLLECTIONS = os.environ.get("PBS_PYTHON_EXTRA_COLLECTIONS", "")

pytestmark = fleet_kit.needs("patchelf") + [  # the chroot connection needs root too, as the fleet does
    pytest.mark.skipif(not os.path.isdir(os.path.join(EXTRA_COLLECTIONS, "ansible_collections/community/general")),
                       reason="community.general comes from tools/bootstrap (PBS_PYTHON_EXTRA_COLLECTIONS)"),
]

TAG = f"g{os.getpid() % 100000}"  # netns names are machine-wide: keep concurrent runs apart
HOSTS = [f"{TAG}-h{i}" for i in range(3)]
PIN = {"version": "3.12.1", "build": "20240107", "variant": "install_only", "default": True}
DIRNAME = f"cpython-3.12.1+20240107-{pbs_fixtures.HOST_TRIPLE}-install_only"
ASSET = DIRNAME + ".tar.gz"
INSTALL_ROOT, LINK_DIR = "/opt/pbs-python", "/usr/local/bin"
EPOCH = "1704067200"  # SOURCE_DATE_EPOCH of both builds: the receipt's installed_at
USER = "image-builder"
SECRET = "golden-" + secrets.token_hex(12)  # the mirror's password: must end up nowhere in the image
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
NEEDLES = (SECRET.encode(), BASIC.encode())
# Files the module adds to the archive's tree: its receipt, the tree's manifest and uv's BUILD marker.
MODULE_FILES = {"PBS_RECEIPT.json", "PBS_MANIFEST.json", "BUILD"}
# Install-tree files the module rewrites (build paths pointed at the install: sysconfig data,
# Makefile, pkg-config): same bytes in every build, and like its own files SOURCE_DATE_EPOCH as mtime.
REWRITTEN = ("lib/python3.12/_sysconfigdata_", "lib/python3.12/config-3.12-", "lib/pkgconfig/")
# community.general (the chroot connection) is on a collections path of its own. The build runs
# without pipelining, as image builds do by default: module files and the archive go through the
# root's temp directory, which must be gone afterwards.
ENV = {"ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH", "") + os.pathsep + EXTRA_COLLECTIONS}


# --------------------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> tuple[dict, list]:
    """(entries, secrets found): every path of an image root with what identifies its state.

    Files by mode, owner and sha256 (and mtime), symlinks by target, directories by mode and owner
    (their mtimes change whenever an entry is added or removed, which shows as that entry).
    ``/proc`` is a mount during the build; only the directory itself counts. Every regular file is
    also searched for the build's credentials, in the clear and as the Basic authorization value.
    """
    entries, found = {}, []
    for top, dirs, files in os.walk(root):
        rel_top = "/" + os.path.relpath(top, root) if top != str(root) else ""
        if rel_top == "/proc":
            dirs[:] = []
            files = []
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            owner = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                entry = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                entry = ("dir",) + owner
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    data = handle.read()
                found += [f"{rel_top}/{name}" for needle in NEEDLES if needle in data]
                entry = ("file",) + owner + (hashlib.sha256(data).hexdigest(), st.st_mtime_ns)
            else:
                entry = ("special", st.st_mode, st.st_rdev) + owner
            entries[f"{rel_top}/{name}"] = entry
    return entries, found


def under(path: str, *parents: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in parents)


def archive_members(path: str) -> dict:
    """{path inside the install: (kind, mode, sha256 or link target, mtime)} of a PBS archive."""
    members = {}
    with tarfile.open(path) as archive:
        for member in archive:
            rel = member.name[len("python/"):] if member.name.startswith("python/") else None
            if not rel:
                continue
            if member.isfile():
                digest = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
                members[rel] = ("file", member.mode & 0o7777, digest, member.mtime)
            elif member.issym():
                members[rel] = ("link", None, member.linkname, member.mtime)
            elif member.isdir():
                members[rel] = ("dir", None, None, member.mtime)
    return members


def install_tree(root: Path) -> dict:
    """{path: (kind, mode, sha256 or link target, mtime of regular files)} of the install and its links:
    what two builds of the same pins must agree on.

    Directories are compared without mtimes (each changes whenever an entry is added), and so is the
    install root's lock file: it belongs to the root, not to an install, and is empty.
    """
    tree = {}
    for base in (INSTALL_ROOT, LINK_DIR):
        for top, dirs, files in os.walk(str(root) + base):
            for name in dirs + files:
                path = os.path.join(top, name)
                rel = path[len(str(root)):]
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    tree[rel] = ("link", None, os.readlink(path), None)
                elif stat.S_ISDIR(st.st_mode):
                    tree[rel] = ("dir", stat.S_IMODE(st.st_mode), None, None)
                elif rel == f"{INSTALL_ROOT}/.lock":
                    tree[rel] = ("lock", stat.S_IMODE(st.st_mode), st.st_size, None)
                else:
                    tree[rel] = ("file", stat.S_IMODE(st.st_mode), pbs_fixtures.sha256_file(path), st.st_mtime_ns)
    return tree


class Images:
    """Two image roots built from the same pins, each with what its build changed and left."""

    def __init__(self, base: Path):
        self.base = base
        self.work = base / "work"
        self.mirror: FaultMirror | None = None
        self.archive = ""
        self.roots: dict[str, Path] = {}
        self.runs: dict = {}
        self.changes: dict[str, dict] = {}
        self.found: dict[str, list] = {}
        self.requests: dict[str, list] = {}

    def build(self, name: str) -> None:
        """Copy the fleet's base root, provision it through the chroot connection, record what changed."""
        root = self.base / f"image-{name}"
        subprocess.run(["cp", "-a", "--reflink=auto", str(fleet.ensure_base()), str(root)], check=True)
        self.roots[name] = root
        before, dummy = snapshot(root)
        inventory = self.base / f"build-{name}.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {f"image-{name}": {
            "ansible_host": str(root),
            "ansible_connection": "community.general.chroot",
            "ansible_python_interpreter": "/usr/bin/python3",  # Debian's, in the root
            "ansible_remote_tmp": "/tmp",  # Ansible's per-task dirs go, and no ~/.ansible is made
            "pbs_python_delivery": "controller",
            "pbs_python_cache_dir": str(self.base / f"cache-{name}"),  # the controller's, outside the root
            "pbs_python_mirrors": [self.mirror.url],
            "pbs_python_url_username": USER,
            "pbs_python_url_password": SECRET,
            "pbs_python_force_basic_auth": True,
            "pbs_python_installs": [PIN],
            "pbs_python_link_dir": LINK_DIR,
        }}}}))
        play = [{"name": "Build the image", "hosts": "all", "gather_facts": False,
                 # PYTHONDONTWRITEBYTECODE is set for the tests' controller; unset in the root, so bytecode
                 # written by anything the module starts there would show.
                 "environment": {"SOURCE_DATE_EPOCH": EPOCH, "PYTHONDONTWRITEBYTECODE": ""},
                 "roles": ["pbs.python.pbs_python"]}]
        proc = root / "proc"
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)  # PBS's $ORIGIN rpath needs it
        self.mirror.reset()
        try:
            self.runs[name] = run_playbook(play, str(self.work), inventory=str(inventory), env=ENV)
        finally:
            subprocess.run(["umount", str(proc)], check=True)
        self.requests[name] = list(self.mirror.events)
        after, self.found[name] = snapshot(root)
        self.changes[name] = {path: (before.get(path), after.get(path))
                              for path in set(before) | set(after) if before.get(path) != after.get(path)}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    built = Images(tmp_path_factory.mktemp("golden"))
    mirror_root = built.base / "mirror"
    pbs_fixtures.make_mirror(str(mirror_root), serve_mirror.mirror_pins([PIN]))
    built.archive = str(mirror_root / PIN["build"] / ASSET)
    built.mirror = FaultMirror(str(mirror_root), log_path=str(built.base / "build-mirror.log"))
    built.mirror.require_auth("/", "Basic " + BASIC)
    built.mirror.start()
    try:
        built.build("a")
        built.build("b")
        yield built
    finally:
        built.mirror.stop()
        for root in built.roots.values():  # about 400 MB each, kept by pytest's last three runs otherwise
            if not fleet.mounts_under(root):
                shutil.rmtree(root)


# ------------------------------------------------------------------------------------------ build


@pytest.mark.parametrize("name", ["a", "b"])
def test_build_installs_through_the_chroot_with_only_the_controller_fetching(images, name):
    run = images.runs[name]
    assert run.rc == 0, run.output[-5000:]
    result = run.result("pbs.python.pbs_python : Install the pinned builds")
    assert result["changed"] and result["delivered"], result
    (item,) = result["results"]
    assert item["path"] == f"{INSTALL_ROOT}/{DIRNAME}" and item["delivered"]
    # The controller asked (with the credentials), once per file, into its own cache outside the root.
    assert [(e["method"], e["path"], e["status"]) for e in images.requests[name]] == [
        ("GET", f"/{PIN['build']}/SHA256SUMS", 200), ("GET", f"/{PIN['build']}/{ASSET}", 200)]
    assert all(e["headers"].get("authorization") == "Basic " + BASIC for e in images.requests[name])
    cache = images.base / f"cache-{name}"
    assert any(ASSET in path.name for path in cache.rglob("*")), sorted(cache.rglob("*"))


@pytest.mark.parametrize("name", ["a", "b"])
def test_build_leaves_the_root_clean(images, name):
    changes = images.changes[name]
    # Nothing outside the install root and the link directory: no Ansible temp dirs, no ~/.ansible,
    # no controller cache, no bytecode next to Debian's Python.
    assert sorted(p for p in changes if not under(p, INSTALL_ROOT, LINK_DIR)) == []
    # In the install root: the install, and the lock file concurrent runs take turns on (empty; by
    # design, as uv's <root>/.lock) - no staging, trash or removal directories, no probe.
    root = images.roots[name]
    assert sorted(os.listdir(f"{root}{INSTALL_ROOT}")) == [".lock", DIRNAME]
    assert os.path.getsize(f"{root}{INSTALL_ROOT}/.lock") == 0
    # In the link directory: the two links, no temporary link.
    assert {p: after for p, (before, after) in changes.items() if under(p, LINK_DIR)} == {
        f"{LINK_DIR}/python3.12": ("link", f"{INSTALL_ROOT}/{DIRNAME}/bin/python3.12"),
        f"{LINK_DIR}/python3": ("link", f"{INSTALL_ROOT}/{DIRNAME}/bin/python3.12")}
    # The install tree is the archive's, plus the receipt, manifest and BUILD: no __pycache__ or .pyc the
    # health check wrote, nothing else the module left.
    members = archive_members(images.archive)
    prefix = f"{INSTALL_ROOT}/{DIRNAME}/"
    tree = {p[len(prefix):] for p in changes if p.startswith(prefix)}
    assert sorted(tree - set(members)) == sorted(MODULE_FILES)
    assert not [p for p in tree - set(members) if "__pycache__" in p or p.endswith(".pyc")]
    # The credentials reached the mirror, and nowhere in the image: not in the receipt, not in a
    # leftover argument file.
    assert images.found[name] == []
    receipt = json.loads(Path(f"{root}{INSTALL_ROOT}/{DIRNAME}/PBS_RECEIPT.json").read_text())
    assert receipt["url"] == f"{images.mirror.url}/{PIN['build']}/{ASSET.replace('+', '%2B')}"


def test_two_builds_from_the_same_pins_give_byte_identical_install_trees(images):
    a, b = (install_tree(images.roots[name]) for name in ("a", "b"))
    assert f"{INSTALL_ROOT}/{DIRNAME}/bin/python3.12" in a
    assert sorted(set(a) ^ set(b)) == []
    assert [p for p in sorted(a) if a[p] != b[p]] == []  # kind, mode, sha256 or link target, file mtime
    receipt = Path(f"{images.roots['a']}{INSTALL_ROOT}/{DIRNAME}/PBS_RECEIPT.json").read_text()
    assert json.loads(receipt)["installed_at"] == "2024-01-01T00:00:00Z"  # SOURCE_DATE_EPOCH
    # Every file taken from the archive unchanged has its content and mtime; the module's own files
    # and the build paths it rewrote are the only others, with SOURCE_DATE_EPOCH as mtime (not the
    # archive's: a .pyc keyed on the archive's mtime must not pass for the rewritten source).
    members = archive_members(images.archive)
    prefix = f"{INSTALL_ROOT}/{DIRNAME}/"
    changed = []
    for path, (kind, mode, digest, mtime) in a.items():
        rel = path[len(prefix):]
        if not path.startswith(prefix) or kind != "file":
            continue
        member = members.get(rel)
        if member is not None and member[2] == digest:
            assert (mode, mtime) == (member[1], member[3] * 10**9), rel
        else:
            assert mtime == int(EPOCH) * 10**9, rel
            changed.append(rel)
    assert MODULE_FILES < set(changed), changed
    assert all(rel.startswith(REWRITTEN) for rel in set(changed) - MODULE_FILES), changed


# ------------------------------------------------------------------------------------------- boot


@pytest.fixture(scope="module")
def booted(images, tmp_path_factory):
    """Three hosts whose root filesystem is image a, and a mirror on the fleet's bridge that would serve them."""
    assert images.runs["a"].rc == 0, "the image was not built"
    base = tmp_path_factory.mktemp("golden-fleet")
    state = base / "fleet"
    mirror = None
    try:
        info = fleet.up(state, [f"{h}:golden" for h in HOSTS], base=images.roots["a"])
        mirror_root = base / "mirror"
        pbs_fixtures.make_mirror(str(mirror_root), serve_mirror.mirror_pins([PIN]))
        mirror = MirrorServer(str(mirror_root), host=info["mirror_address"], log_path=str(base / "access.log"))
        mirror.start()
        inventory = base / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        shutil.copy(state / "inventory.yml", inventory / "hosts.yml")
        (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump({
            "pbs_python_mirrors": [mirror.url], "pbs_python_link_dir": LINK_DIR}))
        (inventory / "group_vars" / "golden.yml").write_text(yaml.safe_dump({"pbs_python_installs__golden": [PIN]}))
        yield base, inventory, mirror
    finally:
        if mirror is not None:
            mirror.stop()
        fleet.down(state)


def test_hosts_booted_from_the_image_converge_as_a_no_op_without_the_mirror_and_report_in_step(booted):
    base, inventory, mirror = booted
    env = dict(ENV, ANSIBLE_FORKS=str(len(HOSTS)), ANSIBLE_PIPELINING="True")  # fewer SSH round trips
    mirror.reset()
    run = run_playbook([{"name": "Converge", "hosts": "all", "gather_facts": False,
                         "roles": ["pbs.python.pbs_python"]}], str(base / "work"), inventory=str(inventory), env=env)
    assert run.rc == 0, run.output[-5000:]
    installs = [r for r in run.results if r["task"] == "pbs.python.pbs_python : Install the pinned builds"]
    assert sorted(r["host"] for r in installs) == sorted(HOSTS)
    assert run.changed == [], [(r["host"], r["task"]) for r in run.changed]
    for r in installs:
        assert r["result"]["default_interpreter"] == f"{INSTALL_ROOT}/{DIRNAME}/bin/python3.12", r["host"]
    assert mirror.requests == []

    report = base / "report.json"
    run = run_playbook([{"import_playbook": "pbs.python.report"}], str(base / "work"), inventory=str(inventory),
                       env=env, extra_args=["-e", f"pbs_python_report_json={report}",
                                            "-e", "pbs_python_report_fail_on_drift=true"])
    assert run.rc == 0, run.output[-5000:]
    rows = {row["host"]: row for row in json.loads(report.read_text())}
    assert sorted(rows) == sorted(HOSTS)
    for host, row in rows.items():
        assert row["reached"] and not row["drift"], row
        assert row["installed"] == row["pinned"] == [f"{PIN['version']}+{PIN['build']}"], row
    assert mirror.requests == []
