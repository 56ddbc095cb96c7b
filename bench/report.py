"""docs/performance.md from one run's results: machine facts, the table, where the time goes."""

import fleet_noop
import manifest_cost
from stats import fmt, median, ratio

TARGETS = {
    'module_vs_uv': 1.15,         # module cost / uv time, at most (issue 12)
    'get_url_vs_module': 4.0,     # get_url + unarchive cost / module cost, at least
    'noop_vs_ping': 1.2,          # no-op playbook / ping playbook, at most
    'rss_mib': 64.0,              # module process peak RSS, at most
}


def _verdict(value, limit, at_most=True):
    if value is None:
        return 'n/a'
    return 'met' if (value <= limit if at_most else value >= limit) else '**not met**'


def _range(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return 'n/a'
    return '%.*f–%.*f' % (digits, min(values), digits, max(values))


def _machine(results):
    facts = results['facts']
    load = results['load']
    rows = [
        ('date', facts['date']),
        ('cores', facts['cores']),
        ('CPU', facts['cpu']),
        ('memory', '%s GiB' % facts['memory_gib']),
        ('OS, kernel', '%s, %s' % (facts['os'], facts['kernel'])),
        ('controller Python (ansible-playbook, uv)', facts['controller_python']),
        ('target Python (module, `/usr/bin/python3`)', facts['target_python']),
        ("target Python's zlib (runtime version)", facts.get('zlib', '')),
        ('ansible-core', facts['ansible_core']),
        ('uv', facts['uv']),
        ('GNU tar', facts['gnu_tar']),
        ('file system of the work directory', facts['filesystem']),
        ('checkout', facts['revision']),
        ('load average (1 min) at the start, after parts 1–2, at the end (after the fleet, which loads the machine '
         'itself)', ', '.join('%.2f' % v for v in load['load1'])),
        ('cost of creating one empty file (probe of 200) at start, end', ', '.join('%.2f ms' % v for v in load['create_ms'])),
    ]
    if load.get('io_pressure'):
        rows.append(('I/O pressure (PSI "some" avg60) at start, end', ', '.join(load['io_pressure'])))
    lines = ['| fact | value |', '| --- | --- |']
    lines += ['| %s | %s |' % (key, value) for key, value in rows]
    return lines


def _row(part, what, median=None, runs=None, cpu=None, target='', verdict='', unit=' s', digits=2, bold=False):
    shown = '%s%s' % (fmt(median, digits), unit) if median is not None else 'n/a'
    if bold:
        what, shown = '**%s**' % what, '**%s**' % shown
    return '| %s | %s | %s | %s | %s | %s | %s | %s |' % (
        part, what, shown, _range(runs, digits) if runs else '', fmt(cpu, 2) if cpu is not None else '',
        len(runs) if runs else '', target, verdict)


def _table(results):
    lines = ['| part | measurement | median | runs (min–max) | CPU s (median; for ratios, the CPU ratio) | n | target | verdict |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    cold = results.get('cold')
    if cold:
        runs, cpu = cold['runs'], dict((k, median(v)) for k, v in cold['cpu'].items())
        lines += [
            _row(1, '`ansible-playbook`, one `ping` task', cold['ping'], runs['ping'], cpu['ping']),
            _row(1, '`ansible-playbook`, one `pbs_python` task (cold, fresh install_root)', cold['module_playbook'],
                 runs['module_cold'], cpu['module_cold']),
            _row(1, 'module cost (pbs_python playbook − ping playbook)', cold['module_cost'],
                 cpu=cpu['module_cold'] - cpu['ping'], bold=True),
            _row(1, '`uv python install` (`--mirror`, downloads JSON)', cold['uv'], runs['uv'], cpu['uv']),
            _row(1, '`ansible-playbook`, `command: uv python install` (same flags)', cold.get('command_uv_playbook'),
                 runs.get('command_uv'), cpu.get('command_uv')),
            _row(1, '`ansible-playbook`, `get_url` + `file` + `unarchive`', cold['get_url_unarchive_playbook'],
                 runs['get_url_unarchive'], cpu['get_url_unarchive']),
            _row(1, 'get_url + unarchive cost (playbook − ping playbook)', cold['get_url_unarchive_cost'],
                 cpu=cpu['get_url_unarchive'] - cpu['ping']),
            _row(1, '`tar xzf` of a local copy', cold['tar'], runs['tar'], cpu['tar']),
            _row(1, 'ratio module / uv', cold['module_vs_uv'], unit='', cpu=ratio(cpu['module_cold'] - cpu['ping'], cpu['uv']),
                 target='≤ %.2f' % TARGETS['module_vs_uv'],
                 verdict=_verdict(cold['module_vs_uv'], TARGETS['module_vs_uv']), bold=True),
            _row(1, 'ratio module / uv within each round (paired: same load)',
                 median(cold['module_vs_uv_rounds']) if cold.get('module_vs_uv_rounds') else None,
                 cold.get('module_vs_uv_rounds'), unit=''),
            _row(1, 'ratio pbs_python playbook / `command: uv` playbook', cold.get('module_vs_command_uv'), unit='',
                 cpu=ratio(cpu['module_cold'], cpu['command_uv']) if 'command_uv' in cpu else None),
            _row(1, 'ratio pbs_python playbook / `command: uv` playbook within each round (paired)',
                 median(cold['module_vs_command_uv_rounds']) if cold.get('module_vs_command_uv_rounds') else None,
                 cold.get('module_vs_command_uv_rounds'), unit=''),
            _row(1, 'ratio get_url + unarchive / module', cold['get_url_vs_module'], unit='',
                 cpu=ratio(cpu['get_url_unarchive'] - cpu['ping'], cpu['module_cold'] - cpu['ping']),
                 target='≥ %.0f' % TARGETS['get_url_vs_module'],
                 verdict=_verdict(cold['get_url_vs_module'], TARGETS['get_url_vs_module'], at_most=False), bold=True),
            _row(1, 'ratio module / `tar xzf`', cold['module_vs_tar'], unit='', cpu=ratio(cpu['module_cold'] - cpu['ping'], cpu['tar'])),
        ]
    noop = results.get('noop')
    if noop:
        runs = noop['runs']
        noop_cpu = median(cold['cpu']['module_noop']) if cold else None
        lines += [
            _row(2, '`ansible-playbook`, one `pbs_python` task, build already installed', noop['noop'],
                 runs['module_noop'], noop_cpu),
            _row(2, 'ratio no-op playbook / ping playbook', noop['noop_vs_ping'], unit='',
                 cpu=ratio(noop_cpu, median(cold['cpu']['ping'])) if cold else None,
                 target='≤ %.1f' % TARGETS['noop_vs_ping'], verdict=_verdict(noop['noop_vs_ping'], TARGETS['noop_vs_ping']),
                 bold=True),
            _row(2, 'module-only no-op cost (no-op playbook − ping playbook)', noop['delta'], digits=3,
                 cpu=(noop_cpu - median(cold['cpu']['ping'])) if cold else None),
        ]
    memory = results.get('memory')
    if memory:
        for row in memory:
            lines += [
                _row(3, 'peak RSS of the module process (`VmHWM`, real playbook), %s archive (%.0f MiB)' % (
                    row['label'], row['archive_mib']), row['module_mib'], row['module_mibs'], unit=' MiB', digits=1,
                    target='≤ %.0f MiB' % TARGETS['rss_mib'], verdict=_verdict(row['module_mib'], TARGETS['rss_mib'])),
                _row(3, 'peak RSS of the install path alone (`Installer.present` under GNU time), %s archive' % row['label'],
                     row['time_mib'] or row['driver_mib'], row['time_mibs'] or row['driver_mibs'], unit=' MiB', digits=1),
                _row(3, '… of which the imports, before installing, %s archive' % row['label'], row['imports_mib'],
                     unit=' MiB', digits=1),
            ]
        if len(memory) > 1 and memory[-1]['module_mib'] is not None and memory[0]['module_mib'] is not None:
            lines.append(_row(3, 'growth from the 1x to the 2x archive (module process)',
                              memory[-1]['module_mib'] - memory[0]['module_mib'], unit=' MiB', digits=1, target='≈ 0'))
    else:
        lines.append('| 3 | peak RSS while installing | %s | | | | ≤ %.0f MiB | |' % (
            results.get('memory_skipped', 'skipped'), TARGETS['rss_mib']))
    fleet = results.get('fleet')
    if fleet and fleet.get('runs'):
        for run in sorted(fleet['runs'], key=lambda r: (r['hosts'], r['mode'])):
            if 'error' in run:
                lines.append('| 4 | fleet of %d, `delivery: %s` | **failed** after %s s (see Fleet below) | | | 1 | | |' % (
                    run['hosts'], run['mode'], fmt(run['wall'])))
                continue
            cells = (run['hosts'], run['mode'], fmt(run['wall']), fmt(run['wall'] / run['hosts']), run['bytes'] / 1e6,
                     fmt(run['cpu']))
            lines.append('| 4 | fleet of %d, `delivery: %s`: converge time; per host; mirror bytes | %s s; %s s/host; '
                         '%.1f MB | | %s | 1 | | |' % cells)
        for mode in fleet.get('unavailable', []):
            lines.append('| 4 | fleet, `delivery: %s` | not available (the module has no such option yet) | | | | | |' % mode)
    else:
        lines.append('| 4 | fleet converge | %s | | | | | |' % (
            (fleet or {}).get('error') or results.get('fleet_skipped', 'skipped')))
    return lines


def _fleet_table(fleet):
    modes = ['host', 'controller']
    lines = ['| hosts | ' + ' | '.join('`%s`: converge s | s per host | MB served' % m for m in modes) + ' |',
             '| --- |' + ' --- | --- | --- |' * len(modes)]
    by = dict(((r['mode'], r['hosts']), r) for r in fleet['runs'])
    for hosts in sorted(set(r['hosts'] for r in fleet['runs']) | set(fleet.get('skipped', {}))):
        cells = []
        for mode in modes:
            run = by.get((mode, hosts))
            if run and 'error' in run:
                cells += ['**failed**', '', '%.1f' % (run['bytes'] / 1e6)]
            elif run:
                cells += [fmt(run['wall']), fmt(run['wall'] / hosts), '%.1f' % (run['bytes'] / 1e6)]
            elif mode in fleet.get('unavailable', []):
                cells += ['not available', '', '']
            else:
                cells += ['skipped', '', '']
        lines.append('| %d | %s |' % (hosts, ' | '.join(cells)))
    for run in fleet['runs']:
        if 'error' in run:
            lines += ['', 'Failed: %d hosts, `delivery: %s`: %s.' % (run['hosts'], run['mode'], run['error'])]
    for size, why in sorted(fleet.get('skipped', {}).items()):
        lines.append('')
        lines.append('Skipped: %s.' % why)
    return lines


def _where(results):
    prof = results.get('profile')
    if not prof:
        return ['Not profiled in this run: %s.' % results.get('profile_skipped', 'skipped')]
    st = prof['stages']
    lines = [
        'Measured on the target Python (%s) with the %.1f MB archive (%d members, %d of them directories), '
        'each stage alone, median of %d interleaved runs:' % (
            prof['python'], prof['archive_bytes'] / 1e6, prof['files'] + prof['dirs'], prof['dirs'],
            len(prof['stage_runs']['pipeline'])),
        '',
        '| stage | runs in | wall s | user CPU s | system CPU s |',
        '| --- | --- | --- | --- | --- |',
    ]
    names = [('sha256', 'read the archive + sha256', 'download thread'),
             ('inflate', 'zlib inflate, 1 MiB chunks', 'inflate thread'),
             ('create', 'create %d empty files and directories (no data)' % (prof['files'] + prof['dirs']), 'main thread'),
             ('writer', 'tar writer alone, fed the inflated tar (headers, checks, create, write, mtime)', 'main thread'),
             ('pipeline', '**the whole pipeline, `extract_tar_gz`**', 'all three')]
    user, system = prof.get('stage_user', {}), prof.get('stage_sys', {})
    for key, label, where in names:
        cells = (label, where, fmt(st[key], 3), fmt(user.get(key), 3), fmt(system.get(key), 3))
        lines.append('| %s | %s | %s | %s | %s |' % cells)
    lines += ['| sum of the stages if they ran one after another | | %s | | |' % fmt(
        st['sha256'] + st['inflate'] + st['writer'], 3), '']
    in_a_row = st['sha256'] + st['inflate'] + st['writer']
    floor = max(st['inflate'], st['writer'])
    slower = 'the tar writer' if st['writer'] >= st['inflate'] else 'zlib inflation'
    weight = st['writer'] / st['inflate'] if st['inflate'] else None
    heading = ('Two stages of similar weight, overlapped.' if weight and 0.67 <= weight <= 1.5 else
               '%s is the slower stage.' % (slower[0].upper() + slower[1:]))
    lines.append(
        '- **%s** zlib inflation (%s s, %s s of it user CPU, in its own thread) and the tar writer (%s s, %s s of it '
        'system CPU in the kernel: creating files, copying data into the page cache) are the work; reading and '
        'hashing (%s s) is noise. Run one after another they take %s s; the pipeline took %s s, against a floor of '
        '%s s (%s). What is not overlapped is the time the two cannot run at once: on 2 cores shared with other '
        'work, and while one waits for the other (the writer for data while a large file streams through, the '
        'inflater for queue space while the writer creates many small files).' % (
            heading, fmt(st['inflate']), fmt(user.get('inflate')), fmt(st['writer']), fmt(system.get('writer')),
            fmt(st['sha256'], 3), fmt(in_a_row), fmt(st['pipeline']), fmt(floor), slower))
    lines.append(
        '- **File creation is the writer\'s variable part.** Creating the tree\'s %d files and directories with no '
        'data in them took %s s here (the whole writer: %s s). That is file-system metadata work in the kernel (an '
        '`open(O_CREAT|O_EXCL)` per file), which every extractor pays, GNU tar and uv included; on an idle disk it '
        'is about 0.02 ms a file, 0.02 s for this tree. The probe in the machine facts measured %s per file during '
        'this run. When this benchmark was written, `perf` put most of that system time in ext4\'s inode allocator '
        'skipping recently deleted inodes (`ext4_create` → `recently_deleted`): for a minute or more after many '
        'files are deleted on a file system, creating files there is slow, which is why the benchmark sets finished '
        'trees aside and deletes them only at the end (bench/trash.py).' % (
            prof['files'] + prof['dirs'], fmt(st['create']), fmt(st['writer']),
            ' and '.join('%.2f ms' % v for v in results['load']['create_ms'])))
    pyspy = prof.get('pyspy')
    if pyspy:
        wall = pyspy.get('_wall')
        lines.append('- **Per thread** (py-spy, %d samples/s on all threads, one pipeline run of %s s): share of '
                     'each thread\'s samples by line of code.' % (prof['pyspy_rate'], fmt(wall)))
        for role in ('main thread (tar writer)', 'inflate thread', 'read + sha256 thread'):
            data = pyspy.get(role)
            if not data:
                continue
            top = ', '.join('%s %.0f%%' % (name, 100.0 * count / data['samples']) for name, count in data['top'])
            lines.append('  - %s, %d samples: %s' % (role, data['samples'], top))
    elif prof.get('pyspy_error'):
        lines.append('- py-spy was not available (%s); the cProfile below covers the main thread only.' % prof['pyspy_error'])
    lines.append('- **cProfile of the main thread** (one pipeline run, %s s in total), top functions by own time:' % fmt(
        prof['cprofile_main_thread_total']))
    lines.append('')
    lines.append('  | function | calls | own time s | share |')
    lines.append('  | --- | --- | --- | --- |')
    for entry in prof['cprofile_top'][:8]:
        cells = (entry['function'], entry['calls'], fmt(entry['tottime'], 3), 100 * entry['share'])
        lines.append('  | `%s` | %d | %s | %.0f%% |' % cells)
    lines.append('')
    lines.append('  `acquire` of a lock is the main thread waiting for inflated data: the time the writer is starved.')
    return lines


def _cold_stages(results):
    """The module's cold cost stage by stage, and the floor this host's zlib puts under it."""
    ph, prof, cold = results.get('phases'), results.get('profile'), results.get('cold')
    if not ph:
        return ['', 'The cold task was not split into stages in this run: %s.' % results.get('phases_skipped', 'skipped')]
    host = ph['host']
    archive_request = max(host.get('open', 0.0) - host.get('sha256sums', 0.0), 0.0)
    rows = [
        ('controller', 'build the AnsiballZ payload: pbs_python (%.0f kB) minus ping (%.0f kB)' % (
            ph['payload_bytes_pbs'] / 1e3, ph['payload_bytes_ping'] / 1e3), ph['payload_extra']),
        ('host', "import the collection's module_utils, compiled from source as from a payload",
         host['import_collection']),
        ('host', 'import `ansible.module_utils.urls` (it imports `cryptography` when present)', host['import_urls']),
        ('host', 'detect the target triple', host['detect_target']),
        ('host', 'SHA256SUMS request', host.get('sha256sums', 0.0)),
        ('host', 'archive request, until its response headers', archive_request),
        ('host', '**download + sha256 + inflate + extract (the pipeline)**', host['extract']),
        ('host', 'relocate the build prefix (sysconfig data, pkg-config)', host.get('relocate', 0.0)),
        ('host', 'write the receipts', host.get('markers', 0.0)),
        ('host', 'start the new interpreter once (the check before the rename)', host.get('check_interpreter', 0.0)),
        ('host', 'rename into place', host.get('swap_in', 0.0)),
    ]
    lines = ['', '### The cold task, stage by stage', '',
             'Median of %d runs each. Controller: `modify_module` with an empty payload cache. Host: '
             '`bench/phases_driver.py`, the installer as the module calls it on `/usr/bin/python3`, each stage '
             'timed around the installer\'s own calls.' % ph['reps'], '',
             '| side | stage | s |', '| --- | --- | --- |']
    lines += ['| %s | %s | %s |' % (side, label, fmt(value, 3)) for side, label, value in rows]
    total = sum(value for dummy, dummy, value in rows)
    lines.append('| | sum of the stages | %s |' % fmt(total, 3))
    if cold and cold.get('module_cost') is not None:
        lines.append('| | module cost measured in part 1 (pbs_python playbook − ping playbook) | %s |' % fmt(
            cold['module_cost'], 3))
    lines += ['', '- The first request of a run makes the TLS context, `http://` too: ansible-core makes one per request '
              'unless it is given one, and loading the trust store took %s s here. On ansible-core 2.18 and later '
              'the module makes one and shares it (the archive request above paid none); on 2.16 and 2.17 every '
              'request pays it.' % fmt(host['tls_trust_store'], 3)]
    if prof and cold and cold.get('uv'):
        inflate = prof['stages']['inflate']
        fixed = (ph['payload_extra'] + host['import_collection'] + host['import_urls'] + host['tls_trust_store']
                 + host.get('relocate', 0.0) + host.get('markers', 0.0) + host.get('check_interpreter', 0.0))
        floor = inflate + fixed
        fastest = min(cold['runs']['uv'])
        lines.append(
            '- **The floor on this host.** Inflating the archive with the target\'s zlib alone takes %s s; uv\'s '
            'whole install took %s s (median) and %s s (its fastest run, on the quietest file system of this run). '
            'The stages every install through Ansible pays before or after the stream (payload, imports, one TLS '
            'context, relocation, receipts, the interpreter check) add %s s. Even with every request and write '
            'hidden behind inflation, the module\'s cost cannot go under %s s here: %.2fx uv\'s median, %.2fx its '
            'fastest run. uv inflates with its own, faster inflater (zlib-rs) in a process that has none of these '
            'stages; this host\'s Python links the system zlib %s.' % (
                fmt(inflate, 3), fmt(cold['uv']), fmt(fastest), fmt(fixed, 3), fmt(floor, 3), floor / cold['uv'],
                floor / fastest, results['facts'].get('zlib', '')))
    return lines


def _before_after(results):
    """The paired comparison with ``--baseline``: every revision ran in every round, under the same load."""
    cold = results.get('cold') or {}
    if not cold.get('baselines'):
        return []
    noop = results['noop']
    lines = ['', '### Before and after (other revisions, same rounds)', '',
             '| baseline | measurement | baseline | this checkout | ratio (this / baseline) | paired per round (median) |',
             '| --- | --- | --- | --- | --- | --- |']
    for base in cold['baselines']:
        lines += [
            '| `%s` | module cost, cold (playbook − ping) | %s s | %s s | %s | %s (whole playbooks) |' % (
                base['revision'], fmt(base['module_cost']), fmt(cold['module_cost']),
                fmt(ratio(cold['module_cost'], base['module_cost'])), fmt(median(base['cold_rounds']))),
            '| `%s` | no-op playbook | %s s | %s s | %s | %s |' % (
                base['revision'], fmt(base['noop']), fmt(noop['noop']), fmt(ratio(noop['noop'], base['noop'])),
                fmt(median(base['noop_rounds'])))]
    return lines


def render(results, chart_name, chart_error):
    quick = results['quick']
    out = ['# Performance', '']
    out.append('Written by `make bench` (`tools/dev bench`, i.e. `python bench/run.py`) on %s; every number below is '
               'from that one run. Re-run to refresh; do not edit by hand.%s' % (
                   results['facts']['date'],
                   ' **This is a `--quick` run** (fewer runs, parts 3 and 4 skipped): its numbers are a smoke '
                   'test, not a measurement.' if quick else ''))
    out += ['', 'What is measured (issue 6): the same PBS-layout archive of CPython %s (%.1f MB, built from the '
                'local interpreter by `tests/support/pbs_fixtures.py`), served by the same loopback mirror '
                '(`tests/support/mirror_server.py` on 127.0.0.1), installed by every contender.' % (
                    results['version'], results['archive_mb'])]
    out += ['', '## Machine', ''] + _machine(results)
    busy = max(results['load']['load1'][:2])  # the fleet part's own load comes after
    if busy > results['facts']['cores']:
        out += ['', '**This run shared the machine with other work** (load average up to %.1f on %s cores; creating an '
                    'empty file cost up to %.2f ms, against about 0.02 ms on an idle disk). Every contender\'s wall '
                    'time is inflated and noisier than on a quiet machine, so the ratios are less certain; the CPU '
                    'column is less sensitive to that.' % (busy, results['facts']['cores'], max(results['load']['create_ms']))]
    out += ['', '## Results', '']
    if chart_name:
        out += ['![benchmark chart](%s)' % chart_name, '']
    elif chart_error:
        out += ['(No chart in this run: %s.)' % chart_error, '']
    out += _table(results)
    out += _before_after(results)
    fleet = results.get('fleet')
    if fleet and fleet.get('runs'):
        out += ['', '### Fleet', '', 'Converge time of one play with one `pbs_python` task on N hosts (`--forks N`), '
                'each a cold install into a fresh `install_root`; bytes are what the mirror sent.', '']
        out += _fleet_table(fleet)
    noop = results.get('fleet_noop')
    if noop and noop.get('rows'):
        out += ['', '### Fleet no-op', '', 'A no-op run of the `pbs.python.pbs_python` role on %d hosts against a play '
                'of one `ping` task on the same hosts (`--forks %d`; target: at most 1.3x), medians of %d interleaved '
                'rounds (`bench/fleet_noop.py`). Each ratio is given three ways: of the medians (bold: the target\'s '
                'measure), paired (the median of the ratios within each round, which cancels load drifts between '
                'rounds) and CPU (of the whole machine, which the controller and the hosts share). The last two '
                'columns say where the role\'s time goes: its one module task alone, and a `ping` play with the task '
                'ansible-core runs on the controller for each host of a role that has argument specs (the inserted '
                'argument validation): that play is the floor of any '
                'role with argument specs. On ansible-core 2.21+ (measured here) the install task publishes the '
                'interpreters itself; before 2.21 the role adds a `set_fact` task.'
                % (noop['hosts'], noop['hosts'], noop['rounds']), '']
        out += fleet_noop.table(noop).splitlines()
    elif results.get('fleet_noop_skipped'):
        out += ['', '### Fleet no-op', '', 'Not measured: %s.' % results['fleet_noop_skipped']]
    manifest = results.get('manifest')
    if manifest:
        out += ['', '### The tree manifest\'s cost (issue 14)', '', 'Target: under 5%% of the module cost. The whole '
                'cold playbook with and without the manifest is the `%s` row pair of "Before and after" above (the '
                'collection just before the manifest, in the same rounds). Below, what the playbooks blur, each '
                'interleaved against that collection (`bench/manifest_cost.py`): the installer alone and the '
                'extraction pipeline alone, with the manifest (every file hashed as it is written) and without.'
                % manifest['baseline_ref'], '']
        out += manifest_cost.table(manifest).splitlines()
    elif results.get('manifest_skipped'):
        out += ['', '### The tree manifest\'s cost (issue 14)', '', 'Not measured: %s.' % results['manifest_skipped']]
    out += ['', '## Where the time goes', ''] + _where(results) + _cold_stages(results)
    out += ['', '## Method', '',
            '- Parts 1 and 2 run in interleaved rounds: each round runs every contender once (ping playbook, '
            'pbs_python cold, pbs_python no-op, uv, `command: uv`, get_url + unarchive, tar), and the order rotates each round, so '
            'load from other work on the machine spreads over all of them. %s Medians are over %d rounds.' % (
                'No warm-up round (`--quick`).' if quick else 'One untimed warm-up round comes first.', results['rounds']),
            '- Every timed command is a fresh process; set-up (fresh directories) is not timed, and finished trees '
            'are renamed aside and deleted only after the last measurement (bench/trash.py); an untimed `sync` '
            'follows each command, so none pays for writing back the previous one\'s files. Wall '
            'time is from `fork` to `wait4`; CPU time and peak RSS come from the `wait4` rusage of the whole tree.',
            '- Playbooks: one play on localhost, `connection: local`, `ansible_python_interpreter=/usr/bin/python3` '
            '(the host\'s own Python, as on a target), no fact gathering, ansible defaults otherwise. The module cost '
            'is `median(pbs_python playbook) − median(ping playbook)`: what the task adds to a play.',
            '- uv: the venv\'s pinned uv, `uv python install %s --no-bin --mirror <loopback mirror> '
            '--python-downloads-json-url <file>`, the JSON naming the same archive and sha256 under its upstream URL '
            '(uv rewrites it onto the mirror), with fresh `UV_PYTHON_INSTALL_DIR`, `UV_CACHE_DIR` and '
            '`UV_PYTHON_BIN_DIR` each run.' % results['version'],
            '- `command: uv`: the same uv command and environment, run by an `ansible.builtin.command` task (with '
            '`creates:`) in the same kind of playbook: what a uv user writes in Ansible. Compared playbook to playbook.',
            '- get_url + unarchive: `get_url` with `checksum: sha256:…` from the same mirror, `file` for the '
            'destination, `unarchive` with `remote_src: true`: what a playbook without this collection does.',
            '- `tar xzf`: GNU tar + gzip on a local copy of the archive (page cache warm): a floor for a '
            'single-threaded reader, with no download and no checksum.',
            '- Memory: the module process\'s `VmHWM` polled from /proc during a real playbook run, and '
            '`bench/rss_driver.py` (the module\'s `Installer.present` on `/usr/bin/python3`) under GNU `time -f %M`. '
            'The 2x archive holds the same tree twice (`bench/big_archive.py`).',
            '- Fleet: `tests/fleet/fleet.py` hosts (Debian 12, `/usr/bin/python3` 3.11, real sshd in network '
            'namespaces, ansible\'s default SSH settings), brought up once at the largest size; each size runs on the '
            'first N hosts with N forks into a fresh `install_root`, the delivery modes alternating which goes first; '
            'one run per size and mode. The mirror listens on the fleet bridge address; controller delivery gets an '
            'empty `cache_dir` each run, so it pays its one download.',
            '- Where the time goes: `bench/profile_extract.py` on `/usr/bin/python3`; py-spy when available; the '
            'cold task\'s stages: `bench/phases.py` (controller payload) and `bench/phases_driver.py` (host).',
            ]
    return '\n'.join(out) + '\n'
