# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The installer's policy without Ansible: a fake mirror, a temporary install root, real archives.

The fake replaces only the transport (``Fetcher.open``), so the real retry and failover policy,
SHA256SUMS parsing and pin resolution run, and every URL asked for is recorded: "no network" is
checked as zero requests. Archives are real tar.gz files in PBS layout holding a stand-in
interpreter (tests/support/tiny_archives.py), so extraction, the sha256 check, the swap, the
receipt and the interpreter probe are the real ones, in milliseconds.
"""

import hashlib
import io
import json
import os
import subprocess

import pytest

from ansible_collections.pbs.python.plugins.module_utils import _manifest
from ansible_collections.pbs.python.plugins.module_utils._download_policy import FetchError
from ansible_collections.pbs.python.plugins.module_utils._fetch import Fetcher
from ansible_collections.pbs.python.plugins.module_utils._installer import Installer
from ansible_collections.pbs.python.plugins.module_utils._naming import asset_url, sums_url
from ansible_collections.pbs.python.plugins.module_utils._pin import ChecksumMismatch, InstallError, Pin

import tiny_archives

TARGET = 'x86_64-unknown-linux-gnu'
BUILD = '20260814'
M1, M2 = 'https://m1.example/pbs', 'https://m2.example/pbs'


def asset(version, target=TARGET):
    return 'cpython-%s+%s-%s-install_only_stripped.tar.gz' % (version, BUILD, target)


ARCHIVES = dict((version, tiny_archives.interpreter_archive(version, marker='good'))
                for version in ('3.12.14', '3.11.16'))


class FakeMirrors(Fetcher):
    """Serves ``files`` (URL -> bytes); anything else is a 404. Records every URL opened."""

    def __init__(self, files=None):
        super(FakeMirrors, self).__init__({}, timeout=1, retries=2)
        self.files = dict(files or {})
        self.calls = []

    def open(self, url):
        self.calls.append(url)
        if url not in self.files:
            raise FetchError(url, 'HTTP 404 (not found on this mirror)', status=404)
        return io.BytesIO(self.files[url])

    def publish(self, mirror, archives):
        """Lay out ``archives`` (asset -> bytes) under ``mirror`` with their SHA256SUMS, as upstream does."""
        for name, data in archives.items():
            self.files[asset_url(mirror, BUILD, name)] = data
        self.files[sums_url(mirror, BUILD)] = ''.join(
            '%s  %s\n' % (hashlib.sha256(archives[name]).hexdigest(), name) for name in sorted(archives)).encode()


def run(argv):
    """The module's interpreter probe (``_host.interpreter_runner``) without an AnsibleModule."""
    env = dict(os.environ, PYTHONHOME='', PYTHONPATH='')
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def host(tmp_path):
    """An install root and a link directory that do not exist yet."""
    return str(tmp_path / 'root'), str(tmp_path / 'bin')


def installer(host, fetcher, check_mode=False):
    root, link_dir = host
    return Installer(root=root, target=TARGET, link_dir=link_dir, fetcher=fetcher, check_mode=check_mode, run=run)


def present(host, fetcher, check_mode=False, **pin):
    """What the module does for state=present: validate the pin for the target, then install."""
    request = Pin(pin.pop('version', '3.12.14'), BUILD, mirrors=pin.pop('mirrors', [M1]), **pin)
    request.check(TARGET)
    return installer(host, fetcher, check_mode).present(request)


def upstream(versions=('3.12.14', '3.11.16'), mirror=M1):
    fake = FakeMirrors()
    fake.publish(mirror, dict((asset(v), ARCHIVES[v]) for v in versions))
    return fake


def snapshot(path):
    """Every entry under ``path`` with its kind and content (links: their target): "untouched" made checkable."""
    found = {}
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(top, name)
            if os.path.islink(full):
                found[full] = ('link', os.readlink(full))
            elif os.path.isdir(full):
                found[full] = ('dir', oct(os.stat(full).st_mode))
            else:
                with open(full, 'rb') as handle:
                    found[full] = ('file', oct(os.stat(full).st_mode), handle.read())
    return found


