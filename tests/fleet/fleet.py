"""A fleet of real SSH test hosts without Docker: rootfs + overlay + netns + chrooted sshd.

Each host is a Debian bookworm (minbase + python3 + openssh-server) root filesystem, shared
read-only between hosts through an overlay mount, with its own network namespace attached to one
bridge in the root namespace, its own hostname (uts namespace) and a real sshd running chrooted in
its own mount and pid namespaces.

Command line (as root)::

    python tests/fleet/fleet.py up --state DIR --host NAME[:GROUP[,GROUP2]] ... [--no-python NAME ...] [--base ROOT]
    python tests/fleet/fleet.py down --state DIR
    python tests/fleet/fleet.py base          # only build (or find) the cached base rootfs

Module::

    import fleet
    info = fleet.up(state_dir, ["web1:web", "bare:web,nopy"], no_python=["bare"])
    fleet.down(state_dir)

``up`` writes ``DIR/fleet.json``, ``DIR/inventory.yml`` (Ansible) and ``DIR/instance_config.yml``
(molecule) and returns the fleet.json content. ``down`` removes everything ``up`` built; it is
safe to call twice, after a failed ``up`` and on a state dir that never held a fleet.

The base rootfs is cached in ``${PBS_PYTHON_CACHE:-~/.cache/pbs-python}/rootfs/bookworm-minbase``.
The Debian mirror is read from the machine's apt sources (or ``PBS_PYTHON_DEBIAN_MIRROR``).

Stdlib only, Python 3.11+, Linux, root.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SUITE = "bookworm"
BRIDGE = "pbsbr0"
SUBNET_PREFIX = "10.231.0."
MIRROR_ADDRESS = SUBNET_PREFIX + "1"
PREFIX_LEN = 24
FIRST_HOST_OCTET = 11
LAST_HOST_OCTET = 250
NETNS_PREFIX = "pbs-"
VETH_PREFIX = "pbsv"  # + last octet: "pbsv11" .. "pbsv250", well under 15 chars
KEY_NAME = "id_ed25519"
GLOBAL_LOCK = Path("/run/pbs-fleet.lock")  # bridge and address allocation, shared by all fleets
SSH_COMMON_ARGS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o IdentitiesOnly=yes -o LogLevel=ERROR"
)
# What up runs on this machine; the fleet tests skip where one is missing (fleet_kit.needs).
UP_COMMANDS = ("debootstrap", "ssh-keygen", "ip", "unshare", "chroot", "mount")
SSHD_READY_TIMEOUT = 120.0  # generous: a loaded 2-core CI machine can take long to fork sshd

HOST_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
GROUP_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NO_PYTHON_GLOBS = (
    "usr/bin/python3*",
    "usr/bin/py3*",
    "usr/bin/pydoc3*",
    "usr/bin/pygettext3*",
    "usr/lib/python3*",
    "usr/local/lib/python3*",
    "usr/lib/*/libpython3*",
)
# sshd options for every host, written into the host's overlay.
SSHD_CONFIG = """\
# Written by tests/fleet/fleet.py
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 50
"""

# Popen objects of the sshd launchers this process started, so down() can reap them.
_CHILDREN: dict[int, subprocess.Popen] = {}


class FleetError(RuntimeError):
    pass


def log(msg: str) -> None:
    if os.environ.get("PBS_FLEET_QUIET") != "1":
        print(f"fleet: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if check and p.returncode != 0:
        raise FleetError(f"{shlex.join(cmd)} failed ({p.returncode}): {(p.stderr or p.stdout).strip()}")
    return p


@contextlib.contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- base rootfs


def cache_dir() -> Path:
    env = os.environ.get("PBS_PYTHON_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pbs-python"


def base_dir() -> Path:
    return cache_dir() / "rootfs" / f"{SUITE}-minbase"


def _apt_source_entries():
    """Yield (types, uris, suites, components) from the machine's apt sources."""
    one_line = []
    if os.path.isfile("/etc/apt/sources.list"):
        one_line.append("/etc/apt/sources.list")
    one_line += sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in one_line:
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            toks = line.split()
            typ, rest = toks[0], toks[1:]
            if rest and rest[0].startswith("["):  # [ option=value ... ]
                while rest and not rest[0].endswith("]"):
                    rest = rest[1:]
                rest = rest[1:]
            if len(rest) >= 2:
                yield [typ], [rest[0]], [rest[1]], rest[2:]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        for para in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for line in para.splitlines():
                if line.startswith("#"):
                    continue
                if line[:1] in (" ", "\t") and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, dummy, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            yield (fields.get("types", "").split(), fields.get("uris", "").split(),
                   fields.get("suites", "").split(), fields.get("components", "").split())


