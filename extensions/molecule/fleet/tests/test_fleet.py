"""Verify issue 3 on every host of the fleet scenario, over real SSH.

The expectation comes from the scenario's inventory only (the same group_vars the role reads): each
host must have exactly the union of the pins of its groups, each install carrying a receipt with the
pinned build and the sha256 the mirror's SHA256SUMS lists, a working interpreter that reports the
pinned version from its own prefix, and the python3.X / python3 links the pins ask for.
"""

import json
import os
import re
import urllib.request
from functools import lru_cache
from urllib.parse import unquote

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ['MOLECULE_INVENTORY_FILE'])
testinfra_hosts = RUNNER.get_hosts('all')

PIN_VARS = re.compile(r'^pbs_python_installs(__.+)?$')
DEFAULT_VARIANT = 'install_only_stripped'  # the role's default


def pins_of(variables):
    """Union of every pbs_python_installs[__group] list this host sees, keyed by install dir stem."""
    pins = {}
    for name in sorted(variables):
        if PIN_VARS.match(name):
            for pin in variables[name] or []:
                pin = dict(pin, variant=pin.get('variant') or DEFAULT_VARIANT, source=name)
                assert str(pin['version']).count('.') == 2, 'the scenario pins exact versions: %r' % pin
                key = (str(pin['version']), str(pin['build']), pin['variant'])
                if key in pins:
                    pin['default'] = pin.get('default') or pins[key].get('default')
                pins[key] = pin
    return pins


def minor(version):
    return '.'.join(version.split('.')[:2])


def asset(pin, triple):
    return 'cpython-%s+%s-%s-%s.tar.gz' % (pin['version'], pin['build'], triple, pin['variant'])


def triple(host):
    return '%s-unknown-linux-gnu' % host.system_info.arch


def install_dir(variables, pin, triple_):
    return '%s/%s' % (variables.get('pbs_python_install_root', '/opt/pbs-python'), asset(pin, triple_)[:-len('.tar.gz')])


@lru_cache(maxsize=None)
def mirror_sums(mirror, tag):
    """The mirror's SHA256SUMS for one tag, read over HTTP from the controller."""
    with urllib.request.urlopen('%s/%s/SHA256SUMS' % (mirror.rstrip('/'), tag), timeout=10) as response:
        lines = response.read().decode().splitlines()
    return dict(reversed(line.split(None, 1)) for line in lines if line.strip())


def expectations(host):
    variables = host.ansible.get_variables()
    pins = pins_of(variables)
    assert pins, 'no pins for %s in the inventory' % variables['inventory_hostname']
    return variables, pins


def test_exactly_the_pins_of_its_groups_are_installed(host):
    variables, pins = expectations(host)
    t = triple(host)
    root = variables.get('pbs_python_install_root', '/opt/pbs-python')
    wanted = sorted(install_dir(variables, pin, t).rsplit('/', 1)[1] for pin in pins.values())
    present = sorted(name for name in host.file(root).listdir() if not name.startswith('.'))
    assert present == wanted

    # Builds only other groups pin are absent (a group never gets another group's builds).
    others = {}
    for other in testinfra_hosts:
        others.update(pins_of(RUNNER.get_variables(other)))
    foreign = [pin for key, pin in others.items() if key not in pins]
    assert foreign, 'the scenario should give the groups different pins'
    for pin in foreign:
        assert not host.file(install_dir(variables, pin, t)).exists, pin


def test_receipts_carry_the_pinned_build_and_the_mirrors_sha256(host):
    variables, pins = expectations(host)
    mirror = variables['pbs_python_mirrors'][0]
    t = triple(host)
    for pin in pins.values():
        path = install_dir(variables, pin, t)
        receipt = json.loads(host.file(path + '/PBS_RECEIPT.json').content_string)
        name = asset(pin, t)
        assert (receipt['version'], receipt['build'], receipt['variant'], receipt['target']) == (
            pin['version'], pin['build'], pin['variant'], t)
        assert receipt['freethreaded'] is False
        assert receipt['sha256'] == mirror_sums(mirror, pin['build'])[name]
        assert unquote(receipt['url']) == '%s/%s/%s' % (mirror.rstrip('/'), pin['build'], name)
        assert host.file(path + '/BUILD').content_string == pin['build']


def test_builds_of_one_version_have_their_own_bytes(host):
    """Two builds of one version (3.12.1 of two tags in this scenario) differ in sha256."""
    variables = host.ansible.get_variables()
    mirror = variables['pbs_python_mirrors'][0]
    by_version = {}
    for other in testinfra_hosts:
        for pin in pins_of(RUNNER.get_variables(other)).values():
            by_version.setdefault(pin['version'], {})[pin['build']] = mirror_sums(mirror, pin['build'])[
                asset(pin, triple(host))]
    shared = {v: builds for v, builds in by_version.items() if len(builds) > 1}
    assert shared, 'the scenario should pin two builds of one version in different groups'
    for builds in shared.values():
        assert len(set(builds.values())) == len(builds)


def test_pinned_interpreters_run_from_their_own_prefix(host):
    variables, pins = expectations(host)
    t = triple(host)
    for pin in pins.values():
        path = install_dir(variables, pin, t)
        python = '%s/bin/python%s' % (path, minor(pin['version']))
        out = host.run("%s -c 'import platform, ssl, sys; print(platform.python_version(), sys.prefix, ssl.__file__)'",
                       python)
        assert out.rc == 0, out.stderr
        version, prefix, ssl_file = out.stdout.split()
        assert version == pin['version']
        assert prefix == path and ssl_file.startswith(path + '/'), out.stdout


def test_links_point_where_the_pins_say(host):
    variables, pins = expectations(host)
    link_dir = variables['pbs_python_link_dir']
    t = triple(host)
    defaults = [pin for pin in pins.values() if pin.get('default')]
    assert len(defaults) == 1
    for pin in pins.values():
        target = '%s/bin/python%s' % (install_dir(variables, pin, t), minor(pin['version']))
        link = host.file('%s/python%s' % (link_dir, minor(pin['version'])))
        assert link.is_symlink and link.linked_to == target
        out = host.run("%s -c 'import platform; print(platform.python_version())'", link.path)
        assert out.rc == 0 and out.stdout.strip() == pin['version'], out.stderr
    default = defaults[0]
    python3 = host.file(link_dir + '/python3')
    assert python3.is_symlink
    assert python3.linked_to == '%s/bin/python%s' % (install_dir(variables, default, t), minor(default['version']))
    out = host.run("PATH=%s:/usr/bin:/bin python3 -c 'import platform; print(platform.python_version())'", link_dir)
    assert out.stdout.strip() == default['version'], out.stderr
    # The system's own interpreter is untouched.
    assert host.run('/usr/bin/python3 -c "import sys; print(sys.prefix)"').stdout.strip() == '/usr'
