"""Host files the module did not make, through real ansible-playbook runs against a loopback mirror.

A ``python3`` link to the host's own Python in ``link_dir``, a symlink or a file where an install
directory goes, odd entries in the module's hidden namespace, relative paths, and hand-edited
receipts. The module must never repoint, replace or delete any of them unless told to
(``take_over_links``), and then must give back exactly what it took. Every case checks the host
(link targets, trees, the mirror's log), not only the message.

Three playbook runs do the work (each case's tasks in order, ``ignore_errors``), with snapshots in
between; a fourth runs the fleet report over a host with damaged receipts.
"""

import json
import os
import shutil

import pytest
import yaml

import tiny_archives
from playbook import run_playbook
from reliability_kit import (
    ASSET, INSTALL_NAME, TAG, TRIPLE, VERSION, entry, leftovers, pbs_task, play, seed, sums_path, tree,
    visible,
)

VERSION_313 = '3.13.1'
ASSET_313 = 'cpython-%s+%s-%s-install_only.tar.gz' % (VERSION_313, TAG, TRIPLE)
INSTALL_313 = ASSET_313[:-len('.tar.gz')]
ODD_RECEIPTS = {  # directory name -> receipt text, each wrong in one way
    'cpython-3.12.9-local': None,  # the old install's receipt with version 3.12.9-local
    'cpython-bad-json': '{"version": "3.12.1", ',
    'cpython-not-a-dict': '["3.12.1", "20240107"]\n',
    'cpython-non-string': None,  # build as a number
    'cpython-receipt-is-a-dir': None,  # PBS_RECEIPT.json is a directory
    'cpython-receipt-is-a-fifo': None,  # opening it for reading would block forever
    'cpython-receipt-is-a-symlink': None,  # to the real install's (valid) receipt: the module never writes one
}


def info_task(name, root, **options):
    args = dict(install_root=root)
    args.update(options)
    return {'name': name, 'pbs.python.pbs_python_info': args, 'ignore_errors': True}


def make_link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def links(directory):
    """name -> target of every symlink, and name -> 'file' of everything else, in ``directory``."""
    if not os.path.isdir(directory):
        return {}
    return dict((name, os.readlink(os.path.join(directory, name)) if os.path.islink(os.path.join(directory, name))
                 else 'file') for name in sorted(os.listdir(directory)))


def read_receipt(path):
    """The receipt at ``path``, or None (the test that needs it then fails on its own)."""
    try:
        with open(os.path.join(path, 'PBS_RECEIPT.json')) as handle:
            return json.load(handle)
    except OSError:
        return None


def odd_install(root, old_install, name):
    """A copy of the old install under ``name`` whose receipt is wrong as ODD_RECEIPTS says."""
    path = os.path.join(root, name)
    shutil.copytree(os.path.join(old_install, INSTALL_NAME), path, symlinks=True)
    receipt_path = os.path.join(path, 'PBS_RECEIPT.json')
    receipt = read_receipt(path)
    if name == 'cpython-3.12.9-local':
        receipt['version'] = '3.12.9-local'
    elif name == 'cpython-non-string':
        receipt['build'] = int(receipt['build'])
    text = ODD_RECEIPTS[name]
    os.unlink(receipt_path)
    if name == 'cpython-receipt-is-a-dir':
        os.makedirs(receipt_path)
    elif name == 'cpython-receipt-is-a-fifo':
        os.mkfifo(receipt_path)
    elif name == 'cpython-receipt-is-a-symlink':
        os.symlink(os.path.join('..', INSTALL_NAME, 'PBS_RECEIPT.json'), receipt_path)
    else:
        write(receipt_path, text if text is not None else json.dumps(receipt))


