"""docs/reliability.md stays true: every test it names exists, and every test of the suite is named."""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(CHECKOUT, 'docs', 'reliability.md')


def collected():
    proc = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider',
                           os.path.relpath(HERE, CHECKOUT)], cwd=CHECKOUT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return set(line for line in proc.stdout.splitlines() if line.startswith('tests/reliability/'))


def test_the_doc_names_exactly_the_tests_of_the_suite():
    with open(DOC) as handle:
        named = set(re.findall(r'`(tests/reliability/[\w/.]+\.py::[^`]+)`', handle.read()))
    tests = collected()
    this = set(t for t in tests if t.startswith(os.path.relpath(__file__, CHECKOUT) + '::'))
    assert sorted(named - tests) == [], 'docs/reliability.md names tests that do not exist'
    assert sorted(tests - this - named) == [], 'tests missing from docs/reliability.md'
