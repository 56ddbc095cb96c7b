"""Part 3: peak RSS of the process that installs, for the real archive and one twice its size.

Two views of the same thing:

* the real module process: an ``ansible-playbook`` run while a poller reads ``VmHWM`` (the
  kernel's own peak-RSS mark) of every ``AnsiballZ_pbs_python`` process it sees;
* the install path alone: bench/rss_driver.py (Installer.present, as the module calls it) on
  /usr/bin/python3 under GNU ``time -f %M``, plus the driver's own peak after its imports, which
  separates what the imports cost from what installing costs.
"""

import json
import os
import subprocess
import threading
import time

import pbs_fixtures
import playbooks
from timing import timed

HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_gnu_time(log=print):
    if os.path.exists('/usr/bin/time'):
        return '/usr/bin/time'
    log('installing GNU time (apt package "time") for peak-RSS measurements')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'time'], env=env, check=False,
                   stdout=subprocess.DEVNULL)
    if not os.path.exists('/usr/bin/time'):
        subprocess.run(['apt-get', 'update', '-qq'], env=env, check=False, stdout=subprocess.DEVNULL)
        subprocess.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'time'], env=env,
                       check=False, stdout=subprocess.DEVNULL)
    return '/usr/bin/time' if os.path.exists('/usr/bin/time') else None


class HighWaterPoller(object):
    """Track the largest VmHWM of processes whose command line contains ``marker``."""

    def __init__(self, marker, interval=0.02):
        self.marker = marker.encode()
        self.interval = interval
        self.peak_kib = 0
        self.seen = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        known = {}
        while not self._stop.is_set():
            for name in os.listdir('/proc'):
                if not name.isdigit() or name in known:
                    continue
                try:
                    with open('/proc/%s/cmdline' % name, 'rb') as handle:
                        known[name] = self.marker in handle.read()
                except OSError:
                    known[name] = False
            for pid in [p for p, match in known.items() if match]:
                try:
                    with open('/proc/%s/status' % pid) as handle:
                        for line in handle:
                            if line.startswith('VmHWM:'):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                                self.seen.add(pid)
                except OSError:
                    known[pid] = False
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(ctx, archives, reps=2, log=print):
    """``archives``: [(label, path on disk)]. Returns one dict per archive with medians of ``reps`` runs."""
    gnu_time = ensure_gnu_time(log)
    rows = []
    for label, path in archives:
        rel = os.path.join('bench', label, os.path.basename(ctx.mirror.path))
        ctx.mirror.publish(path, rel)
        url = '%s/%s' % (ctx.server.url, rel.replace('+', '%2B'))
        sha = ctx.mirror.sha256 if path == ctx.mirror.path else pbs_fixtures.sha256_file(path)
        row = {'label': label, 'archive_mib': os.path.getsize(path) / 1048576.0, 'driver_kib': [],
               'driver_imports_kib': [], 'time_kib': [], 'module_kib': [], 'module_wall': []}
        for rep in range(reps):
            root = os.path.join(ctx.workdir, 'runs', 'rss-%s-%d' % (label, rep))
            try:
                argv = [playbooks.TARGET_PYTHON, os.path.join(HERE, 'rss_driver.py'), '--shim', ctx.shim,
                        '--root', root, '--url', url, '--sha256', sha]
                if gnu_time:
                    argv = [gnu_time, '-f', 'GNU_TIME_MAXRSS_KIB=%M'] + argv
                sample = timed(argv)
                lines = sample.output.strip().splitlines()
                result = json.loads([line for line in lines if line.startswith('{')][-1])
                if not result['changed']:
                    raise RuntimeError('the driver did not install: %s' % sample.output)
                row['driver_kib'].append(result['rss_peak_kib'])
                row['driver_imports_kib'].append(result['rss_after_imports_kib'])
                for line in lines:
                    if line.startswith('GNU_TIME_MAXRSS_KIB='):
                        row['time_kib'].append(int(line.split('=', 1)[1]))
            finally:
                ctx.trash.discard(root)
            root = os.path.join(ctx.workdir, 'runs', 'rss-play-%s-%d' % (label, rep))
            try:
                with HighWaterPoller('AnsiballZ_pbs_python') as poller:
                    start = time.perf_counter()
                    sample = playbooks.run_playbook(ctx.plays['pbs_url'], dict(ctx.pbs_vars(root), bench_url=url,
                                                                               bench_sha256=sha))
                    row['module_wall'].append(time.perf_counter() - start)
                playbooks.expect(sample, changed=True)
                if poller.peak_kib:
                    row['module_kib'].append(poller.peak_kib)
            finally:
                ctx.trash.discard(root)
        log('memory %s (%.0f MiB archive): module VmHWM %s KiB, driver %s KiB (imports %s KiB), GNU time %s KiB'
            % (label, row['archive_mib'], row['module_kib'], row['driver_kib'], row['driver_imports_kib'],
               row['time_kib']))
        rows.append(row)
    return rows
