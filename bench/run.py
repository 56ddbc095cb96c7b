"""Benchmark pbs.python against uv, get_url + unarchive and tar; write docs/performance.md + .png.

    python bench/run.py [--quick] [--runs N] [--out DIR] [--skip memory,profile,fleet] [--keep]

Run it through ``make bench`` / ``tools/dev bench``, which set up the venv (ansible-core, the
pinned uv) and the collections path first. Parts (issue 6):

1. cold install on one host: module cost (pbs_python playbook − ping playbook) vs uv, get_url +
   unarchive and tar xzf;
2. no-op rerun: pbs_python on an installed host vs ping;
3. memory: peak RSS of the installing process, for the archive and one twice its size;
4. fleet: 1, 2, 4, 8, 16 hosts, converge time and mirror bytes, per delivery mode;
5. the tree manifest's cost (issue 14): the cold install with and without it (bench/manifest_cost.py);

then profiles the extractor ("where the time goes"). ``--quick`` runs parts 1 and 2 only, two
rounds, no warm-up, and never installs anything for the chart: the test suite's smoke run.
A full run takes about 5 to 10 minutes on 2 cores.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(CHECKOUT, 'tests', 'support'), os.path.join(CHECKOUT, 'tests', 'fleet')]

import big_archive  # noqa: E402
import chart  # noqa: E402
import contenders  # noqa: E402
import facts  # noqa: E402
import fleet_noop  # noqa: E402
import fleet_scale  # noqa: E402
import manifest_cost  # noqa: E402
import memory  # noqa: E402
import phases  # noqa: E402
import playbooks  # noqa: E402
import pyspy  # noqa: E402
import report  # noqa: E402
from mirror import ASSET, TAG, VERSION, Mirror  # noqa: E402
from stats import median, ratio  # noqa: E402
from target_path import make_shim  # noqa: E402
from timing import timed  # noqa: E402
from trash import Trash  # noqa: E402


def log(message):
    print('bench: %s' % message, file=sys.stderr, flush=True)


class Context(object):
    """What every part needs: the work directory, the mirror and server, the playbooks, uv."""

    def __init__(self, workdir, mirror, server):
        self.workdir = workdir
        self.trash = Trash(os.path.join(workdir, 'trash'))
        self.mirror = mirror
        self.server = server
        self.version, self.build = VERSION, TAG
        self.install_dir_name = ASSET[:-len('.tar.gz')]
        self.asset_url = mirror.asset_url(server)
        self.plays = playbooks.write_all(os.path.join(workdir, 'playbooks'))
        self.uv = facts.uv_binary()
        self.uv_json = mirror.uv_downloads_json(os.path.join(workdir, 'uv-downloads.json'))
        self.local_copy = os.path.join(workdir, 'local-copy.tar.gz')
        shutil.copyfile(mirror.path, self.local_copy)
        self.shim = make_shim(os.path.join(workdir, 'shim'))
        self.module_path = os.path.join(CHECKOUT, 'plugins', 'modules', 'pbs_python.py')

    baselines = ()  # (revision, collections path) of other revisions measured in the same rounds (--baseline)

    def pbs_vars(self, root):
        return {'bench_version': self.version, 'bench_build': self.build, 'bench_mirror': self.server.url,
                'bench_root': root}


def io_pressure():
    try:
        with open('/proc/pressure/io') as handle:
            return handle.readline().split()[2].split('=')[1] + '%'
    except (OSError, IndexError):
        return None


def part_cold_and_noop(ctx, rounds, warmup):
    by_name = contenders.run_rounds(ctx, rounds, warmup=warmup, log=log)
    walls = dict((name, [s.wall for s in c.samples]) for name, c in by_name.items())
    ping = median(walls['ping'])
    module = median(walls['module_cold'])
    get_url = median(walls['get_url_unarchive'])
    cold = {
        'runs': walls,
        'cpu': dict((name, [s.cpu for s in c.samples]) for name, c in by_name.items()),
        'ping': ping, 'module_playbook': module, 'module_cost': module - ping,
        'uv': median(walls['uv']), 'get_url_unarchive_playbook': get_url, 'get_url_unarchive_cost': get_url - ping,
        'tar': median(walls['tar']),
    }
    cold['module_vs_uv'] = ratio(cold['module_cost'], cold['uv'])
    # The same ratio within each round: contenders of one round ran back to back, under the same load.
    cold['module_vs_uv_rounds'] = [(module - ping) / uv for module, ping, uv in
                                   zip(walls['module_cold'], walls['ping'], walls['uv']) if uv]
    cold['get_url_vs_module'] = ratio(cold['get_url_unarchive_cost'], cold['module_cost'])
    # What a uv user would write in a playbook instead: whole playbooks compared, paired per round too.
    cold['command_uv_playbook'] = median(walls['command_uv'])
    cold['module_vs_command_uv'] = ratio(module, cold['command_uv_playbook'])
    cold['module_vs_command_uv_rounds'] = [m / c for m, c in zip(walls['module_cold'], walls['command_uv']) if c]
    cold['module_vs_tar'] = ratio(cold['module_cost'], cold['tar'])
    # Before/after, paired: every revision ran in every round, under the same load.
    cold['baselines'] = [{
        'revision': revision,
        'module_cost': median(walls['baseline%d_module_cold' % index]) - ping,
        'noop': median(walls['baseline%d_module_noop' % index]),
        'cold_rounds': [new / old for new, old in zip(walls['module_cold'], walls['baseline%d_module_cold' % index])],
        'noop_rounds': [new / old for new, old in zip(walls['module_noop'], walls['baseline%d_module_noop' % index])],
    } for index, (revision, dummy) in enumerate(ctx.baselines)]
    noop_median = median(walls['module_noop'])
    noop = {'runs': walls, 'ping': ping, 'noop': noop_median, 'noop_vs_ping': ratio(noop_median, ping),
            'delta': noop_median - ping}
    return cold, noop


def part_memory(ctx, reps):
    archives = [('1x', ctx.mirror.path)]
    log('building (or reusing) the 2x archive')
    archives.append(('2x', big_archive.double_archive(ctx.mirror.path)))
    rows = memory.measure(ctx, archives, reps=reps, log=log)
    for row in rows:
        for key, mib in (('module_kib', 'module'), ('driver_kib', 'driver'), ('time_kib', 'time'),
                         ('driver_imports_kib', 'imports')):
            values = [v / 1024.0 for v in row[key]]
            row[mib + '_mibs'] = values
            row[mib + '_mib'] = median(values)
    return rows


def part_profile(ctx, reps):
    scratch = os.path.join(ctx.workdir, 'trash', 'profile')  # the script leaves its trees there
    os.makedirs(scratch, exist_ok=True)
    argv = [playbooks.TARGET_PYTHON, os.path.join(HERE, 'profile_extract.py'), '--shim', ctx.shim,
            '--archive', ctx.local_copy, '--workdir', scratch]
    sample = timed(argv + ['--reps', str(reps)], timeout=900)
    prof = json.loads(sample.output.strip().splitlines()[-1])
    spy = pyspy.ensure(log=log)
    if spy:
        summary, rate = pyspy.profile(spy, argv + ['--once'], os.path.join(ctx.workdir, 'py-spy.txt'),
                                      [os.path.join(CHECKOUT, 'plugins', 'module_utils', '_archive.py')])
        if summary:
            prof['pyspy'], prof['pyspy_rate'] = summary, rate
        else:
            prof['pyspy_error'] = rate
    else:
        prof['pyspy_error'] = 'py-spy could not be installed'
    log('profile: %s' % ', '.join('%s %.3fs' % kv for kv in sorted(prof['stages'].items())))
    return prof


def short_revision(rev):
    """The abbreviated commit ``rev`` names, for the report."""
    return subprocess.run(['git', '-C', CHECKOUT, 'rev-parse', '--short', rev], stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout.strip()


def baseline_collection(rev, directory):
    """A collections path holding this repository's collection as of ``rev`` (``git archive``)."""
    tree = os.path.join(directory, 'ansible_collections', 'pbs', 'python')
    os.makedirs(tree)
    archive = subprocess.run(['git', '-C', CHECKOUT, 'archive', '--format=tar', rev], stdout=subprocess.PIPE,
                             check=True).stdout
    subprocess.run(['tar', '-x', '-C', tree], input=archive, check=True)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--quick', action='store_true', help='parts 1 and 2 and one run of the stages, 2 rounds: a smoke run')
    parser.add_argument('--runs', type=int, help='rounds for parts 1 and 2 (default 7, --quick 2)')
    parser.add_argument('--out', default=os.path.join(CHECKOUT, 'docs'), help='where performance.md/.png go')
    parser.add_argument('--skip', default='', help='comma-separated parts to skip: cold (parts 1 and 2), memory, '
                        'profile, phases, fleet, fleet_noop, manifest')
    parser.add_argument('--fleet-sizes', default=','.join(str(s) for s in fleet_scale.SIZES))
    parser.add_argument('--fleet-noop-hosts', type=int, default=16, help='hosts for the role no-op vs ping part')
    parser.add_argument('--fleet-noop-rounds', type=int, default=9,
                        help='rounds for the role no-op vs ping part (its ping play alone spreads by 10%%)')
    parser.add_argument('--workdir', help='scratch directory (default: a new one under /var/tmp)')
    parser.add_argument('--keep', action='store_true', help='keep the scratch directory')
    parser.add_argument('--json', help='also write the raw results here')
    parser.add_argument('--baseline', metavar='REV', action='append', default=[],
                        help='a git revision of this repository whose module runs in the same rounds (cold, no-op; '
                        'the first one also in the fleet no-op), for a paired before/after; may be repeated')
    args = parser.parse_args(argv)
    rounds = args.runs or (2 if args.quick else 7)
    skip = set(filter(None, args.skip.split(',')))
    if args.quick:
        skip |= {'memory', 'profile', 'fleet', 'fleet_noop', 'manifest'}

    workdir = args.workdir or tempfile.mkdtemp(prefix='pbs-bench-', dir='/var/tmp' if os.path.isdir('/var/tmp') else None)
    os.makedirs(os.path.join(workdir, 'runs'), exist_ok=True)
    started = time.time()
    results = {'quick': args.quick, 'rounds': rounds, 'version': VERSION}
    load = {'load1': [os.getloadavg()[0]], 'create_ms': [facts.create_latency_ms(os.path.join(workdir, 'runs'))],
            'io_pressure': [io_pressure()]}
    results['load'] = load
    results['facts'] = facts.collect(CHECKOUT, workdir)
    log('machine: %(cores)s cores, %(cpu)s, target Python %(target_python)s, ansible-core %(ansible_core)s, %(uv)s'
        % results['facts'])
    server = None
    try:
        mirror = Mirror(os.path.join(workdir, 'mirror'))
        results['archive_mb'] = mirror.size / 1e6
        server = mirror.serve('127.0.0.1')
        ctx = Context(workdir, mirror, server)
        revisions = list(args.baseline)
        if 'manifest' not in skip:  # the manifest's cost: the collection just before it, in the same rounds
            revisions.append(manifest_cost.before_manifest())
        ctx.baselines = [(short_revision(rev), baseline_collection(rev, os.path.join(workdir, 'baseline%d' % index)))
                         for index, rev in enumerate(revisions)]
        log('mirror %s serves %s (%.1f MB)' % (server.url, ASSET, mirror.size / 1e6))

        if 'cold' not in skip:
            results['cold'], results['noop'] = part_cold_and_noop(ctx, rounds, warmup=not args.quick)
        load['load1'].append(os.getloadavg()[0])
        sizes = [int(s) for s in args.fleet_sizes.split(',') if s]
        parts = (('memory', lambda: part_memory(ctx, reps=2)), ('profile', lambda: part_profile(ctx, reps=3)),
                 ('phases', lambda: phases.measure(ctx, reps=1 if args.quick else 5, log=log)),
                 ('manifest', lambda: manifest_cost.measure(ctx, log=log)),
                 ('fleet', lambda: fleet_scale.measure(ctx, sizes=sizes, log=log)),
                 ('fleet_noop', lambda: fleet_noop.measure(os.path.join(workdir, 'fleet-noop'), args.fleet_noop_hosts,
                                                           args.fleet_noop_rounds, log=log,
                                                           baseline=ctx.baselines[0][1] if ctx.baselines else None)))
        for name, measure in parts:
            if name in skip:
                results[name + '_skipped'] = 'skipped (--quick)' if args.quick else 'skipped (--skip %s)' % name
                continue
            try:
                results[name] = measure()
                if name == 'fleet_noop' and ctx.baselines:
                    results[name]['baseline'] = ctx.baselines[0][0]  # the revision, not its scratch path
            except Exception as exc:  # pylint: disable=broad-except  # one broken part must not lose the others
                log('%s failed:\n%s' % (name, traceback.format_exc()))
                results[name + '_skipped'] = 'failed: %s' % str(exc).strip().splitlines()[0][:300]
    finally:
        if server is not None:
            server.stop()
        load['load1'].append(os.getloadavg()[0])
        load['create_ms'].append(facts.create_latency_ms(os.path.join(workdir, 'runs')))
        load['io_pressure'].append(io_pressure())
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not all(load['io_pressure']):
        load.pop('io_pressure')

    os.makedirs(args.out, exist_ok=True)
    plt, chart_error = chart.ensure(install=not args.quick, log=log)
    chart_name = None
    if plt is not None:
        try:
            chart.draw(os.path.join(args.out, 'performance.png'), results, plt)
            chart_name = 'performance.png'
        except Exception as exc:  # pylint: disable=broad-except  # the report matters more than the chart
            chart_error = 'drawing failed: %s' % exc
    report_path = os.path.join(args.out, 'performance.md')
    with open(report_path, 'w') as handle:
        handle.write(report.render(results, chart_name, chart_error))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(results, handle, indent=1, default=str)
    cold, noop = results.get('cold'), results.get('noop')
    if cold and noop:
        log('module cost %.2fs, uv %.2fs (ratio %.2f), get_url+unarchive cost %.2fs (%.1fx the module), tar %.2fs; '
            'no-op %.2fs vs ping %.2fs (ratio %.2f)' % (
                cold['module_cost'], cold['uv'], cold['module_vs_uv'] or 0, cold['get_url_unarchive_cost'],
                cold['get_url_vs_module'] or 0, cold['tar'], noop['noop'], noop['ping'], noop['noop_vs_ping'] or 0))
    log('wrote %s%s in %.0fs' % (report_path, ' and performance.png' if chart_name else '', time.time() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
