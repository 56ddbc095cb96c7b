"""The machine a benchmark ran on: what the report must say so numbers can be compared later."""

import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time


def _first_line(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return 'unavailable (%s)' % exc
    return (out.stdout.strip().splitlines() or ['?'])[0]


def cpu_model():
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def memory_gib():
    try:
        with open('/proc/meminfo') as handle:
            kib = int(re.search(r'MemTotal:\s+(\d+)', handle.read()).group(1))
        return round(kib / 1048576.0, 1)
    except (OSError, AttributeError):
        return None


def ansible_core_version():
    try:
        from ansible.release import __version__
        return __version__
    except ImportError:
        return 'not importable'


def uv_binary():
    """The uv pinned in the venv (tools/requirements.txt), never one from elsewhere on PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), 'uv')
    return candidate if os.path.exists(candidate) else shutil.which('uv')


def create_latency_ms(directory, count=200):
    """Mean cost of creating one empty file: on a shared disk this is what varies most."""
    scratch = tempfile.mkdtemp(prefix='create-probe-', dir=directory)
    try:
        start = time.perf_counter()
        for index in range(count):
            os.close(os.open(os.path.join(scratch, 'f%d' % index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        return (time.perf_counter() - start) * 1000.0 / count
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def filesystem(directory):
    out = _first_line(['findmnt', '-n', '-o', 'FSTYPE,SOURCE', '--target', directory])
    return out if not out.startswith('unavailable') else '?'


def git_revision(checkout):
    rev = _first_line(['git', '-C', checkout, 'describe', '--always', '--dirty'])
    return rev if not rev.startswith(('fatal', 'unavailable')) else 'unknown'


def collect(checkout, workdir, target_python='/usr/bin/python3'):
    uv = uv_binary()
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'cores': os.cpu_count(),
        'cpu': cpu_model(),
        'memory_gib': memory_gib(),
        'kernel': platform.release(),
        'os': _first_line(['sh', '-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
        'controller_python': platform.python_version(),
        'target_python': _first_line([target_python, '-c', 'import platform; print(platform.python_version())']),
        'zlib': _first_line([target_python, '-c', 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)']),
        'ansible_core': ansible_core_version(),
        'uv': _first_line([uv, '--version']) if uv else 'not installed',
        'gnu_tar': _first_line(['tar', '--version']),
        'filesystem': filesystem(workdir),
        'revision': git_revision(checkout),
    }