def discover_mirror(suite: str = SUITE) -> str:
    """The Debian mirror URL apt uses for ``suite`` main (never hard-coded)."""
    env = os.environ.get("PBS_PYTHON_DEBIAN_MIRROR")
    if env:
        return env
    found = []
    for types, uris, suites, comps in _apt_source_entries():
        if "deb" in types and suite in suites and "main" in comps:
            found += [u for u in uris if re.match(r"^(https?|ftp|file):", u)]
    if not found:
        raise FleetError(f"no apt source for '{suite} main' found in /etc/apt/sources.list*; "
                         "set PBS_PYTHON_DEBIAN_MIRROR")
    found.sort(key=lambda u: not u.startswith("http"))  # prefer http(s)
    return found[0]


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the process that started it dies."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def ensure_base() -> Path:
    """Return the cached base rootfs, building it with debootstrap on first use."""
    base = base_dir()
    if base.is_dir():
        return base
    parent = base.parent
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / f"{base.name}.lock") as lock:
        if base.is_dir():  # built by someone else while we waited
            return base
        for stale in parent.glob(f"{base.name}.tmp-*"):  # interrupted earlier builds
            _umount_under(stale)
            shutil.rmtree(stale, ignore_errors=True)
        mirror = discover_mirror()
        tmp = Path(tempfile.mkdtemp(prefix=f"{base.name}.tmp-", dir=parent))
        os.chmod(tmp, 0o755)  # becomes the hosts' "/"; mkdtemp makes it 0700
        build_log = parent / f"{base.name}.build.log"
        cmd = ["debootstrap", "--variant=minbase", "--include=python3,openssh-server",
               SUITE, str(tmp), mirror]
        log(f"building base rootfs (about a minute, log {build_log}): {shlex.join(cmd)}")
        t0 = time.monotonic()
        proc = None
        try:
            # debootstrap inherits the lock's fd, so the lock stays held until every process of an
            # orphaned build (its parent killed) has exited; it also dies with its parent.
            with open(build_log, "w") as lf:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                        pass_fds=(lock.fileno(),), preexec_fn=_die_with_parent)
                rc = proc.wait()
            if rc != 0:
                tail = "".join(build_log.read_text(errors="replace").splitlines(True)[-20:])
                raise FleetError(f"debootstrap failed ({rc}), see {build_log}:\n{tail}")
            run(["chroot", str(tmp), "apt-get", "clean"], check=False)
            _umount_under(tmp)
            os.rename(tmp, base)
        except BaseException:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            _umount_under(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log(f"base rootfs ready in {time.monotonic() - t0:.1f}s: {base}")
    return base


# --------------------------------------------------------------------------- processes and mounts


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of a process, or None if it does not exist."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def pid_alive(pid: int, starttime: int | None = None) -> bool:
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def _children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(x) for x in text.split()]
    except OSError:
        pass
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _proc_stat(int(d))
            if st and st[1] == pid:
                out.append(int(d))
    return out


