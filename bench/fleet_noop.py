"""Issue 12: what a daily no-op run of the role costs on a fleet, against a play of one ``ping``.

Brings up N real SSH hosts (tests/fleet/fleet.py), converges the role with 1, 2 and 5 pins once,
then runs, interleaved round by round (each round in a rotated order, so load drifts hit all
alike), a ``ping`` play, the role's no-op with prune off and on, the role's module task alone, and
a ``ping`` play with the controller-side task any role with argument specs adds (its floor).
Reports medians and the ratios to ping: of the medians (the target's measure), the median of the
ratios within each round (paired), and of the CPU the whole machine spent (the controller and the
hosts share its cores, so the walls follow it). A measurement, never a test: run it alone on the machine.

    source "$(tools/bootstrap)" && python bench/fleet_noop.py --hosts 16 --rounds 5 [--json out.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(CHECKOUT, 'tests', 'support'), os.path.join(CHECKOUT, 'tests', 'fleet')]

import playbooks  # noqa: E402
from stats import median, ratio  # noqa: E402

# Five minors, one per local interpreter the test archives are built from (pbs_fixtures.REAL_TAGS).
BUILDS = [('3.12.1', '20240107'), ('3.11.7', '20240107'), ('3.10.13', '20240224'), ('3.9.18', '20240224'),
          ('3.8.18', '20240224')]
PIN_COUNTS = (1, 2, 5)


def role_play(pins, mirror, prune):
    installs = [dict(version=version, build=build, variant='install_only', default=index == 0)
                for index, (version, build) in enumerate(BUILDS[:pins])]
    return [{'hosts': 'all', 'gather_facts': False, 'roles': [{'role': 'pbs.python.pbs_python', 'vars': {
        'pbs_python_installs': installs, 'pbs_python_mirrors': [mirror], 'pbs_python_prune': prune,
        'pbs_python_install_root': '/opt/pbs-bench', 'pbs_python_link_dir': '/opt/pbs-bench-links'}}]}]


def module_play(pins, mirror):
    """The role's module call alone: one ``pbs_python`` task with the same pins and paths."""
    installs = role_play(pins, mirror, False)[0]['roles'][0]['vars']
    return [{'hosts': 'all', 'gather_facts': False, 'tasks': [{'name': 'pins', 'pbs.python.pbs_python': {
        'pins': installs['pbs_python_installs'], 'mirror': [mirror], 'install_root': installs['pbs_python_install_root'],
        'link_dir': installs['pbs_python_link_dir']}}]}]


PING = [{'hosts': 'all', 'gather_facts': False, 'tasks': [{'name': 'ping', 'ansible.builtin.ping': {}}]}]

# What any role adds to its one remote task when it has argument specs: the validation task
# ansible-core inserts, run on the controller once per host. (The role's interpreters are published by
# its install task on ansible-core 2.21+, which the benchmark runs; before 2.21 a set_fact adds one more.)
PING_AND_ROLE_TASKS = [{'hosts': 'all', 'gather_facts': False, 'tasks': [
    {'name': 'validate', 'ansible.builtin.validate_argument_spec': {
        'argument_spec': {'pbs_python_prune': {'type': 'bool'}}, 'provided_arguments': {'pbs_python_prune': False}}},
    {'name': 'ping', 'ansible.builtin.ping': {}}]}]


def machine_cpu():
    """CPU seconds the whole machine has spent (user, nice, system, irq, softirq): the controller and
    every host of the fleet share it, so a play's delta is all the CPU the play cost anywhere."""
    with open('/proc/stat') as handle:
        fields = [int(value) for value in handle.readline().split()[1:8]]
    return (sum(fields[:3]) + fields[5] + fields[6]) / float(os.sysconf('SC_CLK_TCK'))


def paired(runs, of, to):
    """The median over rounds of ``of``/``to`` within each round: what a load drift between rounds
    does to both cancels (the ratio of medians keeps it when the two medians come from different rounds)."""
    return median([a / b for a, b in zip(runs[of], runs[to])])