def test_fresh_install_writes_the_tree_receipt_build_file_and_links(host):
    root, link_dir = host
    fake = upstream()
    result = present(host, fake, default=True)
    path = os.path.join(root, asset('3.12.14')[:-len('.tar.gz')])
    digest = hashlib.sha256(ARCHIVES['3.12.14']).hexdigest()
    url = asset_url(M1, BUILD, asset('3.12.14'))
    assert result['changed'] and result['path'] == path and result['sha256'] == digest
    assert fake.calls == [sums_url(M1, BUILD), url]
    with open(os.path.join(path, 'PBS_RECEIPT.json')) as handle:
        receipt = json.load(handle)
    assert {k: receipt[k] for k in ('version', 'build', 'target', 'variant', 'freethreaded', 'sha256', 'url')} == dict(
        version='3.12.14', build=BUILD, target=TARGET, variant='install_only_stripped', freethreaded=False,
        sha256=digest, url=url)
    with open(os.path.join(path, 'BUILD')) as handle:
        assert handle.read() == BUILD  # uv's marker: the tag, no newline
    with open(os.path.join(path, 'MARKER')) as handle:
        assert handle.read() == 'good\n'
    python = os.path.join(path, 'bin', 'python3.12')
    assert os.readlink(os.path.join(link_dir, 'python3.12')) == python
    assert os.readlink(os.path.join(link_dir, 'python3')) == python
    assert run([os.path.join(link_dir, 'python3')])[1] == '3.12.14\n'
    assert sorted(os.listdir(root)) == ['.lock', os.path.basename(path)]  # no staging or trash left


def test_second_present_is_a_no_op_without_a_single_request(host):
    present(host, upstream(), default=True)
    before = snapshot(host[0])
    idle = upstream()
    result = present(host, idle, default=True)
    assert result['changed'] is False and result['version'] == '3.12.14'
    assert idle.calls == []
    assert snapshot(host[0]) == before


def test_minor_pin_resolves_the_newest_patch_from_sha256sums(host):
    fake = upstream()
    fake.publish(M1, {asset('3.12.14'): ARCHIVES['3.12.14'], asset('3.11.16'): ARCHIVES['3.11.16'],
                      asset('3.12.14', 'aarch64-unknown-linux-gnu'): b'another target',
                      asset('3.12.13'): b'an older patch, never fetched'})
    result = present(host, fake, version='3.12')
    assert result['changed'] and result['version'] == '3.12.14'
    assert result['sha256'] == hashlib.sha256(ARCHIVES['3.12.14']).hexdigest()
    assert fake.calls == [sums_url(M1, BUILD), asset_url(M1, BUILD, asset('3.12.14'))]
    # Installed, the X.Y pin is settled by the receipt: no SHA256SUMS read again.
    idle = upstream()
    assert present(host, idle, version='3.12')['changed'] is False
    assert idle.calls == []


def test_minor_pin_the_build_lacks_names_the_versions_it_has(host):
    fake = upstream()
    with pytest.raises(InstallError, match='versions it has: 3.11.16, 3.12.14'):
        present(host, fake, version='3.13')
    assert fake.calls == [sums_url(M1, BUILD)]
    assert os.listdir(host[0]) == ['.lock']


def test_checksum_mismatch_installs_nothing(host):
    fake = upstream()
    fake.files[asset_url(M1, BUILD, asset('3.12.14'))] = tiny_archives.interpreter_archive('3.12.14', marker='evil')
    with pytest.raises(ChecksumMismatch, match='Nothing was installed'):
        present(host, fake)
    assert os.listdir(host[0]) == ['.lock']  # the staging tree went with the error
    assert not os.path.exists(host[1])


def test_checksum_mismatch_leaves_the_existing_install_untouched(host):
    present(host, upstream(), default=True)
    before = snapshot(os.path.dirname(host[0]))
    fake = upstream(versions=('3.11.16',))
    tampered = tiny_archives.interpreter_archive('3.12.14', marker='evil')
    fake.files[asset_url(M1, BUILD, asset('3.12.14'))] = tampered
    fake.files[asset_url(M2, BUILD, asset('3.12.14'))] = tampered
    pinned = hashlib.sha256(ARCHIVES['3.12.14']).hexdigest()
    # force: reinstall over the working tree; the pinned digest settles the asset without SHA256SUMS.
    with pytest.raises(ChecksumMismatch):
        present(host, fake, sha256=pinned, force=True, default=True, mirrors=[M1, M2])
    assert fake.calls == [asset_url(M1, BUILD, asset('3.12.14'))]  # a pin is a pin: never tried elsewhere
    assert snapshot(os.path.dirname(host[0])) == before


