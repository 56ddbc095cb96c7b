"""The fleet report's rows: every kind of drift, and hosts it could not read are never "ok"."""

from ansible_collections.pbs.python.plugins.filter.pins import merge_pins
from ansible_collections.pbs.python.plugins.filter.report import fleet_report

PINS = merge_pins({'pbs_python_installs__web': [{'version': '3.12', 'build': '20240107', 'default': True}]})


def install(version, build, works=True):
    return dict(version=version, build=build, variant='install_only_stripped', freethreaded=False, works=works,
                path='/opt/pbs-python/cpython-%s+%s' % (version, build))


def facts(installs, pins=PINS):
    return {'group_names': ['web'], '__pbs_python_report_pins': pins,
            '__pbs_python_report_info': {'installs': installs}}


def test_rows_name_each_kind_of_drift_and_unreached_hosts():
    hostvars = {
        'good': facts([install('3.12.1', '20240107')]),
        'missing': facts([]),
        'extra': facts([install('3.12.1', '20240107'), install('3.11.7', '20240107')]),
        'broken': facts([install('3.12.1', '20240107', works=False)]),
        'down': {'group_names': ['web']},
    }
    report = fleet_report(hostvars, sorted(hostvars))
    rows = dict((row['host'], row) for row in report['hosts'])
    assert report['drifted'] == ['broken', 'down', 'extra', 'missing']
    assert rows['missing']['missing'] == ['3.12+20240107']
    assert rows['extra']['unpinned'] == ['3.11.7+20240107']
    assert rows['broken']['broken'] == ['3.12.1+20240107'] and rows['broken']['missing'] == []
    assert rows['down']['reached'] is False
    lines = dict((line.split()[0], line) for line in report['table'].splitlines()[2:])
    assert lines['good'].endswith(' ok') and lines['down'].endswith('UNKNOWN (not reached)')
    assert 'down,web,,,,,,True' in report['csv']


def test_a_directory_with_an_unusable_receipt_shows_as_broken_and_the_rest_of_the_host_as_usual():
    info = {'installs': [install('3.12.1', '20240107')],
            'damaged': [{'path': '/opt/pbs-python/cpython-local', 'error': 'PBS_RECEIPT.json: version ...'}]}
    row = fleet_report({'odd': dict(facts([]), __pbs_python_report_info=info)}, ['odd'])['hosts'][0]
    assert row['reached'] and row['drift']
    assert row['installed'] == ['3.12.1+20240107'] and row['missing'] == []
    assert row['broken'] == ['cpython-local (unusable receipt)']
    assert row['paths']['cpython-local (unusable receipt)'] == '/opt/pbs-python/cpython-local'


DIGEST_A, DIGEST_B = 'a' * 64, 'b' * 64


def checked(digest=DIGEST_A, **drift):
    """An install as pbs_python_info reports it after checking its tree against its manifest."""
    found = dict(dict((kind, []) for kind in ('modified', 'missing', 'extra', 'mode')), error='')
    found.update(drift)
    tampered = any(found[kind] for kind in ('modified', 'missing', 'extra', 'mode')) or bool(found['error'])
    return dict(install('3.12.1', '20240107'), tree_digest=digest, drift=found, tampered=tampered)


def test_a_tree_that_differs_from_its_manifest_is_tampered_with_its_files_named_in_json_and_csv():
    import csv
    import io

    hostvars = {
        'a': facts([checked(modified=['lib/python3.12/os.py'])]),
        'b': facts([checked(extra=['lib/python3.12/evil.py', 'lib/python3.12/site-packages/x y'])]),
        'c': facts([checked(mode=['bin/python3.12'])]),
        'd': facts([checked()]),
        'e': facts([checked(error='PBS_MANIFEST.json is missing, but the receipt records tree digest aaaa')]),
    }
    report = fleet_report(hostvars, sorted(hostvars))
    rows = dict((row['host'], row) for row in report['hosts'])
    assert report['drifted'] == ['a', 'b', 'c', 'e']
    label = '3.12.1+20240107'
    assert rows['a']['tampered'] == [label] and rows['a']['tampered_files'][label]['modified'] == ['lib/python3.12/os.py']
    assert rows['b']['tampered_files'][label]['extra'] == ['lib/python3.12/evil.py', 'lib/python3.12/site-packages/x y']
    assert rows['c']['tampered_files'][label]['mode'] == ['bin/python3.12']
    assert rows['e']['tampered_files'][label]['reasons'][0].startswith('PBS_MANIFEST.json is missing')
    assert rows['d']['tampered'] == [] and rows['d']['tree_digests'] == {label: DIGEST_A}
    lines = dict((line.split()[0], line) for line in report['table'].splitlines()[2:])
    assert lines['a'].endswith('%s  DRIFT' % label) and lines['d'].endswith(' ok')
    by_host = dict((row['host'], row) for row in csv.DictReader(io.StringIO(report['csv'])))
    assert by_host['b']['tampered_files'].split('\n') == [
        label + ' extra lib/python3.12/evil.py', label + ' extra lib/python3.12/site-packages/x y']
    assert by_host['a']['tampered_files'] == label + ' modified lib/python3.12/os.py'
    assert by_host['c']['tampered'] == label and by_host['d']['tampered_files'] == ''
    assert by_host['d']['tree_digests'] == '%s=%s' % (label, DIGEST_A)


def test_a_digest_unlike_the_majority_of_hosts_with_the_same_install_is_tampered():
    hostvars = dict(('h%d' % i, facts([checked()])) for i in range(3))
    hostvars['odd'] = facts([checked(DIGEST_B)])  # its manifest and receipt rewritten to match its tree
    hostvars['old'] = facts([checked('')])  # installed before manifests: nothing to compare
    rows = dict((row['host'], row) for row in fleet_report(hostvars, sorted(hostvars))['hosts'])
    assert [host for host, row in sorted(rows.items()) if row['drift']] == ['odd']
    (why,) = rows['odd']['tampered_files']['3.12.1+20240107']['reasons']
    assert why == 'tree digest %s differs from %s, held by 3 of the 4 hosts with this install' % ('b' * 12, 'a' * 12)


def test_without_a_majority_every_host_of_the_install_is_flagged_and_other_paths_are_other_groups():
    moved = dict(checked(DIGEST_B), path='/srv/pbs/cpython-3.12.1+20240107')  # another install root: own group
    hostvars = {'x': facts([checked()]), 'y': facts([checked(DIGEST_B)]), 'z': facts([moved]), 'w': facts([moved])}
    rows = dict((row['host'], row) for row in fleet_report(hostvars, sorted(hostvars))['hosts'])
    assert sorted(host for host, row in rows.items() if row['tampered']) == ['x', 'y']
    assert 'no digest is held by a majority of the 2 hosts' in rows['x']['tampered_files']['3.12.1+20240107']['reasons'][0]
