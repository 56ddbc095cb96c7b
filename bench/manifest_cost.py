"""Issue 14: what recording the tree manifest costs a cold install, measured with and without it.

    source "$(tools/bootstrap)" && python bench/manifest_cost.py [--reps 9] [--baseline-ref REF] [--json out.json]

The whole cold playbook with and without the manifest is part 1 of bench/run.py with the collection
before the manifest as a ``--baseline`` (run.py adds it when this part runs): the same interleaved
rounds as every other contender. This file measures what those playbooks blur, each interleaved
(alternating order) against the collection before the manifest (``--baseline-ref``, default the
last commit before ``_manifest.py`` existed):

* **the installer alone** (bench/phases_driver.py: ``Installer.present`` as the module runs it on
  ``/usr/bin/python3``, from a payload zip of each collection's sources: download from the loopback
  mirror, extraction, relocation, receipts and manifest, interpreter check, swap), each run a fresh
  process: wall time of ``present`` and CPU time of the process. Less noisy than playbooks on a
  shared machine; minimums are given beside medians, as the least disturbed runs;
* **the extraction pipeline alone** (``extract_tar_gz`` on ``/usr/bin/python3``, a local copy of the
  archive), with ``manifest={}`` and without: the hashing of each file as it is written, by itself.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
if __name__ == '__main__' and '--driver' not in sys.argv:
    sys.path[:0] = [HERE, os.path.join(CHECKOUT, 'tests', 'support')]


def driver(shim, archive, workdir, reps):
    """On the target's Python: time extract_tar_gz with and without a manifest, interleaved; print JSON."""
    sys.path.insert(0, shim)
    from ansible_collections.pbs.python.plugins.module_utils._archive import extract_tar_gz

    samples = {'with': [], 'without': []}
    for rep in range(reps):
        for variant in (('with', 'without') if rep % 2 else ('without', 'with')):
            dest = os.path.join(workdir, '%s-%d' % (variant, rep))
            os.makedirs(dest)
            manifest = {} if variant == 'with' else None
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            with open(archive, 'rb') as handle:
                extract_tar_gz(handle.read, dest, manifest=manifest)
            wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            samples[variant].append((wall, cpu))
            if manifest is not None and not manifest:
                raise RuntimeError('extract_tar_gz recorded no manifest')
            os.sync()  # untimed: the next run does not pay for writing back this tree
    print(json.dumps(samples))


def pipeline(archive, shim, workdir, reps, python):
    out = subprocess.run([python, os.path.abspath(__file__), '--driver', '--shim', shim, '--archive', archive,
                          '--workdir', workdir, '--reps', str(reps)], check=True, capture_output=True, text=True)
    samples = json.loads(out.stdout.strip().splitlines()[-1])
    result = {}
    for variant, runs in samples.items():
        result[variant] = {'wall': statistics.median(w for w, c in runs), 'cpu': statistics.median(c for w, c in runs),
                           'walls': [w for w, c in runs], 'cpus': [c for w, c in runs]}
    result['extra_wall'] = result['with']['wall'] - result['without']['wall']
    result['extra_cpu'] = result['with']['cpu'] - result['without']['cpu']
    result['reps'] = reps
    return result


def before_manifest():
    """The newest commit without plugins/module_utils/_manifest.py: the collection just before the manifest."""
    first = subprocess.run(['git', '-C', CHECKOUT, 'log', '--diff-filter=A', '--format=%H', '--',
                            'plugins/module_utils/_manifest.py'], check=True, capture_output=True, text=True).stdout.split()
    if not first:
        raise RuntimeError('plugins/module_utils/_manifest.py is in no commit: give --baseline-ref')
    return first[-1] + '^'


def baseline_shim(baseline, directory):
    """An import path like bench/target_path.py's, with the baseline collection instead of the checkout."""
    import ansible

    os.makedirs(directory)
    os.symlink(os.path.dirname(os.path.abspath(ansible.__file__)), os.path.join(directory, 'ansible'))
    os.symlink(os.path.join(baseline, 'ansible_collections'), os.path.join(directory, 'ansible_collections'))
    return directory


def installer_rounds(ctx, baseline, reps, log=print):
    """Cold ``Installer.present`` runs of each collection, interleaved: wall of present, CPU of the process."""
    import phases
    import playbooks
    from timing import timed

    payloads = {'with': phases.source_payload(ctx.shim, os.path.join(ctx.workdir, 'manifest-with.zip')),
                'without': phases.source_payload(baseline_shim(baseline, os.path.join(ctx.workdir, 'baseline-shim')),
                                                 os.path.join(ctx.workdir, 'manifest-without.zip'))}
    runs = {'with': [], 'without': []}
    for rep in range(reps + 1):  # the first round warms the page cache, untimed
        for what in (('with', 'without') if rep % 2 else ('without', 'with')):
            root = os.path.join(ctx.workdir, 'runs', 'manifest-present-%s-%d' % (what, rep))
            try:
                sample = timed([playbooks.TARGET_PYTHON, os.path.join(HERE, 'phases_driver.py'), '--payload',
                                payloads[what], '--root', root, '--mirror', ctx.server.url])
                stages = json.loads(sample.output.strip().splitlines()[-1])
                recorded = any(name.startswith('cpython-') and os.path.exists(os.path.join(root, name, 'PBS_MANIFEST.json'))
                               for name in os.listdir(root))
                if not stages.pop('changed') or recorded != (what == 'with'):
                    raise RuntimeError('the %s-manifest installer run went wrong: %s' % (what, sample.output[-2000:]))
            finally:
                ctx.trash.discard(root)
            os.sync()
            if rep:
                runs[what].append(dict(stages, process_cpu=sample.cpu))
    result = {}
    for what, samples in runs.items():
        for key in ('present', 'extract', 'process_cpu'):
            values = [s[key] for s in samples]
            result['%s_%s' % (what, key)] = statistics.median(values)
            result['%s_%s_min' % (what, key)] = min(values)
    for key in ('present', 'extract', 'process_cpu'):
        for suffix in ('', '_min'):
            result['extra_%s%s' % (key, suffix)] = result['with_%s%s' % (key, suffix)] - result['without_%s%s' % (key, suffix)]
    result['reps'] = reps
    log('manifest, installer alone: present %.3fs with, %.3fs without (min %.3f, %.3f); process CPU %.3f, %.3f' % (
        result['with_present'], result['without_present'], result['with_present_min'], result['without_present_min'],
        result['with_process_cpu'], result['without_process_cpu']))
    return result