@pytest.fixture(scope='module')
def host(tmp_path_factory, mirrors, builds, old_install):
    """Every case set up, run, and snapshotted; the tests then read ``host[...]``."""
    base = str(tmp_path_factory.mktemp('host-files'))
    primary = mirrors.primary
    # A release with two minors of one tag: the stand-in 3.12.1 (new) and a 3.13.1.
    two = os.path.join(primary.root, 'hostfiles-two', TAG)
    os.makedirs(two, exist_ok=True)
    archive_313 = tiny_archives.interpreter_archive(VERSION_313, marker='313')
    for name, data in ((ASSET, builds.new), (ASSET_313, archive_313)):
        with open(os.path.join(two, name), 'wb') as handle:
            handle.write(data)
    with open(os.path.join(two, 'SHA256SUMS'), 'w') as handle:
        handle.write('%s  %s\n%s  %s\n' % (builds.new_sha, ASSET, tiny_archives.sha256(archive_313), ASSET_313))

    system = os.path.join(base, 'system-bin')  # stands in for /usr/bin: the host's own Python
    for name in ('python3', 'python3.12'):
        write(os.path.join(system, name), '#!/bin/sh\necho system %s\n' % name)
    outside = os.path.join(base, 'outside')  # a directory outside every install root
    seed(old_install, os.path.join(outside, 'elsewhere'))
    write(os.path.join(outside, 'keep-me'), 'not the module\'s\n')

    s = dict(base=base, system=system, outside=outside)

    def case(name, source='good'):
        found = dict(root=os.path.join(base, name, 'root'), bin=os.path.join(base, name, 'bin'),
                     mirror=primary.alias('hf-' + name, source), prefix='/hf-%s/' % name)
        s[name] = found
        return found

    # Foreign links: refused (also in check mode), never removed by absent.
    foreign = case('foreign')
    make_link(os.path.join(foreign['bin'], 'python3'), os.path.join(system, 'python3'))
    shared = case('shared')  # install_root is a directory the host uses too; link_dir lies inside it
    shared['root'] = os.path.join(base, 'shared', 'usr')
    shared['bin'] = os.path.join(shared['root'], 'bin')
    write(os.path.join(shared['bin'], 'python3.11'), '#!/bin/sh\necho 3.11\n')
    make_link(os.path.join(shared['bin'], 'python3'), 'python3.11')
    absent = case('absent')
    seed(old_install, absent['root'])
    make_link(os.path.join(absent['bin'], 'python3'), os.path.join(system, 'python3'))
    make_link(os.path.join(absent['bin'], 'python3.12'), os.path.join(absent['root'], INSTALL_NAME, 'bin',
                                                                      'python3.12'))
    # Taken over, then given back: one relative and one absolute old target; one that vanishes.
    take = case('take')
    write(os.path.join(take['bin'], 'python3.11'), '#!/bin/sh\necho 3.11\n')
    make_link(os.path.join(take['bin'], 'python3'), 'python3.11')
    make_link(os.path.join(take['bin'], 'python3.12'), os.path.join(system, 'python3.12'))
    vanish = case('vanish')
    write(os.path.join(base, 'vanishing', 'python3'), '#!/bin/sh\n')
    make_link(os.path.join(vanish['bin'], 'python3'), os.path.join(base, 'vanishing', 'python3'))
    move = case('move', 'hostfiles-two')  # the link passes from one install to another before it is given back
    make_link(os.path.join(move['bin'], 'python3'), os.path.join(system, 'python3'))
    # Install directories that are not directories the module made.
    symlinked = case('symlinked')
    make_link(os.path.join(symlinked['root'], INSTALL_NAME), os.path.join(outside, 'elsewhere', INSTALL_NAME))
    a_file = case('file')
    write(os.path.join(a_file['root'], INSTALL_NAME), 'a file where the install directory goes\n')
    # Leftovers in the module's hidden namespace that rmtree cannot remove.
    hidden = case('hidden')
    seed(old_install, hidden['root'])
    make_link(os.path.join(hidden['root'], '.removed-' + INSTALL_NAME), os.path.join(outside, 'elsewhere'))
    write(os.path.join(hidden['root'], '.removed-cpython-other'), 'a file\n')
    make_link(os.path.join(hidden['root'], '.trash-cpython-gone'), os.path.join(outside, 'elsewhere'))
    write(os.path.join(hidden['root'], '.trash-cpython-file'), 'a file\n')
    make_link(os.path.join(hidden['root'], '.staging-cpython-x'), outside)
    # Odd receipts beside the builds the tasks ask for.
    for name in ('odd-install', 'odd-absent', 'odd-info'):
        odd = case(name)
        if name != 'odd-install':
            seed(old_install, odd['root'])
        for directory in ODD_RECEIPTS:
            odd_install(odd['root'], old_install, directory)
        odd['before'] = dict((d, tree(os.path.join(odd['root'], d))) for d in ODD_RECEIPTS)
    paths = case('paths')
    s['outside_before'] = tree(outside)

    take_over = dict(take_over_links=True, default=True)
    work = os.path.join(base, 'work')
    primary.reset()
    first = play(work, [
        pbs_task('foreign', foreign['root'], foreign['mirror'], link_dir=foreign['bin'], default=True),
        dict(pbs_task('foreign check', foreign['root'], foreign['mirror'], link_dir=foreign['bin'], default=True),
             check_mode=True),
        pbs_task('shared', shared['root'], shared['mirror'], link_dir=shared['bin'], default=True),
        pbs_task('foreign absent', foreign['root'], None, link_dir=foreign['bin'], state='absent'),
        pbs_task('absent', absent['root'], None, link_dir=absent['bin'], state='absent'),
        pbs_task('take', take['root'], take['mirror'], link_dir=take['bin'], **take_over),
        pbs_task('vanish', vanish['root'], vanish['mirror'], link_dir=vanish['bin'], **take_over),
        pbs_task('move', move['root'], move['mirror'], link_dir=move['bin'], **take_over),
        pbs_task('symlinked', symlinked['root'], symlinked['mirror']),
        dict(pbs_task('symlinked check', symlinked['root'], symlinked['mirror']), check_mode=True),
        pbs_task('symlinked absent', symlinked['root'], None, state='absent'),
        info_task('symlinked info', symlinked['root']),
        pbs_task('file', a_file['root'], a_file['mirror'], version='3.12'),  # the name is known after SHA256SUMS
        pbs_task('file absent', a_file['root'], None, state='absent'),
        pbs_task('hidden', hidden['root'], hidden['mirror'], sha256=builds.old_sha),  # a no-op run: tidy
        pbs_task('odd install', s['odd-install']['root'], s['odd-install']['mirror'], version='3.12'),
        pbs_task('odd absent', s['odd-absent']['root'], None, version=None, state='absent'),  # by build
        pbs_task('odd absent by version', s['odd-absent']['root'], None, version='3.12', state='absent'),
        info_task('odd info', s['odd-info']['root']),
        pbs_task('relative root', 'rel/pbs', paths['mirror']),
        pbs_task('empty root', '', paths['mirror']),
        pbs_task('relative link_dir', paths['root'], paths['mirror'], link_dir='rel/bin'),
        pbs_task('empty link_dir', paths['root'], paths['mirror'], link_dir=''),
        pbs_task('relative root absent', 'rel/pbs', None, state='absent'),
        info_task('info relative root', 'rel/pbs'),
        info_task('info empty link_dir', paths['root'], link_dir=''),
    ])
    s['first'] = first
    s['requests'] = dict((name, primary.under(value['prefix'])) for name, value in s.items()
                         if isinstance(value, dict) and 'prefix' in value)
    for name in ('foreign', 'absent', 'take', 'vanish', 'move'):
        s[name]['links_1'] = links(s[name]['bin'])
    s['take']['receipt_1'] = read_receipt(os.path.join(take['root'], INSTALL_NAME))
    s['move']['receipt_1'] = read_receipt(os.path.join(move['root'], INSTALL_NAME))
    s['hidden']['leftovers'] = leftovers(hidden['root'])
    s['hidden']['visible'] = visible(hidden['root'])

    os.unlink(os.path.join(base, 'vanishing', 'python3'))  # the taken-over target goes away meanwhile
    second = play(work, [
        pbs_task('take force', take['root'], take['mirror'], link_dir=take['bin'], default=True, force=True),
        pbs_task('take absent', take['root'], None, link_dir=take['bin'], state='absent'),
        pbs_task('vanish absent', vanish['root'], None, link_dir=vanish['bin'], state='absent'),
        pbs_task('move 3.13', move['root'], move['mirror'], version=VERSION_313, link_dir=move['bin'], default=True),
        pbs_task('move absent 3.12', move['root'], None, version=VERSION, link_dir=move['bin'], state='absent'),
    ])
    s['second'] = second
    s['move']['links_2'] = links(move['bin'])
    s['move']['receipt_313'] = read_receipt(os.path.join(move['root'], INSTALL_313))
    third = play(work, [
        pbs_task('move absent 3.13', move['root'], None, version=VERSION_313, link_dir=move['bin'], state='absent'),
    ])
    s['third'] = third
    s['move']['links_3'] = links(move['bin'])
    yield s
    mirrors.clear()


