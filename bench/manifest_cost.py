"""Issue 14: what recording the tree manifest costs a cold install, measured with and without it.

    source "$(tools/bootstrap)" && python bench/manifest_cost.py [--rounds 15] [--baseline-ref REF] [--json out.json]

Two measurements, each interleaved round by round (rotated order, so load from other work on the
machine lands on both sides alike):

* **the cold install**: the same one-task ``pbs_python`` playbook as part 1 (fresh ``install_root``,
  loopback mirror, ``/usr/bin/python3`` as the target), run with this checkout (manifest recorded)
  and with the collection as it was before the manifest (``--baseline-ref``, default the last commit
  before ``_manifest.py`` existed, exported with ``git archive`` into its own collections path), plus a ``ping`` playbook for the module cost. The
  manifest's cost is the difference of the medians, and the ratio is that over the baseline's
  module cost (pbs_python playbook - ping playbook): the stricter of the two possible denominators;
* **the installer alone** (bench/phases_driver.py: ``Installer.present`` as the module runs it on
  ``/usr/bin/python3``, from a payload zip of each collection's sources: download from the loopback
  mirror, extraction, relocation, receipts and manifest, interpreter check, swap), each run a fresh
  process: wall time of ``present`` and CPU time of the process. Less noisy than playbooks on a
  shared machine; minimums are given beside medians, as the least disturbed runs;
* **the extraction pipeline alone** (``extract_tar_gz`` on ``/usr/bin/python3``, a local copy of the
  archive), with ``manifest={}`` and without: the hashing of each file as it is written, by itself.

As a part of bench/run.py (``manifest``) it reuses that run's mirror and playbooks.
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


def export_baseline(ref, directory):
    """A collections path holding the collection at git ``ref`` (the code before the manifest)."""
    target = os.path.join(directory, 'ansible_collections', 'pbs', 'python')
    os.makedirs(target)
    archive = subprocess.run(['git', '-C', CHECKOUT, 'archive', ref], check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', target], input=archive, check=True)
    commit = subprocess.run(['git', '-C', CHECKOUT, 'rev-parse', '--short', ref], check=True, capture_output=True,
                            text=True).stdout.strip()
    return directory, commit


def cold_rounds(plays, pbs_vars, baseline, rounds, workdir, trash, log=print):
    """{'ping': [...], 'with': [...], 'without': [...]} wall and CPU seconds per round."""
    import playbooks

    walls = {'ping': [], 'with': [], 'without': []}
    cpus = {'ping': [], 'with': [], 'without': []}
    count = [0]

    def once(what):
        if what == 'ping':
            return playbooks.expect(playbooks.run_playbook(plays['ping'], {}), changed=False)
        count[0] += 1
        root = os.path.join(workdir, 'runs', 'manifest-%s-%d' % (what, count[0]))
        try:
            env = {'ANSIBLE_COLLECTIONS_PATH': baseline} if what == 'without' else None
            sample = playbooks.expect(playbooks.run_playbook(plays['pbs'], pbs_vars(root), env=env), changed=True)
            receipts = [os.path.join(root, name, 'PBS_RECEIPT.json') for name in os.listdir(root) if not name.startswith('.')]
            with open(receipts[0]) as handle:
                recorded = 'tree_digest' in json.load(handle)
            if recorded != (what == 'with'):
                raise RuntimeError('the %s-manifest run %s a manifest' % (what, 'recorded' if recorded else 'lacks'))
            return sample
        finally:
            trash.discard(root)

    order = list(walls)
    for what in order:  # warm-up, untimed: payload caches, page cache
        once(what)
    for index in range(rounds):
        shift = index % len(order)
        for what in order[shift:] + order[:shift]:
            sample = once(what)
            walls[what].append(sample.wall)
            cpus[what].append(sample.cpu)
            os.sync()
        log('manifest round %d/%d: %s' % (index + 1, rounds, ', '.join(
            '%s %.2fs' % (what, walls[what][-1]) for what in order)))
    return walls, cpus


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


def summarize(walls, cpus):
    from stats import median

    med = dict((what, median(values)) for what, values in walls.items())
    cpu = dict((what, median(values)) for what, values in cpus.items())
    result = {'runs': walls, 'cpu_runs': cpus, 'ping': med['ping'], 'with': med['with'], 'without': med['without'],
              'cpu_with': cpu['with'], 'cpu_without': cpu['without']}
    result['module_cost_with'] = med['with'] - med['ping']
    result['module_cost_without'] = med['without'] - med['ping']
    result['extra'] = med['with'] - med['without']
    result['ratio'] = result['extra'] / result['module_cost_without']
    # Paired within each round (same load): the difference, then its median.
    result['extra_paired'] = median([w - o for w, o in zip(walls['with'], walls['without'])])
    result['extra_cpu'] = cpu['with'] - cpu['without']
    result['ratio_cpu'] = result['extra_cpu'] / (cpu['without'] - cpu['ping']) if cpu['without'] > cpu['ping'] else None
    return result


def measure(ctx, rounds=15, reps=9, baseline_ref=None, log=print, parts=('cold', 'installer', 'pipeline')):
    """The part for bench/run.py: ``ctx`` is its Context (mirror, server, playbooks, shim, trash)."""
    import playbooks

    baseline_ref = baseline_ref or before_manifest()
    baseline, commit = export_baseline(baseline_ref, os.path.join(ctx.workdir, 'baseline'))
    result = {'baseline_ref': baseline_ref, 'baseline_commit': commit, 'rounds': rounds}
    if 'installer' in parts:
        result['installer'] = installer_rounds(ctx, baseline, reps, log=log)
    if 'pipeline' in parts:
        scratch = os.path.join(ctx.workdir, 'trash', 'manifest-pipeline')  # deleted with the trash, at the end
        os.makedirs(scratch, exist_ok=True)
        result['pipeline'] = pipeline(ctx.local_copy, ctx.shim, scratch, reps, playbooks.TARGET_PYTHON)
        log('manifest, pipeline alone: %+.3fs wall, %+.3fs CPU' % (result['pipeline']['extra_wall'],
                                                                   result['pipeline']['extra_cpu']))
    if 'cold' in parts:
        result.update(summarize(*cold_rounds(ctx.plays, ctx.pbs_vars, baseline, rounds, ctx.workdir, ctx.trash,
                                             log=log)))
        log('manifest: cold %.3fs with, %.3fs without (%+.3fs, %.1f%% of the module cost %.3fs)' % (
            result['with'], result['without'], result['extra'], 100 * result['ratio'], result['module_cost_without']))
    return result


def table(result):
    """The section docs/performance.md carries (bench/report.py renders it from a full run too); only the parts measured."""
    rows = []
    if 'with' in result:
        rows += [
            ('`ansible-playbook`, one `ping` task', '%.3f s' % result['ping'], ''),
            ('`ansible-playbook`, one `pbs_python` task, cold, **without** the manifest (the collection at `%s`)'
             % result['baseline_commit'], '%.3f s' % result['without'], '%.2f' % result['cpu_without']),
            ('`ansible-playbook`, one `pbs_python` task, cold, **with** the manifest (this checkout)',
             '%.3f s' % result['with'], '%.2f' % result['cpu_with']),
            ('module cost without the manifest (pbs_python playbook − ping playbook)',
             '%.3f s' % result['module_cost_without'], ''),
            ('**the manifest\'s cost** (with − without, medians)', '**%+.3f s**' % result['extra'],
             '%+.2f' % result['extra_cpu']),
            ('… paired within each round (same load), median of the differences', '%+.3f s' % result['extra_paired'], ''),
            ('**ratio: manifest cost / module cost without it**', '**%.1f%%**' % (100 * result['ratio']),
             '%.1f%%' % (100 * result['ratio_cpu']) if result['ratio_cpu'] is not None else ''),
        ]
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
    parser.add_argument('--rounds', type=int, default=15, help='interleaved rounds of the cold playbooks')
    parser.add_argument('--baseline-ref', help='git ref of the collection without the manifest (default: the commit '
                        'before plugins/module_utils/_manifest.py was added)')
    parser.add_argument('--parts', default='cold,installer,pipeline', help='which measurements (comma-separated)')
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
        result = measure(ctx, rounds=args.rounds, reps=args.reps, baseline_ref=args.baseline_ref,
                         log=bench_run.log, parts=args.parts.split(','))
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
