# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: which host runs which exact build, and where that differs from the pins.

Drift has exactly four kinds, each actionable: a pin with no working install (converge fixes
it), an install no pin names (prune removes it), a receipt whose interpreter no longer runs
(converge repairs it), and a tampered tree (converge with repair reinstalls it): one that differs
from the manifest recorded at its install, or whose tree digest differs from what most hosts
holding the same install have (a manifest rewritten to hide a change cannot agree with the others).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
from collections import Counter

from ansible_collections.pbs.python.plugins.module_utils._pin import missing, pin_matches, unpinned

COLUMNS = ('host', 'groups', 'pinned', 'installed', 'missing', 'unpinned', 'broken', 'drift', 'tampered',
           'tree_digests', 'tampered_files')  # the CSV's; new columns go last, so readers by position keep working
TABLE_COLUMNS = ('host', 'groups', 'pinned', 'installed', 'missing', 'unpinned', 'broken', 'tampered', 'drift')
FILE_KINDS = ('modified', 'missing', 'extra', 'mode')


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
        tree_digests=dict((_install(i), i.get('tree_digest', '')) for i in installs),
        tampered=[], tampered_files={},
    )
    for i in installs:  # pbs_python_info's check of the tree against its manifest
        if i.get('tampered'):
            found = i.get('drift') or {}
            _tamper(row, _install(i), dict((kind, list(found.get(kind) or [])) for kind in FILE_KINDS),
                    found.get('error') or '')
    row['drift'] = bool(row['missing'] or row['unpinned'] or row['broken'] or row['tampered'])
    row['reached'] = True
    return row


def _tamper(row, label, files, why):
    """Mark ``label`` of ``row`` tampered: ``files`` by kind (paths relative to the install), ``why`` when no
    file can be named (a missing manifest, a digest that differs from the other hosts')."""
    if label not in row['tampered']:
        row['tampered'].append(label)
    entry = row['tampered_files'].setdefault(label, dict((kind, []) for kind in FILE_KINDS + ('reasons',)))
    for kind in FILE_KINDS:
        entry[kind].extend(files.get(kind, []))
    if why:
        entry['reasons'].append(why)


def compare_digests(rows):
    """Flag, in place, each host whose tree digest for an install differs from most hosts holding it.

    Hosts hold the same install when its name (version, build) and directory (install root, target,
    variant) agree: the tree then has the same bytes wherever it is intact, as the build paths in it
    are the directory's. A digest held by more than half of them is the group's; with no such majority
    every one of them is flagged, since nothing says which tree is the pinned one.
    """
    groups = {}
    for row in rows:
        for label, digest in row.get('tree_digests', {}).items():
            if digest and row['reached']:
                groups.setdefault((label, row['paths'].get(label)), []).append((row, digest))
    for (label, dummy), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or '')):
        if len(members) < 2:
            continue
        counts = Counter(digest for dummy, digest in members)
        majority, count = counts.most_common(1)[0]
        if count * 2 <= len(members):
            majority = None
        for row, digest in members:
            if majority is None:
                _tamper(row, label, {}, 'tree digest %s: no digest is held by a majority of the %d hosts with this '
                                        'install' % (digest[:12], len(members)))
            elif digest != majority:
                _tamper(row, label, {}, 'tree digest %s differs from %s, held by %d of the %d hosts with this install'
                                        % (digest[:12], majority[:12], count, len(members)))
            row['drift'] = row['drift'] or bool(row['tampered'])


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
    compare_digests(rows)
    return dict(hosts=rows, drifted=[r['host'] for r in rows if r['drift']], table=table(rows), csv=to_csv(rows))


def _files(row):
    """``label kind path`` per named file, and ``label reason`` per reason, of the tampered installs."""
    items = []
    for label in row['tampered']:
        entry = row['tampered_files'][label]
        items += ['%s %s %s' % (label, kind, path) for kind in FILE_KINDS for path in entry[kind]]
        items += ['%s %s' % (label, why) for why in entry['reasons']]
    return items


def _cell(row, column):
    value = row[column]
    if column == 'drift':
        return ('DRIFT' if value else 'ok') if row['reached'] else 'UNKNOWN (not reached)'
    return ', '.join(value) if isinstance(value, list) else str(value)


def table(rows):
    cells = [list(TABLE_COLUMNS)] + [[_cell(row, c) or '-' for c in TABLE_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    lines = ['  '.join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def to_csv(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(COLUMNS)
    for row in rows:
        cells = dict((c, ' '.join(row[c]) if isinstance(row[c], list) else row[c]) for c in COLUMNS[:-2])
        cells['tree_digests'] = ' '.join('%s=%s' % item for item in sorted(row['tree_digests'].items()))
        cells['tampered_files'] = '\n'.join(_files(row))  # one per line: a path may hold a space
        writer.writerow([cells[c] for c in COLUMNS])
    return buffer.getvalue()


class FilterModule(object):
    def filters(self):
        return {'fleet_report': fleet_report}