def measure(workdir, hosts, rounds, log=print, baseline=None):
    """{'hosts', 'rounds', 'rows': [{pins, ping, role, role_prune, ratio, ratio_prune, paired..., cpu..., runs}]}.

    ``baseline``: a collections path holding another release of the collection, whose role runs in
    the same rounds (rows gain baseline, baseline_prune and their ratios), for a before/after.
    """
    import fleet
    import pbs_fixtures
    from mirror_server import MirrorServer

    if os.geteuid() != 0:
        raise RuntimeError('the fleet needs root')
    mirror_root = os.path.join(workdir, 'mirror')
    pbs_fixtures.make_mirror(mirror_root, [dict(version=v, tag=t) for v, t in BUILDS])
    state = os.path.join(workdir, 'fleet')
    tag = 'n%d' % (os.getpid() % 100000)
    start = time.perf_counter()
    info = fleet.up(state, ['%s-h%02d' % (tag, index) for index in range(1, hosts + 1)])
    log('fleet: %d hosts up in %.1fs' % (hosts, time.perf_counter() - start))
    result = {'hosts': hosts, 'rounds': rounds, 'rows': [], 'baseline': baseline}
    try:
        server = MirrorServer(mirror_root, host=info['mirror_address']).start()
        try:
            args = ['--forks', str(hosts)]
            ping = playbooks.write(os.path.join(workdir, 'plays'), 'ping', PING)
            floor = playbooks.write(os.path.join(workdir, 'plays'), 'ping-and-role-tasks', PING_AND_ROLE_TASKS)
            for pins in PIN_COUNTS:
                plays = dict((prune, playbooks.write(os.path.join(workdir, 'plays'), 'role-%d-%s' % (pins, prune),
                                                     role_play(pins, server.url, prune))) for prune in (False, True))
                playbooks.expect(playbooks.run_playbook(plays[True], {}, inventory=info['inventory'], args=args),
                                 changed=None)  # converge (and prune the previous count's extra pins)
                plays.update(module=playbooks.write(os.path.join(workdir, 'plays'), 'module-%d' % pins,
                                                    module_play(pins, server.url)), floor=floor)
                walls = {'ping': [], False: [], True: [], 'module': [], 'floor': []}
                if baseline:
                    walls.update({'baseline': [], 'baseline_prune': []})
                    plays.update(baseline=plays[False], baseline_prune=plays[True])
                cpus = dict((what, []) for what in walls)
                env = {'ANSIBLE_COLLECTIONS_PATH': baseline}
                for index in range(rounds):
                    order = list(walls)
                    order = order[index % len(order):] + order[:index % len(order)]
                    for what in order:
                        before = machine_cpu()
                        sample = playbooks.run_playbook(ping if what == 'ping' else plays[what], {},
                                                        inventory=info['inventory'], args=args,
                                                        env=env if str(what).startswith('baseline') else None)
                        cpus[what].append(machine_cpu() - before)
                        playbooks.expect(sample, changed=False)
                        walls[what].append(sample.wall)
                server.reset()
                row = {'pins': pins, 'ping': median(walls['ping']), 'role': median(walls[False]),
                       'role_prune': median(walls[True]), 'module': median(walls['module']),
                       'floor': median(walls['floor']), 'runs': dict((str(k), v) for k, v in walls.items()),
                       'cpu_runs': dict((str(k), v) for k, v in cpus.items())}
                row['ratio'] = ratio(row['role'], row['ping'])
                row['ratio_prune'] = ratio(row['role_prune'], row['ping'])
                row['ratio_module'] = ratio(row['module'], row['ping'])
                row['ratio_floor'] = ratio(row['floor'], row['ping'])
                row['paired'], row['paired_prune'] = paired(walls, False, 'ping'), paired(walls, True, 'ping')
                row['cpu_ratio'] = ratio(median(cpus[False]), median(cpus['ping']))
                row['cpu_ratio_prune'] = ratio(median(cpus[True]), median(cpus['ping']))
                if baseline:
                    row.update(baseline=median(walls['baseline']), baseline_prune=median(walls['baseline_prune']))
                    row.update(baseline_ratio=ratio(row['baseline'], row['ping']),
                               baseline_ratio_prune=ratio(row['baseline_prune'], row['ping']),
                               baseline_paired=paired(walls, 'baseline', 'ping'),
                               baseline_paired_prune=paired(walls, 'baseline_prune', 'ping'))
                    log('%d pins, baseline: role %.2fs (%.2fx), role+prune %.2fs (%.2fx)' % (
                        pins, row['baseline'], row['baseline_ratio'], row['baseline_prune'], row['baseline_ratio_prune']))
                result['rows'].append(row)
                log('%d pins: ping %.2fs, role %.2fs (%.2fx, paired %.2fx, CPU %.2fx), role+prune %.2fs (%.2fx, paired '
                    '%.2fx, CPU %.2fx), module task %.2fs (%.2fx), ping + argument validation %.2fs (%.2fx)' % (
                        pins, row['ping'], row['role'], row['ratio'], row['paired'], row['cpu_ratio'],
                        row['role_prune'], row['ratio_prune'], row['paired_prune'], row['cpu_ratio_prune'],
                        row['module'], row['ratio_module'], row['floor'], row['ratio_floor']))
        finally:
            server.stop()
    finally:
        fleet.down(state)
    return result


def table(result):
    lines = ['| pins | ping play (s) | role no-op (s) | role/ping | paired | CPU | role no-op, prune on (s) '
             '| role/ping, prune on | paired | CPU | module task alone / ping | ping + argument validation / ping |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    nan = float('nan')  # columns a result from before them lacks
    for row in result['rows']:
        row = dict(dict.fromkeys(('ratio_module', 'ratio_floor', 'paired', 'paired_prune', 'cpu_ratio',
                                  'cpu_ratio_prune'), nan), **row)
        lines.append('| %(pins)d | %(ping).2f | %(role).2f | **%(ratio).2f** | %(paired).2f | %(cpu_ratio).2f '
                     '| %(role_prune).2f | **%(ratio_prune).2f** | %(paired_prune).2f | %(cpu_ratio_prune).2f '
                     '| %(ratio_module).2f | %(ratio_floor).2f |' % row)
    if any('baseline' in row for row in result['rows']):
        lines += ['', 'The baseline collection (%s), in the same rounds:' % result.get('baseline'), '',
                  '| pins | role no-op (s) | role/ping | paired | prune on (s) | role/ping, prune on | paired |',
                  '|---|---|---|---|---|---|---|']
        lines += ['| %(pins)d | %(baseline).2f | %(baseline_ratio).2f | %(baseline_paired).2f | %(baseline_prune).2f '
                  '| %(baseline_ratio_prune).2f | %(baseline_paired_prune).2f |'
                  % dict(dict.fromkeys(('baseline_paired', 'baseline_paired_prune'), nan), **row)
                  for row in result['rows'] if 'baseline' in row]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--hosts', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--json')
    parser.add_argument('--baseline', help='collections path of another release to measure in the same rounds')
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix='pbs-fleet-noop-', dir='/var/tmp')
    result = measure(workdir, args.hosts, args.rounds, baseline=args.baseline)
    print('%d hosts, medians of %d interleaved rounds\n\n%s' % (result['hosts'], result['rounds'], table(result)))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
