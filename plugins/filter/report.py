# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: which host runs which exact build, and where that differs from the pins.

Drift has exactly three kinds, each actionable: a pin with no working install (converge fixes
it), an install no pin names (prune removes it), and a receipt whose interpreter no longer
runs (converge repairs it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io

from ansible_collections.pbs.python.plugins.module_utils._pin import missing, pin_matches, unpinned

COLUMNS = ('host', 'groups', 'pinned', 'installed', 'missing', 'unpinned', 'broken', 'drift')


def _pin(pin):
    return '%s+%s%s' % (pin['version'], pin['build'], 't' if pin['freethreaded'] else '')


def _install(install):
    return '%s+%s%s' % (install['version'], install['build'], 't' if install['freethreaded'] else '')


def _damaged(entry):
    return '%s (unusable receipt)' % entry['path'].rstrip('/').rsplit('/', 1)[-1]


def host_row(host, groups, pins, installs, damaged=()):
    """One report row; lists are kept as lists for JSON, joined for the table and CSV.

    ``damaged`` are pbs_python_info's directories with an unusable receipt: broken, shown by name.
    """
    broken = [i for i in installs if not i.get('works', True)]
    row = dict(
        host=host, groups=sorted(g for g in groups if g not in ('all', 'ungrouped')),
        pinned=[_pin(p) for p in pins],
        installed=[_install(i) + ('' if i.get('works', True) else ' (broken)') for i in installs],
        missing=[_pin(p) for p in missing(installs, pins)
                 if not any(pin_matches(p, i) for i in broken)],
        unpinned=[_install(i) for i in unpinned(installs, pins)],
        broken=[_install(i) for i in broken] + [_damaged(d) for d in damaged],
        paths=dict([(_install(i), i['path']) for i in installs] + [(_damaged(d), d['path']) for d in damaged]),
    )
    row['drift'] = bool(row['missing'] or row['unpinned'] or row['broken'])
    row['reached'] = True
    return row


def unknown_row(host, groups):
    """A host the report could not read (unreachable, failed, or left out by --limit): never "ok"."""
    row = host_row(host, groups, [], [])
    row.update(drift=True, reached=False)
    return row


def fleet_report(hostvars, hosts, pins_var='__pbs_python_report_pins', info_var='__pbs_python_report_info'):
    rows = []
    for host in sorted(hosts):
        facts = hostvars[host]
        info = facts.get(info_var)
        if not info or info.get('failed') or pins_var not in facts:
            rows.append(unknown_row(host, facts.get('group_names', [])))
            continue
        rows.append(host_row(host, facts.get('group_names', []), facts.get(pins_var) or [],
                             info.get('installs', []), info.get('damaged', [])))
    return dict(hosts=rows, drifted=[r['host'] for r in rows if r['drift']], table=table(rows), csv=to_csv(rows))


def _cell(row, column):
    value = row[column]
    if column == 'drift':
        return ('DRIFT' if value else 'ok') if row['reached'] else 'UNKNOWN (not reached)'
    return ', '.join(value) if isinstance(value, list) else str(value)


def table(rows):
    cells = [list(COLUMNS)] + [[_cell(row, c) or '-' for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ['  '.join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def to_csv(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([' '.join(row[c]) if isinstance(row[c], list) else row[c] for c in COLUMNS])
    return buffer.getvalue()


class FilterModule(object):
    def filters(self):
        return {'fleet_report': fleet_report}