def test_a_404_mirror_fails_over_to_the_next(host):
    fake = upstream(mirror=M2)
    result = present(host, fake, mirrors=[M1, M2])
    url = asset_url(M2, BUILD, asset('3.12.14'))
    assert result['changed'] and result['url'] == url
    # A 404 is not retried on the same mirror (retries=2): each URL of M1 is asked exactly once.
    assert fake.calls == [sums_url(M1, BUILD), sums_url(M2, BUILD), asset_url(M1, BUILD, asset('3.12.14')), url]
    with open(os.path.join(result['path'], 'PBS_RECEIPT.json')) as handle:
        assert json.load(handle)['url'] == url  # the receipt names the mirror that served the bytes


def test_every_mirror_404_names_the_fix_and_installs_nothing(host):
    fake = FakeMirrors()
    pinned = hashlib.sha256(ARCHIVES['3.12.14']).hexdigest()
    with pytest.raises(InstallError) as info:
        present(host, fake, sha256=pinned, mirrors=[M1, M2])
    message = str(info.value)
    assert 'every mirror failed' in message and 'check that the mirror carries build %s' % BUILD in message
    assert 'Nothing was installed' in message
    assert fake.calls == [asset_url(M1, BUILD, asset('3.12.14')), asset_url(M2, BUILD, asset('3.12.14'))]
    assert os.listdir(host[0]) == ['.lock']


def test_absent_removes_the_install_and_its_links_only(host):
    root, link_dir = host
    present(host, upstream(), default=True)
    kept = present(host, upstream(), version='3.11.16')
    os.symlink('/usr/bin/python3', os.path.join(link_dir, 'python'))  # not ours: stays
    fake = FakeMirrors()
    removed = os.path.join(root, asset('3.12.14')[:-len('.tar.gz')])
    result = installer(host, fake).absent('3.12', BUILD, None, None)
    assert result['changed'] and result['removed'] == [removed]
    assert result['links'] == {os.path.join(link_dir, 'python3'): None, os.path.join(link_dir, 'python3.12'): None}
    assert sorted(os.listdir(link_dir)) == ['python', 'python3.11']
    assert sorted(os.listdir(root)) == ['.lock', os.path.basename(kept['path'])]
    assert fake.calls == []
    again = installer(host, fake).absent('3.12', BUILD, None, None)
    assert again['changed'] is False and again['removed'] == []


def test_check_mode_makes_no_request_and_writes_nothing(host, tmp_path):
    fake = upstream()
    result = present(host, fake, check_mode=True, version='3.12', default=True)
    assert result['changed'] and result['version'] == '3.12.*'  # the patch is only known from SHA256SUMS
    assert fake.calls == []
    assert os.listdir(str(tmp_path)) == []
    # Installed, check mode reports a planned removal and removes nothing.
    present(host, upstream(), default=True)
    before = snapshot(str(tmp_path))
    result = installer(host, fake, check_mode=True).absent('3.12.14', BUILD, None, None)
    assert result['changed'] and len(result['removed']) == 1
    assert fake.calls == []
    assert snapshot(str(tmp_path)) == before


def item(version, **claims):
    """An inventory pin as the role gives it (see _pin.normalize_pin)."""
    return dict(dict(version=version, build=BUILD, variant='install_only_stripped', freethreaded=False, default=False,
                     link=True), **claims)


def converge(host, fetcher, items, **options):
    pins = []
    for entry in items:
        request = Pin(entry['version'], BUILD, mirrors=[M1], default=entry['default'])
        request.check(TARGET)
        pins.append((request, entry))
    return installer(host, fetcher, options.pop('check_mode', False)).converge(pins, **options)