def _unescape_mountinfo(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts_under(path: str | Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    root = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = _unescape_mountinfo(line.split()[4])
            if mp == root or mp.startswith(root + "/"):
                found.append(mp)
    return sorted(set(found), key=lambda m: (-m.count("/"), m))


def _umount_under(path: str | Path) -> None:
    for dummy in range(5):  # stacked mounts need several rounds
        mps = mounts_under(path)
        if not mps:
            return
        for mp in mps:
            if run(["umount", mp], check=False).returncode != 0:
                run(["umount", "-l", mp], check=False)
    if mounts_under(path):
        raise FleetError(f"could not unmount everything under {path}: {mounts_under(path)}")


# --------------------------------------------------------------------------- state


class State:
    """fleet.json, rewritten atomically after every resource is created."""

    def __init__(self, state_dir: Path, data: dict):
        self.path = state_dir / "fleet.json"
        self.data = data
        self.lock = threading.Lock()

    def host(self, name: str) -> dict:
        return next(h for h in self.data["hosts"] if h["name"] == name)

    def update(self, name: str | None = None, **fields) -> None:
        with self.lock:
            target = self.host(name) if name else self.data
            for k, v in fields.items():
                if isinstance(target.get(k), list) and isinstance(v, list):
                    target[k].extend(v)
                else:
                    target[k] = v
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(tmp, self.path)


def _parse_host_spec(spec) -> tuple[str, list[str]]:
    if isinstance(spec, dict):
        name, groups = spec["name"], list(spec.get("groups", []))
    elif isinstance(spec, (tuple, list)):
        name, groups = spec[0], list(spec[1]) if len(spec) > 1 else []
    else:
        name, dummy, g = str(spec).partition(":")
        groups = [x for x in g.split(",") if x]
    if not HOST_NAME_RE.match(name):
        raise FleetError(f"bad host name {name!r}: use [a-z0-9-], at most 32 characters")
    for g in groups:
        if not GROUP_NAME_RE.match(g) or g in ("all", "ungrouped"):
            raise FleetError(f"bad group name {g!r} for host {name}")
    return name, groups


# --------------------------------------------------------------------------- network


def _net_devices() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _ensure_bridge() -> None:
    if BRIDGE not in _net_devices():
        clash = run(["ip", "-o", "-4", "addr", "show", "to", f"{SUBNET_PREFIX}0/{PREFIX_LEN}"]).stdout
        if clash.strip():
            raise FleetError(f"{SUBNET_PREFIX}0/{PREFIX_LEN} is already in use on this machine:\n{clash}")
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "replace", f"{MIRROR_ADDRESS}/{PREFIX_LEN}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def _bridge_ports() -> list[str]:
    try:
        return os.listdir(f"/sys/class/net/{BRIDGE}/brif")
    except OSError:
        return []


def _free_octets(n: int) -> list[int]:
    used = {int(d[len(VETH_PREFIX):]) for d in _net_devices()
            if d.startswith(VETH_PREFIX) and d[len(VETH_PREFIX):].isdigit()}
    free = [o for o in range(FIRST_HOST_OCTET, LAST_HOST_OCTET + 1) if o not in used]
    if len(free) < n:
        raise FleetError(f"not enough free addresses in {SUBNET_PREFIX}0/{PREFIX_LEN}")
    return free[:n]


def _setup_network(state: State) -> None:
    """Bridge, then per host a netns and a veth pair with the address it was given."""
    with file_lock(GLOBAL_LOCK):
        _ensure_bridge()
        existing = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        hosts = state.data["hosts"]
        for h in hosts:
            if h["netns"] in existing:
                raise FleetError(f"network namespace {h['netns']} already exists "
                                 "(another fleet, or a stale one: run `down` on its state dir)")
        for h, octet in zip(hosts, _free_octets(len(hosts))):
            ns, veth, addr = h["netns"], f"{VETH_PREFIX}{octet}", f"{SUBNET_PREFIX}{octet}"
            run(["ip", "netns", "add", ns])
            state.update(h["name"], netns_created=True)
            run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            state.update(h["name"], veth=veth, address=addr)
            run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
            batch = (f"addr add {addr}/{PREFIX_LEN} dev eth0\n"
                     "link set lo up\nlink set eth0 up\n"
                     f"route add default via {MIRROR_ADDRESS}\n")
            run(["ip", "-n", ns, "-batch", "-"], input=batch)


# --------------------------------------------------------------------------- per-host filesystem


def _prepare_root(state: State, name: str, base: Path, pubkey: str, no_python: bool) -> None:
    h = state.host(name)
    hdir = Path(h["dir"])
    upper, work, root = hdir / "upper", hdir / "work", Path(h["root"])
    for d in (upper, work, root):
        d.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={base},upperdir={upper},workdir={work}", str(root)])
    state.update(name, mounted=True)

    (root / "etc/hostname").write_text(name + "\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    ak = ssh_dir / "authorized_keys"
    ak.write_text(pubkey)
    os.chmod(ak, 0o600)
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/pbs-fleet.conf").write_text(SSHD_CONFIG)
    (root / "run/sshd").mkdir(parents=True, exist_ok=True)
    # Own host keys per host: drop the ones debootstrap generated into the shared base.
    for key in glob.glob(str(root / "etc/ssh/ssh_host_*")):
        os.unlink(key)
    run(["chroot", str(root), "ssh-keygen", "-A"])
    if no_python:
        for pattern in NO_PYTHON_GLOBS:
            for p in glob.glob(str(root / pattern)):
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)


def _write_etc_hosts(state: State) -> None:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             f"{MIRROR_ADDRESS}\tpbs-mirror"]
    lines += [f"{h['address']}\t{h['name']}" for h in state.data["hosts"]]
    text = "\n".join(lines) + "\n"
    for h in state.data["hosts"]:
        (Path(h["root"]) / "etc/hosts").write_text(text)


# --------------------------------------------------------------------------- sshd


def _launcher_script(root: Path, name: str) -> str:
    """Runs in the host's fresh mount/pid/uts namespaces (private mounts), then execs sshd."""
    r = shlex.quote(str(root))
    return f"""set -e
echo {shlex.quote(name)} > /proc/sys/kernel/hostname
mount -t tmpfs -o mode=0755,nosuid,size=1m pbs-dev {r}/dev
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
  set -- $n; mknod -m 666 {r}/dev/$1 c $2 $3
done
mkdir {r}/dev/pts {r}/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts {r}/dev/pts
ln -s pts/ptmx {r}/dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev shm {r}/dev/shm
ln -s /proc/self/fd {r}/dev/fd
ln -s /proc/self/fd/0 {r}/dev/stdin
ln -s /proc/self/fd/1 {r}/dev/stdout
ln -s /proc/self/fd/2 {r}/dev/stderr
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {r}/sys
exec chroot {r} /usr/sbin/sshd -D -e -o ListenAddress="$PBS_FLEET_ADDR"
"""


def _start_sshd(state: State, name: str) -> None:
    h = state.host(name)
    root, addr = Path(h["root"]), h["address"]
    log_path = Path(h["dir"]) / "sshd.log"
    launcher = Path(h["dir"]) / "launch-sshd.sh"
    launcher.write_text(_launcher_script(root, name))
    cmd = ["ip", "netns", "exec", h["netns"],
           "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child",
           f"--mount-proc={root}/proc", "/bin/sh", str(launcher)]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PBS_FLEET_ADDR": addr}
    with open(log_path, "ab") as lf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                env=env, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    st = _proc_stat(proc.pid)
    state.update(name, processes=[{"pid": proc.pid, "starttime": st[2] if st else None,
                                   "what": "unshare"}], pids=[proc.pid])

    deadline = time.monotonic() + SSHD_READY_TIMEOUT
    sshd_pid = None
    while True:
        if proc.poll() is not None:
            raise FleetError(f"sshd for {name} exited ({proc.returncode}):\n"
                             f"{log_path.read_text(errors='replace')[-2000:]}")
        if sshd_pid is None:
            kids = _children_of(proc.pid)
            if kids:
                sshd_pid = kids[0]
                st = _proc_stat(sshd_pid)
                state.update(name, processes=[{"pid": sshd_pid, "starttime": st[2] if st else None,
                                               "what": "sshd (pid 1 of the host)"}], pids=[sshd_pid])
        if sshd_pid is not None and _ssh_banner(addr):
            return
        if time.monotonic() > deadline:
            raise FleetError(f"sshd for {name} did not answer on {addr}:22 within "
                             f"{SSHD_READY_TIMEOUT:.0f}s:\n{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def _ssh_banner(addr: str) -> bool:
    try:
        with socket.create_connection((addr, 22), timeout=0.5) as s:
            s.settimeout(1.0)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


# --------------------------------------------------------------------------- outputs


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def _to_yaml(obj, indent: int = 0) -> str:
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:\n{_to_yaml(v, indent + 1)}")
            elif isinstance(v, (dict, list)):
                out.append(f"{pad}{k}: {'{}' if isinstance(v, dict) else '[]'}\n")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}\n")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                body = _to_yaml(item, indent + 1)
                out.append(f"{pad}- {body.lstrip()}")
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}\n")
    return "".join(out)