def measure(ctx, reps=9, log=print, parts=('installer', 'pipeline')):
    """The part for bench/run.py: ``ctx`` is its Context; its baselines hold the collection before the manifest."""
    import playbooks

    ref, baseline = ctx.baselines[-1]  # run.py (or main) put the collection before the manifest last
    result = {'baseline_ref': ref}
    if 'installer' in parts:
        result['installer'] = installer_rounds(ctx, baseline, reps, log=log)
    if 'pipeline' in parts:
        scratch = os.path.join(ctx.workdir, 'trash', 'manifest-pipeline')  # deleted with the trash, at the end
        os.makedirs(scratch, exist_ok=True)
        result['pipeline'] = pipeline(ctx.local_copy, ctx.shim, scratch, reps, playbooks.TARGET_PYTHON)
        log('manifest, pipeline alone: %+.3fs wall, %+.3fs CPU' % (result['pipeline']['extra_wall'],
                                                                   result['pipeline']['extra_cpu']))
    return result


def table(result):
    """The section docs/performance.md carries (bench/report.py renders it from a full run too); only the parts measured."""
    rows = []
    inst = result.get('installer')
    if inst:
        rows += [
            ('installer alone (`Installer.present`, fresh process, median of %d; min), **without** the manifest'
             % inst['reps'], '%.3f s; %.3f s' % (inst['without_present'], inst['without_present_min']),
             '%.3f; %.3f' % (inst['without_process_cpu'], inst['without_process_cpu_min'])),
            ('installer alone, **with** the manifest', '%.3f s; %.3f s' % (inst['with_present'], inst['with_present_min']),
             '%.3f; %.3f' % (inst['with_process_cpu'], inst['with_process_cpu_min'])),
            ('installer alone: **the manifest\'s cost** (median; min)', '**%+.3f s; %+.3f s**' % (
                inst['extra_present'], inst['extra_present_min']),
             '%+.3f; %+.3f' % (inst['extra_process_cpu'], inst['extra_process_cpu_min'])),
        ]
    pipe = result.get('pipeline')
    if pipe:
        rows += [
            ('`extract_tar_gz` alone, without a manifest (median of %d)' % pipe['reps'],
             '%.3f s' % pipe['without']['wall'], '%.3f' % pipe['without']['cpu']),
            ('`extract_tar_gz` alone, with a manifest (sha256 of every file as written)', '%.3f s' % pipe['with']['wall'],
             '%.3f' % pipe['with']['cpu']),
            ('pipeline: the manifest\'s cost', '%+.3f s' % pipe['extra_wall'], '%+.3f' % pipe['extra_cpu']),
        ]
    lines = ['| measurement | median | CPU s (median) |', '| --- | --- | --- |']
    lines += ['| %s | %s | %s |' % row for row in rows]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--driver', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--shim')
    parser.add_argument('--archive')
    parser.add_argument('--workdir')
    parser.add_argument('--reps', type=int, default=9, help='pipeline runs per variant')
    parser.add_argument('--baseline-ref', help='git ref of the collection without the manifest (default: the commit '
                        'before plugins/module_utils/_manifest.py was added)')
    parser.add_argument('--parts', default='installer,pipeline', help='which measurements (comma-separated)')
    parser.add_argument('--json')
    args = parser.parse_args(argv)
    if args.driver:
        driver(args.shim, args.archive, args.workdir, args.reps)
        return 0
    import run as bench_run

    workdir = args.workdir or tempfile.mkdtemp(prefix='pbs-bench-manifest-', dir='/var/tmp')
    os.makedirs(os.path.join(workdir, 'runs'), exist_ok=True)
    mirror = bench_run.Mirror(os.path.join(workdir, 'mirror'))
    server = mirror.serve('127.0.0.1')
    try:
        ctx = bench_run.Context(workdir, mirror, server)
        ref = args.baseline_ref or before_manifest()
        ctx.baselines = [(ref, bench_run.baseline_collection(ref, os.path.join(workdir, 'baseline')))]
        result = measure(ctx, reps=args.reps, log=bench_run.log, parts=args.parts.split(','))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result['date'] = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    result['load1'] = os.getloadavg()[0]
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(result, handle, indent=1)
    print(table(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