def test_converge_installs_every_pin_links_only_linked_ones_and_prunes_the_rest_in_one_call(host):
    root, link_dir = host
    present(host, upstream(), version='3.11.16')  # pinned by nobody below
    old = os.path.join(root, asset('3.11.16')[:-len('.tar.gz')])
    wanted = [item('3.12', default=True)]

    check = converge(host, upstream(), wanted, prune=True, check_mode=True)
    assert check['changed'] and check['removed'] == [old] and os.path.isdir(old)

    result = converge(host, upstream(), wanted, prune=True)
    path = os.path.join(root, asset('3.12.14')[:-len('.tar.gz')])
    python = os.path.join(path, 'bin', 'python3.12')
    assert result['changed'] and result['removed'] == [old] and not os.path.exists(old)
    assert result['links'] == {os.path.join(link_dir, 'python3.11'): None}  # the pruned build's link went with it
    assert sorted(os.listdir(link_dir)) == ['python3', 'python3.12']
    assert result['interpreters'] == {'3.12': python} and result['default_interpreter'] == python
    assert [r['item'] for r in result['results']] == wanted

    idle = upstream()
    again = converge(host, idle, wanted + [item('3.11.16', link=False)], prune=True)
    assert again['changed'] and again['removed'] == [] and idle.calls != []  # 3.11 comes back, unlinked
    assert sorted(os.listdir(link_dir)) == ['python3', 'python3.12']
    assert sorted(again['interpreters']) == ['3.11', '3.12']
    before = snapshot(root)
    idle = upstream()
    noop = converge(host, idle, wanted + [item('3.11.16', link=False)], prune=True)
    assert noop['changed'] is False and idle.calls == [] and snapshot(root) == before


def test_converge_asking_first_names_the_missing_pins_and_prunes_nothing_yet(host):
    root, dummy = host
    present(host, upstream(), version='3.11.16')
    idle = FakeMirrors()
    result = converge(host, idle, [item('3.12.14')], prune=True, ask_first=True)
    assert [r.get('needs_archive') for r in result['results']] == [True]
    assert result['removed'] == [] and idle.calls == []
    assert asset('3.11.16')[:-len('.tar.gz')] in os.listdir(root)


# -- the tree manifest and repair (issue 14) -------------------------------------------------------

SYSCONFIG = 'lib/python3.12/_sysconfigdata__linux_x86_64-linux-gnu.py'


def relocatable_archive(version='3.12.14'):
    """A stand-in tree with what the installer rewrites after extracting: PBS's sysconfig data and
    pkg-config file, stale bytecode of the former, and no ``bin/python`` (as PBS before 20240224)."""
    members = [m for m in tiny_archives.interpreter_members(version, marker='good') if m[0].name != 'python/bin/python3']
    members += [
        tiny_archives.entry('python/' + SYSCONFIG, data=b"build_time_vars = {'prefix': '/install', 'CC': 'clang'}\n"),
        tiny_archives.entry('python/lib/python3.12/__pycache__/_sysconfigdata__linux_x86_64-linux-gnu.cpython-312.pyc',
                            data=b'stale'),
        tiny_archives.entry('python/lib/pkgconfig/python-3.12.pc', data=b'prefix=/install\nName: Python\n'),
    ]
    return tiny_archives.gz(tiny_archives._tar(members))


def receipt_of(path):
    with open(os.path.join(path, 'PBS_RECEIPT.json')) as handle:
        return json.load(handle)


def test_an_install_records_the_manifest_of_the_tree_as_installed_relocation_included(host):
    root, dummy = host
    fake = FakeMirrors()
    fake.publish(M1, {asset('3.12.14'): relocatable_archive()})
    result = present(host, fake)
    path = result['path']
    receipt = receipt_of(path)
    digest, drift = _manifest.verify(path, receipt, content=True)
    assert digest == receipt['tree_digest'] and not _manifest.tampered(drift), drift
    entries = _manifest.read(path, digest)
    with open(os.path.join(path, SYSCONFIG), 'rb') as handle:
        patched = handle.read()
    assert b'/install' not in patched and entries[SYSCONFIG]['sha256'] == hashlib.sha256(patched).hexdigest()
    assert entries['bin/python'] == _manifest.symlink('python3.12')  # added by the installer
    assert not [rel for rel in entries if '__pycache__/' in rel]  # dropped by relocation
    assert 'PBS_RECEIPT.json' not in entries and 'BUILD' not in entries
    # The same archive under the same path gives the same digest, whenever it is installed.
    again = present(host, fake, force=True)
    assert receipt_of(again['path'])['tree_digest'] == digest