def result(host, run, task):
    return entry(host[run], task)


# -- links ------------------------------------------------------------------------------------------

def test_a_foreign_python3_link_is_refused_before_any_download_and_left_as_it_was(host):
    foreign, system_python3 = host['foreign'], os.path.join(host['system'], 'python3')
    link = os.path.join(foreign['bin'], 'python3')
    for task in ('foreign', 'foreign check'):  # check mode predicts the same refusal
        failed = result(host, 'first', task)
        assert failed['status'] == 'failed', failed
        msg = failed['result']['msg']
        assert 'refusing to repoint %s: it points to %s, which this module did not install' % (link, system_python3) \
            in msg, msg
        assert 'set take_over_links: true' in msg
    assert foreign['links_1'] == {'python3': system_python3}
    assert host['requests']['foreign'] == []  # not even SHA256SUMS
    assert not os.path.exists(foreign['root'])  # nothing installed, nothing created
    gone = result(host, 'first', 'foreign absent')
    assert gone['status'] == 'ok' and not gone['result']['changed']
    assert links(foreign['bin']) == {'python3': system_python3}


def test_a_link_into_a_shared_install_root_but_not_into_an_install_is_refused(host):
    shared = host['shared']
    link = os.path.join(shared['bin'], 'python3')
    failed = result(host, 'first', 'shared')
    assert failed['status'] == 'failed', failed
    assert 'refusing to repoint %s: it points to python3.11' % link in failed['result']['msg'], failed['result']['msg']
    assert links(shared['bin']) == {'python3': 'python3.11', 'python3.11': 'file'}
    assert host['requests']['shared'] == [] and visible(shared['root']) == ['bin']


