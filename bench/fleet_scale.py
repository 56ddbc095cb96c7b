"""Part 4: converge a fleet of 1, 2, 4, 8 and 16 real SSH hosts; time and mirror bytes per size.

The hosts come from tests/fleet/fleet.py (overlay root filesystems sharing one base, each in its
own network namespace with its own sshd), brought up once at the largest size that works; each
size then runs against the first N hosts with N forks and a fresh install_root, so every host
does a cold install every time. The mirror is a MirrorServer on the fleet's bridge address
serving the same archive as the other parts, and counts the bytes it sends.

Delivery modes: ``host`` (every host downloads from the mirror) always; ``controller`` (the
controller fetches once and copies to the hosts) when the module has a ``delivery`` option.
"""

import ast
import os
import re
import time

import yaml

import playbooks

SIZES = (1, 2, 4, 8, 16)


def delivery_modes(module_path):
    """('host',) or ('host', 'controller'), from the module's DOCUMENTATION."""
    with open(module_path) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets):
            options = (yaml.safe_load(node.value.value) or {}).get('options', {})
            choices = (options.get('delivery') or {}).get('choices') or []
            if 'controller' in choices:
                return ('host', 'controller')
    return ('host',)


def first_failure(output):
    """The first failure message of a playbook run, shortened for a table cell."""
    failed = sum(1 for line in output.splitlines() if re.match(r'^(fatal|failed): ', line))
    match = re.search(r'"msg": "((?:[^"\\]|\\.)*)"', output)
    message = match.group(1) if match else 'see the playbook output'
    return '%d host(s) failed, first: %s' % (failed, message[:240])


def _bring_up(fleet, state, tag, sizes, log):
    """Largest fleet that comes up, trying the sizes from the top; returns (info, skipped)."""
    skipped = {}
    for size in sorted(sizes, reverse=True):
        names = ['%s-h%02d' % (tag, index) for index in range(1, size + 1)]
        try:
            start = time.perf_counter()
            info = fleet.up(state, names)
            log('fleet: %d hosts up in %.1fs' % (size, time.perf_counter() - start))
            return info, skipped
        except Exception as exc:  # pylint: disable=broad-except  # a size that does not fit is reported
            skipped[size] = 'fleet of %d hosts did not come up: %s' % (size, str(exc).strip().splitlines()[-1][:200])
            log(skipped[size])
            try:
                fleet.down(state)
            except Exception as down_exc:  # pylint: disable=broad-except
                log('fleet down after a failed up: %s' % down_exc)
    return None, skipped


def measure(ctx, sizes=SIZES, log=print):
    """Returns {'modes', 'unavailable', 'skipped', 'error', 'runs': [{mode, hosts, wall, cpu, bytes, gets[, error]}]}."""
    import fleet  # tests/fleet, put on sys.path by run.py
    from mirror_server import MirrorServer

    modes = delivery_modes(ctx.module_path)
    result = {'modes': list(modes), 'runs': [], 'skipped': {}, 'error': None,
              'unavailable': [] if 'controller' in modes else ['controller']}
    if os.geteuid() != 0:
        result['error'] = 'the fleet needs root'
        return result
    state = os.path.join(ctx.workdir, 'fleet')
    tag = 'b%d' % (os.getpid() % 100000)  # network namespace names are machine-wide
    info, result['skipped'] = _bring_up(fleet, state, tag, sizes, log)
    if info is None:
        result['error'] = 'no fleet size came up'
        return result
    try:
        names = [host['name'] for host in info['hosts']]
        server = MirrorServer(ctx.mirror.root, host=info['mirror_address']).start()
        try:
            plays = dict((mode, playbooks.write(os.path.join(ctx.workdir, 'playbooks'), 'fleet-' + mode,
                                                playbooks.fleet_play(mode if len(modes) > 1 else None)))
                         for mode in modes)
            for index, size in enumerate(s for s in sorted(sizes) if s <= len(names)):
                order = list(modes) if index % 2 == 0 else list(reversed(modes))
                for mode in order:
                    hosts = names[:size]
                    server.reset()
                    sample = playbooks.run_playbook(plays[mode], {
                        'bench_version': ctx.version, 'bench_build': ctx.build, 'bench_mirror': server.url,
                        'bench_root': '/opt/pbs-bench/%s-%d' % (mode, size),
                        'bench_cache': os.path.join(ctx.workdir, 'runs', 'controller-cache-%d' % size)},
                        inventory=info['inventory'], args=['--limit', ','.join(hosts), '--forks', str(size)])
                    run = {'mode': mode, 'hosts': size, 'wall': sample.wall, 'cpu': sample.cpu,
                           'bytes': server.bytes_sent, 'gets': len(server.gets('.tar.gz'))}
                    try:
                        playbooks.expect(sample, changed=True, hosts=hosts)
                    except RuntimeError:  # a failed run is a finding: report it, go on with the others
                        run['error'] = first_failure(sample.output)
                    result['runs'].append(run)
                    log('fleet %s x%d: %.1fs, %.1f MB from the mirror, %d archive GETs%s'
                        % (mode, size, sample.wall, server.bytes_sent / 1e6, run['gets'],
                           '; FAILED: %s' % run['error'] if 'error' in run else ''))
        finally:
            server.stop()
    finally:
        fleet.down(state)
    return result
