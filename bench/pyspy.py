"""Sample every thread of one extraction with py-spy, when it can be installed (optional).

cProfile sees only the thread it runs in; the extractor has three. py-spy samples all of them
from outside, without changing the code, and counts only samples where a thread is active
(not blocked on a lock or a queue), so its per-thread totals say which stage is busy.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def ensure(log=print):
    found = shutil.which('py-spy') or os.path.join(os.path.dirname(sys.executable), 'py-spy')
    if os.path.exists(found):
        return found
    log('installing py-spy into the venv (bench/requirements.txt)')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                    '-r', os.path.join(HERE, 'requirements.txt')], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = os.path.join(os.path.dirname(sys.executable), 'py-spy')
    return found if os.path.exists(found) else None


def _thread_role(frames):
    text = ';'.join(frames)
    if '_fetch' in text:
        return 'read + sha256 thread'
    if '_inflate' in text:
        return 'inflate thread'
    return 'main thread (tar writer)'


QUEUE_FRAMES = ('Condition.wait', 'Condition.notify', 'Condition.__enter__', 'Condition.__exit__', 'Queue.get',
                'Queue.put', 'Event.is_set', 'Lock.acquire')


def _describe(leaf, sources):
    """'_Extractor.regular (_archive.py:336)' -> '`fd = os.open(...)` (_archive.py:336)'."""
    match = re.match(r'^(\S+) \((?:.*/)?([^/:]+):(\d+)\)$', leaf)
    if not match:
        return '(no Python frame)' if leaf.strip() in ('', '?') else leaf
    function, filename, line = match.group(1), match.group(2), int(match.group(3))
    if function in QUEUE_FRAMES:
        return 'waiting on a queue'
    lines = sources.get(filename)
    if lines and 0 < line <= len(lines):
        return '`%s` (%s:%d)' % (lines[line - 1].strip(), filename, line)
    return '%s (%s:%d)' % (function, filename, line)


def summarize(raw_path, source_files=()):
    """{role: {'samples': n, 'top': [(what, samples)]}} from py-spy's raw (collapsed) output.

    ``source_files`` lets a leaf frame be shown as its line of code.
    """
    sources = {}
    for path in source_files:
        with open(path) as handle:
            sources[os.path.basename(path)] = handle.read().splitlines()
    roles = collections.defaultdict(lambda: {'samples': 0, 'top': collections.Counter()})
    with open(raw_path) as handle:
        for line in handle:
            line = line.rstrip('\n')
            match = re.match(r'^(.*) (\d+)$', line)
            if not match:
                continue
            frames, count = match.group(1).split(';'), int(match.group(2))
            if frames and frames[0].startswith(('thread ', 'process ')):
                frames = [f for f in frames if not f.startswith(('thread ', 'process '))]
            role = _thread_role(frames)
            leaf = _describe(frames[-1], sources) if frames else '(no Python frame)'
            roles[role]['samples'] += count
            roles[role]['top'][leaf] += count
    return dict((role, {'samples': data['samples'], 'top': data['top'].most_common(4)})
                for role, data in roles.items())


def profile(py_spy, argv, out_path, source_files=(), rate=250):
    """Run ``argv`` under ``py-spy record``; returns (summary, rate) or (None, reason)."""
    proc = subprocess.run([py_spy, 'record', '--threads', '--rate', str(rate),
                           '--format', 'raw', '--output', out_path, '--'] + argv,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if proc.returncode != 0 or not os.path.exists(out_path):
        return None, 'py-spy failed: %s' % proc.stdout.strip()[-300:]
    summary = summarize(out_path, source_files)
    for line in proc.stdout.splitlines():  # the profiled run prints {"pipeline": seconds}
        if line.startswith('{'):
            summary['_wall'] = json.loads(line)['pipeline']
    return summary, rate
