"""Smoke run of the benchmark harness (bench/run.py --quick), so it cannot rot.

Benchmarks are not tests: this checks that a quick run completes and writes a report with every
row of parts 1 and 2 and every stage of the cold task holding a number, never what the numbers are.
"""

import os
import re
import subprocess
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROWS = [
    '`ansible-playbook`, one `ping` task',
    '`ansible-playbook`, one `pbs_python` task (cold, fresh install_root)',
    'module cost (pbs_python playbook − ping playbook)',
    '`uv python install` (`--mirror`, downloads JSON)',
    '`ansible-playbook`, `command: uv python install` (same flags)',
    '`ansible-playbook`, `get_url` + `file` + `unarchive`',
    'get_url + unarchive cost (playbook − ping playbook)',
    '`tar xzf` of a local copy',
    'ratio module / uv',
    'ratio pbs_python playbook / `command: uv` playbook',
    'ratio get_url + unarchive / module',
    '`ansible-playbook`, one `pbs_python` task, build already installed',
    'ratio no-op playbook / ping playbook',
    'module-only no-op cost (no-op playbook − ping playbook)',
]


def test_quick_run_writes_a_complete_report(tmp_path):
    out = tmp_path / 'docs'
    proc = subprocess.run([sys.executable, os.path.join(CHECKOUT, 'bench', 'run.py'), '--quick', '--out', str(out),
                           '--baseline', 'HEAD'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    text = (out / 'performance.md').read_text()
    for heading in ('## Machine', '## Results', '## Where the time goes', '## Method'):
        assert heading in text
    for fact in ('cores', 'CPU', 'target Python', 'ansible-core', 'uv', 'load average'):
        assert re.search(r'^\| %s[^|]* \| \S' % re.escape(fact), text, re.M), fact
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 8 and cells[0] in ('1', '2'):
            rows[cells[1].strip('*')] = cells[2].strip('*')
    for row in ROWS:
        assert row in rows, (row, sorted(rows))
        assert re.match(r'^-?\d+(\.\d+)?( s)?$', rows[row]), (row, rows[row])
        float(rows[row].split()[0])
    assert '| 3 |' in text and '| 4 |' in text  # memory and fleet rows say they were skipped
    stages = re.findall(r'^\| (controller|host) \| .+ \| (\S+) \|$', text, re.M)
    assert len(stages) == 11 and all(re.match(r'^\d+\.\d{3}$', value) for dummy, value in stages), stages
    # --baseline HEAD: the same code measured twice in the same rounds, each row a number.
    paired = re.findall(r'^\| `[0-9a-f]{7,}` \| (module cost, cold|no-op playbook)[^|]* \| (\S+) s \| (\S+) s \| (\S+) \| (\S+)',
                        text, re.M)
    assert [row[0] for row in paired] == ['module cost, cold', 'no-op playbook'], text[-3000:]
    assert all(float(value) for row in paired for value in row[1:]), paired
