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
