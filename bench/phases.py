"""Where a cold ``pbs_python`` task spends its time beyond extraction: one figure per stage.

Two sides, each measured where it runs:

* the controller builds an AnsiballZ payload per module (``modify_module``: a dependency scan
  that parses every module_utils file, then a zip); its extra cost is the pbs_python payload's
  time minus ping's, with a fresh payload cache each time;
* the host: bench/phases_driver.py runs the install path on the target's Python with imports
  compiled from source, as from a payload, and times each of the installer's stages.

Together with the inflate time measured alone (the profile part) this gives the floor the module
cannot go under on this host: the stages no install can skip, plus inflating with this zlib.
"""

import json
import os
import statistics
import sys
import tempfile
import time
import warnings
import zipfile

import playbooks
from timing import timed

HERE = os.path.dirname(os.path.abspath(__file__))


def payload_seconds(module, reps):
    """Median seconds for the controller to build ``module``'s AnsiballZ payload from scratch."""
    import ansible.constants as C
    from ansible.executor import module_common
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader, module_loader
    from ansible.template import Templar

    with warnings.catch_warnings():  # a second call only warns that the loader is already set up
        warnings.simplefilter('ignore')
        init_plugin_loader(os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep))
    found = module_loader.find_plugin_with_context(module)
    templar = Templar(loader=DataLoader())
    times, size = [], 0
    for dummy in range(reps):
        C.DEFAULT_LOCAL_TMP = tempfile.mkdtemp(prefix='ansiballz-')  # an empty payload cache
        start = time.perf_counter()
        built = module_common.modify_module(
            module_name=found.resolved_fqcn, module_path=found.plugin_resolved_path, module_args={},
            templar=templar, task_vars={'ansible_python_interpreter': playbooks.TARGET_PYTHON},
            module_compression='ZIP_DEFLATED')
        times.append(time.perf_counter() - start)
        data = built[0] if isinstance(built, tuple) else built.b_module_data
        size = len(data)
    return statistics.median(times), size


def source_payload(shim, path):
    """A zip of the sources the module imports (ansible.module_utils, this collection's module_utils).

    Imported from a zip, Python compiles them on every run and keeps no bytecode, as it does with
    an AnsiballZ payload; the stdlib keeps its usual .pyc files in both cases. Package
    ``__init__`` files are empty stubs, as AnsiballZ writes them.
    """
    trees = [('ansible', 'module_utils'), ('ansible_collections', 'pbs', 'python', 'plugins', 'module_utils')]
    with zipfile.ZipFile(path, 'w') as payload:
        for parts in trees:
            for depth in range(1, len(parts) + 1):
                payload.writestr('/'.join(parts[:depth]) + '/__init__.py', '')
            top = os.path.join(shim, *parts)
            for directory, dummy, names in os.walk(top, followlinks=True):
                for name in names:
                    full = os.path.join(directory, name)
                    arcname = os.path.relpath(full, shim).replace(os.sep, '/')
                    if name.endswith('.py') and arcname not in payload.namelist():
                        payload.write(full, arcname)
    return path


def host_stages(ctx, reps):
    payload = source_payload(ctx.shim, os.path.join(ctx.workdir, 'phases-payload.zip'))
    runs = []
    for rep in range(reps):
        root = os.path.join(ctx.workdir, 'runs', 'phases-%d' % rep)
        try:
            sample = timed([playbooks.TARGET_PYTHON, os.path.join(HERE, 'phases_driver.py'), '--payload', payload,
                            '--root', root, '--mirror', ctx.server.url])
            result = json.loads(sample.output.strip().splitlines()[-1])
            if not result.pop('changed'):
                raise RuntimeError('the phases driver did not install: %s' % sample.output)
            runs.append(result)
        finally:
            ctx.trash.discard(root)
    return dict((key, statistics.median(run.get(key, 0.0) for run in runs)) for key in runs[0])


def measure(ctx, reps=5, log=print):
    ping, ping_bytes = payload_seconds('ansible.builtin.ping', reps)
    pbs, pbs_bytes = payload_seconds('pbs.python.pbs_python', reps)
    host = host_stages(ctx, reps)
    result = {'payload_ping': ping, 'payload_pbs': pbs, 'payload_extra': pbs - ping,
              'payload_bytes_ping': ping_bytes, 'payload_bytes_pbs': pbs_bytes, 'host': host, 'reps': reps}
    log('phases: payload +%.3fs; host %s' % (pbs - ping, ', '.join('%s %.3f' % kv for kv in sorted(host.items()))))
    return result


if __name__ == '__main__':  # for a look by hand: python bench/phases.py
    print(json.dumps({'payload_ping': payload_seconds('ansible.builtin.ping', 3),
                      'payload_pbs': payload_seconds('pbs.python.pbs_python', 3)}), file=sys.stdout)
