"""docs/performance.png: the four parts of the benchmark in one figure (matplotlib, Agg).

matplotlib is a benchmark-only dependency: ``ensure`` installs bench/requirements.txt into the
venv the first time, and a run that cannot get it still writes the report, without the chart.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def ensure(install=True, log=print):
    """Import matplotlib, installing it on demand; returns (pyplot or None, reason)."""
    try:
        import matplotlib
    except ImportError:
        if not install:
            return None, 'matplotlib is not installed (a full run installs bench/requirements.txt)'
        log('installing matplotlib into the venv (bench/requirements.txt)')
        proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                               '-r', os.path.join(HERE, 'requirements.txt')], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        try:
            import matplotlib
        except ImportError:
            return None, 'matplotlib could not be installed: %s' % proc.stdout.strip()[-300:]
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt, None


def _skipped(ax, title, why):
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, why, ha='center', va='center', transform=ax.transAxes, fontsize=9, color='grey', wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax, labels, values, colors, unit, target=None, target_label=None):
    positions = range(len(labels))
    bars = ax.barh(list(positions), [v or 0 for v in values], color=colors)
    ax.set_yticks(list(positions))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    for rect, value in zip(bars, values):
        shown = ' n/a' if value is None else ' %.2f %s' % (value, unit)
        ax.text(rect.get_width(), rect.get_y() + rect.get_height() / 2, shown, va='center', fontsize=8)
    if target is not None:
        ax.axvline(target, color='red', linestyle='--', linewidth=1)
        ax.text(target, 0.01, ' ' + target_label, color='red', fontsize=7, va='bottom',
                transform=ax.get_xaxis_transform())
    ax.set_xlim(0, max([v or 0 for v in values] + [target or 0]) * 1.35 or 1)
    ax.tick_params(axis='x', labelsize=8)


def draw(path, results, plt):
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (cold_ax, noop_ax), (mem_ax, fleet_ax) = axes
    cold = results.get('cold')
    if cold:
        _bars(cold_ax, ['pbs_python module\n(playbook - ping)', 'uv python install',
                        'command: uv\n(playbook - ping)', 'get_url + unarchive\n(playbook - ping)', 'tar xzf (local copy)'],
              [cold['module_cost'], cold['uv'], cold.get('command_uv_playbook', cold['ping']) - cold['ping'],
               cold['get_url_unarchive_cost'], cold['tar']],
              ['#2b7bba', '#7f7f7f', '#9f9f9f', '#d98c1f', '#bbbbbb'], 's')
        cold_ax.set_title('1. Cold install, one host (median seconds)', fontsize=10)
    else:
        _skipped(cold_ax, '1. Cold install', 'not measured')
    noop = results.get('noop')
    if noop:
        _bars(noop_ax, ['ping playbook', 'pbs_python no-op playbook'], [noop['ping'], noop['noop']],
              ['#bbbbbb', '#2b7bba'], 's', target=noop['ping'] * 1.2, target_label='1.2x ping')
        noop_ax.set_title('2. No-op rerun (median seconds, whole playbook)', fontsize=10)
    else:
        _skipped(noop_ax, '2. No-op rerun', 'not measured')
    memory = results.get('memory')
    if memory:
        labels, values = [], []
        for row in memory:
            labels += ['module process, %s (%.0f MiB)' % (row['label'], row['archive_mib']),
                       'install path alone, %s' % row['label']]
            values += [row['module_mib'], row['driver_mib']]
        _bars(mem_ax, labels, values, ['#2b7bba', '#9ecae1'] * len(memory), 'MiB', target=64, target_label='64 MiB')
        mem_ax.set_title('3. Peak RSS while installing', fontsize=10)
    else:
        _skipped(mem_ax, '3. Memory', results.get('memory_skipped') or 'skipped')
    fleet = results.get('fleet')
    if fleet and fleet.get('runs'):
        twin = fleet_ax.twinx()
        colors = {'host': '#2b7bba', 'controller': '#d98c1f'}
        for mode in fleet['modes']:
            runs = sorted((r for r in fleet['runs'] if r['mode'] == mode and 'error' not in r), key=lambda r: r['hosts'])
            failed = [r for r in fleet['runs'] if r['mode'] == mode and 'error' in r]
            if failed:
                fleet_ax.scatter([r['hosts'] for r in failed], [r['wall'] for r in failed], marker='x', s=60,
                                 color=colors.get(mode), label='%s: failed run' % mode)
            xs = [r['hosts'] for r in runs]
            fleet_ax.plot(xs, [r['wall'] for r in runs], marker='o', color=colors.get(mode), label='%s: total' % mode)
            twin.plot(xs, [r['wall'] / r['hosts'] for r in runs], marker='s', linestyle='--', color=colors.get(mode),
                      alpha=0.6, label='%s: per host' % mode)
        fleet_ax.set_xscale('log', base=2)
        fleet_ax.set_xticks(sorted(set(r['hosts'] for r in fleet['runs'])))
        fleet_ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
        fleet_ax.set_xlabel('hosts', fontsize=8)
        fleet_ax.set_ylabel('converge time (s), solid', fontsize=8)
        twin.set_ylabel('per-host cost (s), dashed', fontsize=8)
        twin.set_ylim(bottom=0)
        fleet_ax.set_ylim(bottom=0)
        lines = fleet_ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        fleet_ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc='upper left', framealpha=0.7)
        title = '4. Fleet converge'
        if fleet.get('unavailable'):
            title += ' (%s delivery: not available)' % ', '.join(fleet['unavailable'])
        fleet_ax.set_title(title, fontsize=10)
    else:
        _skipped(fleet_ax, '4. Fleet converge', results.get('fleet_skipped') or 'skipped')
    facts = results.get('facts', {})
    fig.suptitle('pbs.python benchmark, %s: %s cores, Python %s on the target, ansible-core %s, %s' % (
        facts.get('date', '?'), facts.get('cores', '?'), facts.get('target_python', '?'),
        facts.get('ansible_core', '?'), facts.get('uv', '?')), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
