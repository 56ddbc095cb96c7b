"""Run the module's install path (Installer.present) outside Ansible, on the target's Python.

    /usr/bin/python3 bench/rss_driver.py --shim DIR --root ROOT (--mirror URL | --url URL --sha256 HEX)

``--shim`` is a directory holding ``ansible`` (the controller's ansible package, for
``ansible.module_utils``) and ``ansible_collections`` (this checkout as pbs.python), made by
bench/target_path.py. Prints one JSON line: peak RSS after the imports and after the install
(``ru_maxrss`` of this process, KiB), wall time and the installer's result. Stdlib only, so the
measured process holds exactly what the module process holds, minus AnsibleModule's argument
handling.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def run(argv):
    """Run a command as the module's interpreter runner does (no PYTHONHOME/PYTHONPATH leaking in)."""
    env = dict(os.environ, PYTHONHOME='', PYTHONPATH='')
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--shim', required=True)
    parser.add_argument('--root', required=True)
    parser.add_argument('--mirror')
    parser.add_argument('--url')
    parser.add_argument('--sha256')
    parser.add_argument('--version', default='3.12.1')
    parser.add_argument('--build', default='20240107')
    args = parser.parse_args()
    sys.path.insert(0, args.shim)

    from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
    from ansible_collections.pbs.python.plugins.module_utils._installer import Installer
    from ansible_collections.pbs.python.plugins.module_utils._pin import Pin
    from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target

    after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.time()
    installer = Installer(root=args.root, target=detect_target('baseline'), link_dir=None,
                          fetcher=Fetcher({}, timeout=30, retries=0), check_mode=False, run=run)
    request = Pin(version=args.version, build=args.build, variant='install_only',
                  mirrors=[args.mirror] if args.mirror else [], url=args.url, sha256=args.sha256)
    result = installer.present(request)
    print(json.dumps({
        'rss_after_imports_kib': after_imports,
        'rss_peak_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        'wall': time.time() - start,
        'changed': result['changed'],
        'path': result['path'],
    }))


if __name__ == '__main__':
    main()