def test_absent_removes_only_the_links_into_the_install(host):
    absent = host['absent']
    done = result(host, 'first', 'absent')
    assert done['status'] == 'ok' and done['result']['changed'], done
    assert done['result']['links'] == {os.path.join(absent['bin'], 'python3.12'): None}
    assert absent['links_1'] == {'python3': os.path.join(host['system'], 'python3')}  # the host's own, kept
    assert visible(absent['root']) == [] and leftovers(absent['root']) == []


def test_take_over_links_repoints_and_absent_restores_the_old_targets_exactly(host):
    take = host['take']
    done = result(host, 'first', 'take')
    assert done['status'] == 'ok' and done['result']['changed'], done
    python = done['result']['python']
    assert take['links_1'] == {'python3': python, 'python3.11': 'file', 'python3.12': python}
    assert take['receipt_1']['replaced_links'] == {
        os.path.join(take['bin'], 'python3'): 'python3.11',  # relative, as it was
        os.path.join(take['bin'], 'python3.12'): os.path.join(host['system'], 'python3.12')}
    again = result(host, 'second', 'take force')  # a reinstall in place keeps the record
    assert again['status'] == 'ok' and again['result']['changed'], again
    back = result(host, 'second', 'take absent')
    assert back['status'] == 'ok' and back['result']['changed'], back
    assert links(take['bin']) == {'python3': 'python3.11', 'python3.11': 'file',
                                  'python3.12': os.path.join(host['system'], 'python3.12')}
    assert visible(take['root']) == [] and leftovers(take['root']) == []
    assert not back['result'].get('warnings')


def test_a_taken_over_link_whose_old_target_vanished_is_removed_with_a_warning(host):
    vanish = host['vanish']
    old = os.path.join(host['base'], 'vanishing', 'python3')
    assert result(host, 'first', 'vanish')['status'] == 'ok'
    assert vanish['links_1']['python3'].startswith(vanish['root'] + os.sep)
    back = result(host, 'second', 'vanish absent')
    assert back['status'] == 'ok', back
    link = os.path.join(vanish['bin'], 'python3')
    assert any('%s pointed to %s before take_over_links replaced it, but %s no longer exists' % (link, old, old) in w
               for w in back['result'].get('warnings', [])), back['result']
    assert links(vanish['bin']) == {}  # python3.12 was the module's own: removed too