def tamper(path):
    """One byte of os.py changed, a file added, a mode changed: the three tampers of the fleet test."""
    with open(os.path.join(path, 'lib', 'python3.12', 'os.py'), 'r+b') as handle:
        handle.write(b'!')  # one byte, same size
    with open(os.path.join(path, 'lib', 'python3.12', 'evil.py'), 'w') as handle:
        handle.write('import os\n')
    os.chmod(os.path.join(path, 'MARKER'), 0o666)


def test_repair_reinstalls_a_tampered_tree_from_the_pinned_bytes_keeping_its_links(host):
    root, link_dir = host
    path = present(host, upstream(), default=True)['path']
    links = sorted((name, os.readlink(os.path.join(link_dir, name))) for name in os.listdir(link_dir))
    tamper(path)
    expected = dict(modified=['lib/python3.12/os.py'], missing=[], extra=['lib/python3.12/evil.py'], mode=['MARKER'],
                    error='')

    idle = upstream()
    assert present(host, idle, default=True)['changed'] is False and idle.calls == []  # not asked: left alone
    before = snapshot(root)
    check = present(host, idle, check_mode=True, default=True, repair=True)
    assert check['changed'] and check['repaired'] == expected and idle.calls == [] and snapshot(root) == before
    request = Pin('3.12.14', BUILD, mirrors=[M1], default=True, repair=True)
    asked = installer(host, idle).present(request, ask_first=True)
    assert asked.get('needs_archive') and idle.calls == []  # controller delivery then sends the archive

    fake = upstream()
    result = present(host, fake, default=True, repair=True)
    assert result['changed'] and result['repaired'] == expected and result['path'] == path
    assert fake.calls == [sums_url(M1, BUILD), asset_url(M1, BUILD, asset('3.12.14'))]
    assert not _manifest.tampered(_manifest.verify(path, receipt_of(path), content=True)[1])
    assert not os.path.exists(os.path.join(path, 'lib', 'python3.12', 'evil.py'))
    assert sorted((name, os.readlink(os.path.join(link_dir, name))) for name in os.listdir(link_dir)) == links
    idle = upstream()
    again = present(host, idle, default=True, repair=True)
    assert again['changed'] is False and 'repaired' not in again and idle.calls == []


def test_only_verify_repairs_a_change_that_kept_size_and_mtime(host):
    path = present(host, upstream())['path']
    os_py = os.path.join(path, 'lib', 'python3.12', 'os.py')
    mtime = os.stat(os_py).st_mtime
    with open(os_py, 'r+b') as handle:
        handle.write(b'!')
    os.utime(os_py, (mtime, mtime))
    assert present(host, upstream(), repair=True)['changed'] is False
    result = present(host, upstream(), repair=True, verify=True)
    assert result['changed'] and result['repaired']['modified'] == ['lib/python3.12/os.py']


def test_repair_leaves_an_install_without_a_manifest_alone(host):
    path = present(host, upstream())['path']
    receipt = receipt_of(path)
    del receipt['tree_digest']  # as a release before manifests wrote it
    os.unlink(os.path.join(path, _manifest.MANIFEST))
    with open(os.path.join(path, 'PBS_RECEIPT.json'), 'w') as handle:
        json.dump(receipt, handle)
    tamper(path)
    idle = upstream()
    assert present(host, idle, repair=True)['changed'] is False and idle.calls == []


class CountingRun(object):
    """The probe runner, counting the interpreters it starts."""

    def __init__(self):
        self.started = []

    def __call__(self, argv):
        self.started.append(argv[0])
        return run(argv)


def present_counting(host, fetcher, **pin):
    root, link_dir = host
    counting = CountingRun()
    request = Pin(pin.pop('version', '3.12.14'), BUILD, mirrors=[M1], **pin)
    request.check(TARGET)
    result = Installer(root=root, target=TARGET, link_dir=link_dir, fetcher=fetcher, check_mode=False,
                       run=counting).present(request)
    return result, counting.started