def _write_outputs(state_dir: Path, data: dict) -> None:
    key = data["key"]
    hosts, groups = {}, {}
    for h in data["hosts"]:
        hv = {"ansible_host": h["address"], "ansible_user": "root",
              "ansible_ssh_private_key_file": key, "ansible_ssh_common_args": SSH_COMMON_ARGS}
        if h["python"]:
            hv["ansible_python_interpreter"] = "/usr/bin/python3"
        hosts[h["name"]] = hv
        for g in h["groups"]:
            groups.setdefault(g, {"hosts": {}})["hosts"][h["name"]] = {}
    inv = {"all": {"hosts": hosts, "vars": {"pbs_fleet_mirror_address": MIRROR_ADDRESS}}}
    if groups:
        inv["all"]["children"] = groups
    (state_dir / "inventory.yml").write_text("# Written by tests/fleet/fleet.py\n" + _to_yaml(inv))
    ic = [{"instance": h["name"], "address": h["address"], "user": "root", "port": 22,
           "identity_file": key} for h in data["hosts"]]
    (state_dir / "instance_config.yml").write_text("# Written by tests/fleet/fleet.py\n" + _to_yaml(ic))


# --------------------------------------------------------------------------- up / down


def _ensure_key(state_dir: Path) -> Path:
    key = state_dir / KEY_NAME
    if not key.exists() or not key.with_suffix(".pub").exists():
        for p in (key, key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pbs-fleet", "-f", str(key)])
    return key


def up(state_dir, hosts, no_python=(), base=None) -> dict:
    """Build the fleet; return the fleet.json content. Tears down what it built on failure.

    ``base`` is the root filesystem the hosts share read-only (default: the cached debootstrap
    root), e.g. an image root built from it: hosts then boot that image, their writes kept apart.
    """
    if os.geteuid() != 0:
        raise FleetError("fleet.up needs root")
    state_dir = Path(state_dir).resolve()
    specs = [_parse_host_spec(s) for s in hosts]
    names = [n for n, dummy in specs]
    if not specs:
        raise FleetError("no hosts given")
    if len(set(names)) != len(names):
        raise FleetError(f"duplicate host names: {names}")
    unknown = set(no_python) - set(names)
    if unknown:
        raise FleetError(f"--no-python names unknown hosts: {sorted(unknown)}")
    if re.search(r"[\s,:]", str(state_dir)):
        raise FleetError(f"state dir must not contain whitespace, ',' or ':' (overlay options): {state_dir}")
    if base is not None:
        base = Path(base).resolve()
        if re.search(r"[\s,:]", str(base)) or not (base / "usr/sbin/sshd").exists():
            raise FleetError(f"base must be a root filesystem with sshd, its path without whitespace, ',' "
                             f"or ':' (overlay options): {base}")
    for tool in UP_COMMANDS:
        if shutil.which(tool) is None:
            raise FleetError(f"{tool} not found (apt-get install openssh-client debootstrap iproute2)")
    state_dir.mkdir(parents=True, exist_ok=True)
    if (state_dir / "fleet.json").exists():
        raise FleetError(f"{state_dir}/fleet.json exists: run `down --state {state_dir}` first")

    t0 = time.monotonic()
    base = base or ensure_base()
    key = _ensure_key(state_dir)
    pubkey = key.with_suffix(".pub").read_text()
    data = {
        "version": 1, "state_dir": str(state_dir), "ready": False,
        "mirror_address": MIRROR_ADDRESS, "bridge": BRIDGE,
        "network": f"{SUBNET_PREFIX}0/{PREFIX_LEN}", "base": str(base), "key": str(key),
        "inventory": str(state_dir / "inventory.yml"),
        "instance_config": str(state_dir / "instance_config.yml"),
        "hosts": [{"name": n, "groups": g, "python": n not in no_python, "address": None,
                   "dir": str(state_dir / "hosts" / n), "root": str(state_dir / "hosts" / n / "root"),
                   "netns": NETNS_PREFIX + n, "veth": None, "netns_created": False, "mounted": False,
                   "pids": [], "processes": [], "key": str(key)} for n, g in specs],
    }
    state = State(state_dir, data)
    state.update()
    try:
        with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
            prep = [pool.submit(_prepare_root, state, n, base, pubkey, n in no_python) for n in names]
            _setup_network(state)  # in this thread, while the roots are being prepared
            for f in prep:
                f.result()
            _write_etc_hosts(state)
            for f in [pool.submit(_start_sshd, state, n) for n in names]:
                f.result()
        _write_outputs(state_dir, state.data)
        state.update(ready=True)
    except BaseException:
        log("up failed; tearing down what was built")
        with contextlib.suppress(Exception):
            down(state_dir)
        raise
    log(f"{len(names)} host(s) up in {time.monotonic() - t0:.1f}s; inventory {state_dir}/inventory.yml")
    return state.data


def ssh(info: dict, host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``command`` as root on fleet host ``host`` (its name in fleet.json) over real SSH; never raises on rc."""
    h = next(x for x in info["hosts"] if x["name"] == host)
    cmd = ["ssh", "-i", info["key"], "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o", "ControlMaster=no", f"root@{h['address']}", command]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def _kill(procs: list[dict]) -> list[int]:
    """SIGTERM, then SIGKILL, the recorded processes that are still the ones we started."""
    live = [p for p in procs if p.get("pid") and pid_alive(p["pid"], p.get("starttime"))]
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p["pid"], sig)
        deadline = time.monotonic() + grace
        while live and time.monotonic() < deadline:
            for p in live:
                child = _CHILDREN.get(p["pid"])
                if child is not None:
                    child.poll()
            live = [p for p in live if pid_alive(p["pid"], p.get("starttime"))]
            if live:
                time.sleep(0.02)
    for p in procs:
        child = _CHILDREN.pop(p.get("pid"), None)
        if child is not None:
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
    return [p["pid"] for p in live]


def down(state_dir) -> None:
    """Tear down everything recorded in DIR/fleet.json. Idempotent; tolerant of partial state."""
    state_dir = Path(state_dir).resolve()
    fj = state_dir / "fleet.json"
    try:
        data = json.loads(fj.read_text())
    except FileNotFoundError:
        data = {"hosts": []}
    except (OSError, ValueError) as e:
        log(f"unreadable {fj} ({e}); cleaning up by convention only")
        data = {"hosts": []}
    hosts = data.get("hosts", [])
    problems = []

    survivors = _kill([p for h in hosts for p in h.get("processes", [])])
    if survivors:
        problems.append(f"processes still alive: {survivors}")

    existing_ns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    for h in hosts:
        if h.get("netns_created") and h.get("netns") in existing_ns:
            p = run(["ip", "netns", "del", h["netns"]], check=False)
            if p.returncode != 0:
                problems.append(p.stderr.strip())
    with file_lock(GLOBAL_LOCK):
        veths = [h["veth"] for h in hosts if h.get("veth")]
        for v in veths:
            if v in _net_devices():
                run(["ip", "link", "del", v], check=False)  # may already be gone with its netns
        deadline = time.monotonic() + 3
        while set(veths) & _net_devices() and time.monotonic() < deadline:
            time.sleep(0.02)
        if BRIDGE in _net_devices() and not _bridge_ports():
            run(["ip", "link", "del", BRIDGE], check=False)

    hosts_dir = state_dir / "hosts"
    try:
        _umount_under(hosts_dir)
    except FleetError as e:
        problems.append(str(e))
    else:
        shutil.rmtree(hosts_dir, ignore_errors=True)
    for name in ("inventory.yml", "instance_config.yml", KEY_NAME, KEY_NAME + ".pub", "fleet.json.tmp"):
        (state_dir / name).unlink(missing_ok=True)
    if problems:
        raise FleetError("down left things behind (fleet.json kept): " + "; ".join(problems))
    fj.unlink(missing_ok=True)


# --------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build the fleet")
    p_up.add_argument("--state", required=True, help="state dir (keys, overlays, inventory)")
    p_up.add_argument("--host", action="extend", nargs="+", required=True,
                      metavar="NAME[:GROUP[,GROUP2]]")
    p_up.add_argument("--no-python", action="extend", nargs="+", default=[], metavar="NAME",
                      help="hosts without any python (for bootstrapping over raw)")
    p_up.add_argument("--base", help="root filesystem the hosts share (default: the cached debootstrap root)")
    p_down = sub.add_parser("down", help="tear the fleet down")
    p_down.add_argument("--state", required=True)
    sub.add_parser("base", help="build (or find) the cached base rootfs and print its path")
    args = ap.parse_args(argv)
    try:
        t0 = time.monotonic()
        if args.cmd == "up":
            data = up(args.state, args.host, args.no_python, args.base)
            json.dump(data, sys.stdout, indent=2)
            print()
        elif args.cmd == "down":
            down(args.state)
            log(f"down in {time.monotonic() - t0:.1f}s")
        else:
            print(ensure_base())
    except FleetError as e:
        print(f"fleet: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