def test_the_old_target_follows_the_link_from_install_to_install(host):
    move, system_python3 = host['move'], os.path.join(host['system'], 'python3')
    link = os.path.join(move['bin'], 'python3')
    assert move['receipt_1']['replaced_links'] == {link: system_python3}
    assert result(host, 'second', 'move 3.13')['status'] == 'ok'
    assert move['receipt_313']['replaced_links'] == {link: system_python3}
    gone_312 = result(host, 'second', 'move absent 3.12')
    assert gone_312['status'] == 'ok' and gone_312['result']['changed'], gone_312
    assert move['links_2']['python3'] == os.path.join(move['root'], INSTALL_313, 'bin', 'python3.13')  # not touched
    assert 'python3.12' not in move['links_2']
    gone_313 = result(host, 'third', 'move absent 3.13')
    assert gone_313['status'] == 'ok' and gone_313['result']['changed'], gone_313
    assert move['links_3'] == {'python3': system_python3}
    assert visible(move['root']) == []


# -- install directories ----------------------------------------------------------------------------

def test_an_install_directory_that_is_a_symlink_is_refused_and_its_target_untouched(host):
    symlinked = host['symlinked']
    path = os.path.join(symlinked['root'], INSTALL_NAME)
    target = os.path.join(host['outside'], 'elsewhere', INSTALL_NAME)
    for task in ('symlinked', 'symlinked check'):
        failed = result(host, 'first', task)
        assert failed['status'] == 'failed', failed
        assert 'refusing to install into %s: it is a symlink to %s, not an install directory this module made' % (
            path, target) in failed['result']['msg'], failed['result']['msg']
    assert host['requests']['symlinked'] == []
    gone = result(host, 'first', 'symlinked absent')
    assert gone['status'] == 'ok' and not gone['result']['changed'], gone
    info = result(host, 'first', 'symlinked info')['result']
    assert info['installs'] == [] and info['unrecognized'] == [path] and info['damaged'] == []
    assert os.readlink(path) == target
    assert tree(host['outside']) == host['outside_before']


def test_an_install_directory_that_is_a_file_is_refused_before_the_archive_is_downloaded(host):
    a_file = host['file']
    path = os.path.join(a_file['root'], INSTALL_NAME)
    failed = result(host, 'first', 'file')
    assert failed['status'] == 'failed', failed
    assert 'refusing to install into %s: it is a file' % path in failed['result']['msg'], failed['result']['msg']
    assert host['requests']['file'] == [('GET', sums_path('hf-file'), 200)]  # X.Y: the name needs SHA256SUMS
    assert result(host, 'first', 'file absent')['status'] == 'ok'
    with open(path) as handle:
        assert handle.read() == 'a file where the install directory goes\n'
    assert leftovers(a_file['root']) == []


def test_symlinks_and_files_left_in_the_hidden_namespace_are_cleaned_by_the_next_run(host):
    hidden = host['hidden']
    done = result(host, 'first', 'hidden')
    assert done['status'] == 'ok' and not done['result']['changed'], done
    assert hidden['leftovers'] == [] and hidden['visible'] == [INSTALL_NAME]
    assert host['requests']['hidden'] == []
    assert tree(host['outside']) == host['outside_before']  # no symlink was followed


# -- paths ------------------------------------------------------------------------------------------

PATH_CASES = {  # id: (task, phrase of the refusal)
    'relative-root': ('relative root', "install_root 'rel/pbs' is a relative path: give an absolute path"),
    'empty-root': ('empty root', 'install_root is empty: give an absolute path'),
    'relative-link_dir': ('relative link_dir', "link_dir 'rel/bin' is a relative path: give an absolute path"),
    'empty-link_dir': ('empty link_dir', 'link_dir is empty: give an absolute path such as /usr/local/bin, or leave '
                                         'it unset'),
    'relative-root-absent': ('relative root absent', "install_root 'rel/pbs' is a relative path"),
    'info-relative-root': ('info relative root', "install_root 'rel/pbs' is a relative path"),
    'info-empty-link_dir': ('info empty link_dir', 'link_dir is empty'),
}


