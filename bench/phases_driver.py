"""Time each stage of one cold install, on the target's Python, as the module runs it.

    /usr/bin/python3 bench/phases_driver.py --payload ZIP --root ROOT --mirror URL

The ansible and collection packages are imported from a zip of their sources (``--payload``,
made by bench/phases.py), so they compile on every run as from an AnsiballZ payload. The
installer's own functions are wrapped here (the collection's code is not instrumented), so the
stages are the module's real calls in their real order. Prints one JSON object of seconds.
Stdlib only: it runs on the host's interpreter.
"""

import argparse
import json
import ssl
import sys
import time

from rss_driver import run  # the same command runner the module's installer gets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--payload', required=True)
    parser.add_argument('--root', required=True)
    parser.add_argument('--mirror', required=True)
    parser.add_argument('--version', default='3.12.1')
    parser.add_argument('--build', default='20240107')
    args = parser.parse_args()
    sys.path.insert(0, args.payload)
    stages = {}

    def clock(name, start):
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start

    start = time.perf_counter()
    import ansible.module_utils.basic  # noqa: F401  # pylint: disable=unused-import  # ping pays this too
    clock('import_basic', start)
    start = time.perf_counter()
    from ansible_collections.pbs.python.plugins.module_utils import _build_prefix, _fetch, _install_root, _installer, _pin
    from ansible_collections.pbs.python.plugins.module_utils import _archive  # loaded by installs only (and _manifest with it)
    from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target
    clock('import_collection', start)
    start = time.perf_counter()
    import ansible.module_utils.urls  # noqa: F401  # pylint: disable=unused-import
    clock('import_urls', start)

    def timed(owner, attribute, name):
        original = getattr(owner, attribute)

        def wrapper(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock(name, begin)
        setattr(owner, attribute, wrapper)

    timed(_installer.Installer, '_sums', 'sha256sums')
    timed(_fetch.Fetcher, 'open', 'open')  # both requests: SHA256SUMS and the archive
    # Older revisions bind the extractor when the installer is imported; newer ones look it up at each install.
    timed(_installer if hasattr(_installer, 'extract_tar_gz') else _archive, 'extract_tar_gz', 'extract')
    timed(_build_prefix, 'relocate', 'relocate')
    timed(_install_root, 'write_markers', 'markers')
    timed(_install_root, 'interpreter_runs', 'check_interpreter')
    timed(_install_root, 'swap_in', 'swap_in')

    start = time.perf_counter()
    installer = _installer.Installer(root=args.root, target=detect_target('baseline'), link_dir=None,
                                     fetcher=_fetch.Fetcher({}, timeout=30, retries=0), check_mode=False, run=run)
    clock('detect_target', start)
    start = time.perf_counter()
    result = installer.present(_pin.Pin(version=args.version, build=args.build, variant='install_only',
                                        mirrors=[args.mirror]))
    clock('present', start)
    start = time.perf_counter()
    ssl.create_default_context()
    clock('tls_trust_store', start)  # what each request pays, http or https: ansible makes a context per request
    stages['changed'] = result['changed']
    print(json.dumps(stages))


if __name__ == '__main__':
    main()
