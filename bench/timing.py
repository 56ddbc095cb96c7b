"""Run one command and measure it: wall time, CPU time and peak RSS of its whole process tree.

``os.wait4`` returns the rusage of the child and of every descendant it waited for, so an
``ansible-playbook`` run includes its workers and the module processes they started.
"""

import os
import subprocess
import threading
import time


class Sample(object):
    def __init__(self, wall, cpu, maxrss_kib, rc, output):
        self.wall = wall
        self.cpu = cpu
        self.maxrss_kib = maxrss_kib
        self.rc = rc
        self.output = output

    def __repr__(self):
        return 'Sample(wall=%.3f, cpu=%.3f, rc=%d)' % (self.wall, self.cpu, self.rc)


class CommandFailed(RuntimeError):
    pass


def timed(argv, env=None, cwd=None, check=True, timeout=900):
    """Run ``argv`` to completion and return a Sample; output is captured, not shown."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    # Read output while waiting so a chatty command cannot block on a full pipe.
    chunks = []
    try:
        for block in iter(lambda: proc.stdout.read(65536), b''):
            chunks.append(block)
        dummy, status, usage = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    output = b''.join(chunks).decode('utf-8', 'replace')
    sample = Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode, output)
    if check and sample.rc != 0:
        raise CommandFailed('%s failed (rc %d):\n%s' % (' '.join(argv), sample.rc, output[-4000:]))
    return sample