@pytest.mark.parametrize('case', sorted(PATH_CASES))
def test_relative_and_empty_paths_are_refused_before_anything_runs(host, case):
    task, phrase = PATH_CASES[case]
    failed = result(host, 'first', task)
    assert failed['status'] == 'failed', failed
    assert phrase in failed['result']['msg'], failed['result']['msg']
    assert host['requests']['paths'] == []
    assert not os.path.exists(host['paths']['root'])
    assert not os.path.exists(os.path.join(host['base'], 'work', 'rel'))


# -- receipts ---------------------------------------------------------------------------------------

def test_odd_receipts_do_not_stop_the_install_of_another_build(host, builds):
    odd = host['odd-install']
    done = result(host, 'first', 'odd install')  # an X.Y pin: every receipt's version is compared
    assert done['status'] == 'ok' and done['result']['changed'], done
    assert done['result']['version'] == VERSION and read_receipt(done['result']['path'])['sha256'] == builds.new_sha
    assert sorted(visible(odd['root'])) == sorted(list(ODD_RECEIPTS) + [INSTALL_NAME])
    for directory in ODD_RECEIPTS:
        assert tree(os.path.join(odd['root'], directory)) == odd['before'][directory]


def test_odd_receipts_do_not_stop_absent_of_another_build(host):
    odd = host['odd-absent']
    done = result(host, 'first', 'odd absent')
    assert done['status'] == 'ok' and done['result']['changed'], done
    assert done['result']['removed'] == [os.path.join(odd['root'], INSTALL_NAME)]
    again = result(host, 'first', 'odd absent by version')
    assert again['status'] == 'ok' and not again['result']['changed'], again
    assert sorted(visible(odd['root'])) == sorted(ODD_RECEIPTS)
    for directory in ODD_RECEIPTS:
        assert tree(os.path.join(odd['root'], directory)) == odd['before'][directory]


def test_pbs_python_info_lists_odd_receipts_as_damaged_with_the_reason(host):
    odd = host['odd-info']
    info = result(host, 'first', 'odd info')
    assert info['status'] == 'ok', info
    reported = info['result']
    assert [i['path'] for i in reported['installs']] == [os.path.join(odd['root'], INSTALL_NAME)]
    assert reported['installs'][0]['works']
    damaged = dict((os.path.basename(d['path']), d['error']) for d in reported['damaged'])
    assert sorted(damaged) == sorted(ODD_RECEIPTS)
    assert "version '3.12.9-local' is not an exact CPython version" in damaged['cpython-3.12.9-local']
    assert 'is not valid JSON' in damaged['cpython-bad-json']
    assert 'not a JSON object' in damaged['cpython-not-a-dict']
    assert 'build must be a string' in damaged['cpython-non-string']
    assert 'PBS_RECEIPT.json is not a regular file' in damaged['cpython-receipt-is-a-dir']
    assert 'PBS_RECEIPT.json is not a regular file' in damaged['cpython-receipt-is-a-fifo']
    assert 'PBS_RECEIPT.json is a symlink' in damaged['cpython-receipt-is-a-symlink']
    assert reported['unrecognized'] == []


def test_the_fleet_report_shows_a_host_with_odd_receipts_instead_of_failing_it(host, tmp_path):
    odd = host['odd-info']
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'odd-host': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '/usr/bin/python3',
        'pbs_python_install_root': odd['root'], 'pbs_python_link_dir': '',
        'pbs_python_installs': [{'version': '3.12', 'build': TAG, 'variant': 'install_only'}]}}}}))
    out = str(tmp_path / 'report.json')
    run = run_playbook([{'import_playbook': 'pbs.python.report'}], str(tmp_path / 'work'), inventory=str(inventory),
                       extra_args=['-e', 'pbs_python_report_json=%s' % out])
    assert run.rc == 0, run.output[-3000:]
    with open(out) as handle:
        rows = json.load(handle)
    assert [row['host'] for row in rows] == ['odd-host']
    row = rows[0]
    assert row['reached'] and row['drift']
    assert row['installed'] == ['%s+%s' % (VERSION, TAG)] and row['missing'] == []
    assert sorted(row['broken']) == sorted('%s (unusable receipt)' % d for d in ODD_RECEIPTS)
