"""The main job, end to end, on this machine: `make demo`.

Builds a PBS mirror from a real CPython found here (real asset name, real tag, SHA256SUMS),
serves it on loopback, installs it with pbs.python.pbs_python into a temporary root, runs the
playbook again to show nothing changes and nothing is downloaded, and runs the interpreter.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'support'))

import pbs_fixtures  # noqa: E402
from mirror_server import MirrorServer  # noqa: E402

PLAYBOOK = """\
- name: Pin one exact PBS build on this host
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: {python}
  tasks:
    - name: Install CPython {minor} of PBS release {tag} from the demo mirror
      pbs.python.pbs_python:
        version: "{minor}"
        build: "{tag}"
        variant: install_only
        mirror: {mirror}
        install_root: {root}/opt/pbs-python
        link_dir: {root}/bin
        default: true
      register: pbs

    - name: Show what was installed
      ansible.builtin.debug:
        msg: "{{{{ pbs.python }}}} = Python {{{{ pbs.version }}}} build {{{{ pbs.build }}}}, sha256 {{{{ pbs.sha256[:16] }}}}..."

    - name: Run it through the python3 link
      ansible.builtin.command: "{root}/bin/python3 -c 'import ssl, sqlite3, sys; print(sys.prefix, ssl.OPENSSL_VERSION)'"
      changed_when: false
      register: run

    - name: Its prefix is the install, with its own ssl and sqlite3
      ansible.builtin.debug:
        var: run.stdout
"""


def banner(text):
    print('\n\033[1m== %s ==\033[0m' % text, flush=True)


def main():
    keep = '--keep' in sys.argv
    candidates = [v for v in ('3.12.1', '3.11.7', '3.13.0') if v in pbs_fixtures.find_interpreters()]
    version = candidates[0] if candidates else sorted(pbs_fixtures.find_interpreters())[-1]
    tag = pbs_fixtures.REAL_TAGS.get(version, '20240107')
    work = tempfile.mkdtemp(prefix='pbs-python-demo-')
    try:
        banner('Building a PBS mirror from the local CPython %s (release %s)' % (version, tag))
        sums = pbs_fixtures.make_mirror(os.path.join(work, 'mirror'), [dict(version=version, tag=tag)])
        for name, digest in sums.items():
            print('  %s/%s\n    sha256 %s' % (tag, name, digest))
        with MirrorServer(os.path.join(work, 'mirror')) as server:
            print('  serving it at %s' % server.url)
            playbook = os.path.join(work, 'demo.yml')
            python = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
            with open(playbook, 'w') as handle:
                handle.write(PLAYBOOK.format(python=python, minor=version.rsplit('.', 1)[0], tag=tag,
                                             mirror=server.url, root=work))
            for attempt, what in enumerate(('first run: installs', 'second run: nothing to do')):
                banner('ansible-playbook demo.yml (%s)' % what)
                server.reset()
                proc = subprocess.run(['ansible-playbook', '-i', 'localhost,', playbook, '--diff'], cwd=work, check=False)
                if proc.returncode:
                    return proc.returncode
                print('mirror requests during this run: %s' % (
                    ', '.join('%s %s %d' % r for r in server.requests) or 'none'))
                if attempt == 1 and server.requests:
                    print('unexpected: the no-op run used the network')
                    return 1
        banner('Result')
        print('  %s/bin/python3 -> %s' % (work, os.readlink(os.path.join(work, 'bin', 'python3'))))
        print('  playbook: %s' % playbook)
        return 0
    finally:
        if keep:
            print('  kept %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