def test_a_no_op_starts_no_interpreter_when_the_files_it_starts_from_are_as_when_it_last_ran(host):
    result, started = present_counting(host, upstream())
    assert len(started) == 1  # the install probes the staged interpreter once
    receipt = receipt_of(result['path'])
    assert receipt['started_from'] == {'bin/python3.12': [os.path.getsize(result['python']), 0o755,
                                                          int(os.path.getmtime(result['python']))]}
    idle = upstream()
    again, started = present_counting(host, idle)
    assert again['changed'] is False and started == [] and idle.calls == []


def test_verify_starts_the_interpreter_even_when_the_record_holds(host):
    present(host, upstream())
    idle = upstream()
    result, started = present_counting(host, idle, verify=True)
    assert result['changed'] is False and started == [result['python']] and idle.calls == []


def test_an_interpreter_whose_binary_changed_is_started_again_and_replaced_when_broken(host):
    path = present(host, upstream())['path']
    python = os.path.join(path, 'bin', 'python3.12')
    os.utime(python, (1, 1))  # same bytes, another mtime: probed, still works, nothing else happens
    idle = upstream()
    result, started = present_counting(host, idle)
    assert result['changed'] is False and started == [python] and idle.calls == []
    with open(python, 'w') as handle:
        handle.write('#!/bin/sh\nexit 1\n')  # broken: the probe fails, the pinned bytes come back
    fresh = upstream()
    result, started = present_counting(host, fresh)
    assert result['changed'] is True and len(fresh.calls) == 2 and started[0] == python
    assert receipt_of(path)['started_from']['bin/python3.12'][0] == os.path.getsize(python)


def test_an_install_without_the_record_is_probed_as_before(host):
    path = present(host, upstream())['path']
    receipt = receipt_of(path)
    del receipt['started_from']  # as a release before the record wrote it
    with open(os.path.join(path, 'PBS_RECEIPT.json'), 'w') as handle:
        json.dump(receipt, handle)
    idle = upstream()
    result, started = present_counting(host, idle)
    assert result['changed'] is False and len(started) == 1 and idle.calls == []


def test_the_record_covers_the_binary_libpython_and_the_encodings_its_start_imports(tmp_path):
    """Whatever of these is deleted or rewritten, the next run starts the interpreter again."""
    from ansible_collections.pbs.python.plugins.module_utils import _install_root

    tree = tmp_path / 'cpython'
    encodings = tree / 'lib' / 'python3.12' / 'encodings'
    encodings.mkdir(parents=True)
    (tree / 'bin').mkdir()
    files = ['bin/python3.12', 'lib/libpython3.12.so.1.0', 'lib/python3.12/encodings/__init__.py',
             'lib/python3.12/encodings/aliases.py', 'lib/python3.12/encodings/utf_8.py']
    for rel in files:
        (tree / rel).write_text(rel)
    os.chmod(str(tree / 'bin' / 'python3.12'), 0o755)
    os.symlink('libpython3.12.so.1.0', str(tree / 'lib' / 'libpython3.12.so'))  # a link is not what runs
    receipt = {'version': '3.12.14', 'freethreaded': False}
    receipt['started_from'] = _install_root.start_files(str(tree), receipt)
    assert sorted(receipt['started_from']) == files

    started = []

    def probe(argv):  # a stand-in interpreter that starts and reports the version
        started.append(argv[0])
        return 0, '3.12.14\n', ''
    assert _install_root.interpreter_works(str(tree), receipt, probe) == (True, '') and started == []
    os.unlink(str(encodings / '__init__.py'))
    assert _install_root.interpreter_works(str(tree), receipt, probe) == (True, '')
    assert started == [str(tree / 'bin' / 'python3.12')]


def test_a_receipt_nested_too_deep_sets_only_its_own_directory_aside(tmp_path):
    from ansible_collections.pbs.python.plugins.module_utils import _install_root

    (tmp_path / 'cpython-a').mkdir()
    (tmp_path / 'cpython-a' / 'PBS_RECEIPT.json').write_text('[' * 200000 + ']' * 200000)
    receipt, why = _install_root.load_receipt(str(tmp_path / 'cpython-a'))
    assert receipt is None and 'not valid JSON (RecursionError)' in why
