"""The pbs_python module through real ansible-playbook runs on localhost, against a loopback mirror.

Every test checks effects on disk, the interpreter itself, and the mirror's access log.
"""

import json
import os
import subprocess

from playbook import localhost_play, run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
ASSET_312 = 'cpython-3.12.1+20240107-%s-install_only.tar.gz' % TRIPLE


def pbs(mirror, root, name='pbs', **options):
    args = dict(mirror=mirror.url, install_root=root[0], link_dir=root[1], variant='install_only', target=TRIPLE)
    args.update(options)
    return {'name': name, 'pbs.python.pbs_python': args, 'register': 'r'}


def play(tmp_path, tasks, **kwargs):
    return run_playbook(localhost_play(tasks), str(tmp_path / 'work'), **kwargs)


def probe(python, code):
    out = subprocess.run([python, '-c', code], check=True, stdout=subprocess.PIPE, universal_newlines=True,
                         env={'PATH': '/usr/bin:/bin'})
    return out.stdout.strip()


def leftovers(root):
    return sorted(n for n in os.listdir(root) if n.startswith('.') and n != '.lock') if os.path.isdir(root) else []


def test_install_runs_from_its_own_prefix_and_second_run_is_a_free_noop(tmp_path, mirror, host_root):
    mirror.reset()
    first = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')])
    assert first.rc == 0, first.output
    result = first.result('pbs')
    assert result['changed'] and result['version'] == '3.12.1'
    assert result['path'] == os.path.join(host_root[0], ASSET_312[:-len('.tar.gz')])
    assert result['sha256'] == mirror.sums[ASSET_312]
    assert mirror.gets() == ['/20240107/SHA256SUMS', '/20240107/' + ASSET_312]

    prefix = probe(result['python'], 'import ssl, sqlite3, sys; print(sys.prefix, ssl.__file__, sqlite3.__file__)')
    assert [p.startswith(result['path']) for p in prefix.split()] == [True, True, True]
    with open(os.path.join(result['path'], 'BUILD')) as handle:
        assert handle.read() == '20240107'  # uv's marker: no newline
    with open(os.path.join(result['path'], 'PBS_RECEIPT.json')) as handle:
        receipt = json.load(handle)
    assert (receipt['version'], receipt['build'], receipt['sha256']) == ('3.12.1', '20240107', result['sha256'])

    mirror.reset()
    second = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')])
    assert second.rc == 0 and not second.result('pbs')['changed'], second.output
    assert second.result('pbs')['python'] == result['python']
    assert mirror.requests == []


def test_installed_interpreter_builds_c_extensions_with_its_own_paths(tmp_path, mirror, host_root):
    """PBS ships /install and clang in its build data; the install must point them at itself."""
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107')])
    assert run.rc == 0, run.output
    python, path = run.result('pbs')['python'], run.result('pbs')['path']
    config = json.loads(probe(python, 'import json, sysconfig; print(json.dumps(sysconfig.get_config_vars()))'))
    assert (config['prefix'], config['INCLUDEPY']) == (path, os.path.join(path, 'include', 'python3.12'))
    assert config['CC'].split()[0] == 'cc' and config['PYTHON_BUILD_STANDALONE'] == 1

    # Build and import an extension with the interpreter's own compile and link commands.
    source = tmp_path / 'spam.c'
    source.write_text('#include <Python.h>\n'
                      'static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "spam", NULL, -1, NULL};\n'
                      'PyMODINIT_FUNC PyInit_spam(void) { return PyModule_Create(&m); }\n')
    obj, ext = str(tmp_path / 'spam.o'), str(tmp_path / ('spam' + config['EXT_SUFFIX']))
    env = {'PATH': '/usr/bin:/bin'}
    compile_cmd = '%s %s -I%s -c %s -o %s' % (config['CC'], config['CCSHARED'], config['INCLUDEPY'], source, obj)
    subprocess.run(compile_cmd, shell=True, check=True, env=env)
    subprocess.run('%s %s -o %s' % (config['LDSHARED'], obj, ext), shell=True, check=True, env=env)
    assert probe(python, 'import sys; sys.path.insert(0, %r); import spam; print(spam.__name__)' % str(tmp_path)) == 'spam'

    pkg = subprocess.run(['pkg-config', '--cflags', 'python-3.12'], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True, env=dict(env, PKG_CONFIG_PATH=os.path.join(path, 'lib', 'pkgconfig')))
    assert os.path.realpath(pkg.stdout.split()[0][2:]) == os.path.join(path, 'include', 'python3.12')


def test_two_minors_and_two_builds_live_side_by_side(tmp_path, mirror, host_root):
    run = play(tmp_path, [
        pbs(mirror, host_root, name='a', version='3.12.1', build='20240107'),
        pbs(mirror, host_root, name='b', version='3.11', build='20240107'),
        pbs(mirror, host_root, name='c', version='3.13', build='20241016', variant='install_only_stripped'),
    ])
    assert run.rc == 0, run.output
    versions = {name: run.result(name)['version'] for name in 'abc'}
    assert versions == {'a': '3.12.1', 'b': '3.11.7', 'c': '3.13.0'}
    assert sorted(os.listdir(host_root[0])) == sorted(['.lock'] + [
        os.path.basename(run.result(n)['path']) for n in 'abc'])
    for name in 'abc':
        assert probe(run.result(name)['python'], 'import platform; print(platform.python_version())') == versions[name]


def test_check_mode_predicts_without_network_or_writes(tmp_path, mirror, host_root):
    mirror.reset()
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')], check=True, diff=True)
    assert run.rc == 0, run.output
    result = run.result('pbs')
    assert result['changed'] and result['diff']['before'] == {}
    after = result['diff']['after']
    assert (after['build'], after['version'], after['sha256']) == ('20240107', '3.12.*', '(from SHA256SUMS)')
    assert after['path'] == os.path.join(host_root[0], 'cpython-3.12.*+20240107-%s-install_only' % TRIPLE)
    assert after['links'] == {os.path.join(host_root[1], 'python3.12'): os.path.join(after['path'], 'bin', 'python3.12')}
    assert not os.path.exists(host_root[0]) and not os.path.exists(host_root[1])
    assert mirror.requests == []

    # Pinned checksums settle the exact version without a request: check mode shows the real path.
    pinned = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107', checksums=mirror.sums)],
                  check=True, diff=True).result('pbs')
    assert (pinned['version'], pinned['sha256']) == ('3.12.1', mirror.sums[ASSET_312])
    assert pinned['path'] == os.path.join(host_root[0], ASSET_312[:-len('.tar.gz')])
    assert mirror.requests == []

    play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')])
    mirror.reset()
    again = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')], check=True)
    assert not again.result('pbs')['changed'] and mirror.requests == []


def test_explicit_url_and_sha256_skip_sha256sums(tmp_path, mirror, host_root):
    mirror.reset()
    url = '%s/20240107/%s' % (mirror.url, ASSET_312.replace('+', '%2B'))
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', url=url,
                              sha256='sha256:' + mirror.sums[ASSET_312].upper())])
    assert run.rc == 0, run.output
    assert run.result('pbs')['url'] == url
    assert mirror.gets() == ['/20240107/' + ASSET_312]


def test_url_without_sha256_uses_the_sha256sums_beside_it(tmp_path, mirror, host_root):
    url = '%s/20240107/%s' % (mirror.url, ASSET_312.replace('+', '%2B'))
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107', url=url)])
    assert run.rc == 0, run.output
    assert run.result('pbs')['sha256'] == mirror.sums[ASSET_312]


def test_wrong_sha256_fails_names_both_digests_and_leaves_nothing(tmp_path, mirror, host_root):
    wrong = '0' * 64
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', sha256=wrong)])
    assert run.rc != 0
    msg = run.result('pbs')['msg']
    assert wrong in msg and mirror.sums[ASSET_312] in msg and 'mismatch' in msg
    assert [n for n in os.listdir(host_root[0]) if n != '.lock'] == []
    assert not os.path.exists(host_root[1])


def test_a_mirror_sha256sums_that_disagrees_with_the_pin_is_refused(tmp_path, mirror, host_root):
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107', sha256='1' * 64)])
    assert run.rc != 0
    assert 'pinned sha256 is ' + '1' * 64 in run.result('pbs')['msg']
    assert not os.path.isdir(host_root[0]) or os.listdir(host_root[0]) == ['.lock']


def test_links_switch_atomically_between_builds_and_absent_removes_them(tmp_path, mirror, host_root):
    link_dir = host_root[1]
    run = play(tmp_path, [
        pbs(mirror, host_root, name='old', version='3.12', build='20240107', default=True),
        pbs(mirror, host_root, name='new', version='3.13', build='20241016', variant='install_only_stripped',
            default=True),
    ])
    assert run.rc == 0, run.output
    old, new = run.result('old'), run.result('new')
    assert os.readlink(os.path.join(link_dir, 'python3.12')) == old['python']
    assert os.readlink(os.path.join(link_dir, 'python3.13')) == new['python']
    assert os.readlink(os.path.join(link_dir, 'python3')) == new['python']
    assert probe(os.path.join(link_dir, 'python3'), 'import sys; print(sys.version_info[:2])') == '(3, 13)'

    back = play(tmp_path, [pbs(mirror, host_root, name='back', version='3.12', build='20240107', default=True)])
    assert back.result('back')['changed']  # only the python3 link moves
    assert os.readlink(os.path.join(link_dir, 'python3')) == old['python']

    gone = play(tmp_path, [pbs(mirror, host_root, name='rm', version='3.12', build='20240107', state='absent')])
    assert gone.rc == 0, gone.output
    assert gone.result('rm')['removed'] == [old['path']]
    assert not os.path.exists(old['path'])
    assert sorted(os.listdir(link_dir)) == ['python3.13']
    assert os.path.exists(new['python'])
    again = play(tmp_path, [pbs(mirror, host_root, name='rm', version='3.12', build='20240107', state='absent')])
    assert not again.result('rm')['changed']


def test_a_damaged_install_is_repaired(tmp_path, mirror, host_root):
    first = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')]).result('pbs')
    os.unlink(first['python'])
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107')])
    assert run.rc == 0 and run.result('pbs')['changed'], run.output
    assert probe(first['python'], 'print(1)') == '1'
    assert leftovers(host_root[0]) == []


def test_errors_list_what_the_build_has(tmp_path, mirror, host_root):
    run = play(tmp_path, [
        dict(pbs(mirror, host_root, name='version', version='3.10', build='20240107'), ignore_errors=True),
        dict(pbs(mirror, host_root, name='target', version='3.12', build='20240107',
                 target='aarch64-unknown-linux-gnu'), ignore_errors=True),
        dict(pbs(mirror, host_root, name='tag', version='3.12', build='20240108'), ignore_errors=True),
        dict(pbs(mirror, host_root, name='stripped', version='3.12', build='20240107',
                 variant='install_only_stripped'), ignore_errors=True),
        dict(pbs(mirror, host_root, name='zero', version='3.12.01', build='20240107'), ignore_errors=True),
        dict(pbs(mirror, host_root, name='escape', version='3.12.1', build='20240107', target='../../escape'),
             ignore_errors=True),
    ])
    assert 'versions it has: 3.11.7, 3.12.1' in run.result('version')['msg']
    assert 'targets it has: %s' % TRIPLE in run.result('target')['msg']
    assert '%s/20240108/SHA256SUMS' % mirror.url in run.result('tag')['msg']
    assert 'HTTP 404' in run.result('tag')['msg']
    assert 'set variant: install_only' in run.result('stripped')['msg']
    assert "version '3.12.01' is not a CPython version" in run.result('zero')['msg']
    assert 'leave target unset' in run.result('escape')['msg']
    assert not os.path.isdir(host_root[0]) or leftovers(host_root[0]) == []
    assert not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(host_root[0])), 'escape'))


def test_a_file_in_the_way_of_a_link_is_refused_before_any_download(tmp_path, mirror, host_root):
    os.makedirs(host_root[1])
    with open(os.path.join(host_root[1], 'python3'), 'w') as handle:
        handle.write('#!/bin/sh\n')  # somebody's own script: never replaced
    mirror.reset()
    run = play(tmp_path, [dict(pbs(mirror, host_root, version='3.12', build='20240107', default=True),
                               ignore_errors=True)])
    assert 'refusing to replace %s/python3: it is not a symlink' % host_root[1] in run.result('pbs')['msg']
    assert mirror.requests == []
    assert not os.path.isdir(host_root[0]) or sorted(os.listdir(host_root[0])) == ['.lock']
    with open(os.path.join(host_root[1], 'python3')) as handle:
        assert handle.read() == '#!/bin/sh\n'


def test_diff_shows_before_and_after_of_a_build_change(tmp_path, mirror, host_root):
    play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107', default=True)])
    run = play(tmp_path, [pbs(mirror, host_root, version='3.13', build='20241016', variant='install_only',
                              default=True)], check=True, diff=True)
    diff = run.result('pbs')['diff']
    assert diff['before'] == {}  # no 3.13 install yet
    assert diff['after']['links'][os.path.join(host_root[1], 'python3')].startswith(
        os.path.join(host_root[0], 'cpython-3.13'))
    assert os.readlink(os.path.join(host_root[1], 'python3')).startswith(os.path.join(host_root[0], 'cpython-3.12'))


def test_pinned_checksums_settle_a_prefix_without_sha256sums_and_strict_refuses_the_rest(tmp_path, mirror, host_root):
    pinned = {ASSET_312: mirror.sums[ASSET_312]}
    mirror.reset()
    run = play(tmp_path, [
        pbs(mirror, host_root, name='locked', version='3.12', build='20240107', checksums=pinned,
            strict_checksums=True),
        dict(pbs(mirror, host_root, name='unlocked', version='3.11', build='20240107', checksums=pinned,
                 strict_checksums=True), ignore_errors=True),
    ])
    assert run.result('locked')['version'] == '3.12.1', run.output
    assert 'not in the pinned checksums' in run.result('unlocked')['msg']
    assert mirror.gets() == ['/20240107/' + ASSET_312]  # no SHA256SUMS, nothing for the refused pin


def test_bytes_changed_under_the_same_name_are_refused_against_pinned_checksums(tmp_path, mirror, host_root):
    other = 'cpython-3.11.7+20240107-%s-install_only.tar.gz' % TRIPLE
    tampered = {ASSET_312: mirror.sums[other]}  # what a mirror swapping the file would look like
    run = play(tmp_path, [pbs(mirror, host_root, version='3.12', build='20240107', checksums=tampered)])
    assert run.rc != 0
    assert 'checksum mismatch' in run.result('pbs')['msg']
    assert mirror.sums[other] in run.result('pbs')['msg'] and mirror.sums[ASSET_312] in run.result('pbs')['msg']
    assert not os.path.isdir(host_root[0]) or leftovers(host_root[0]) == [] and os.listdir(host_root[0]) == ['.lock']


def test_externally_managed_marker_follows_the_option_and_unset_leaves_it(tmp_path, mirror, host_root):
    """PEP 668: with the marker, pip refuses to install into the shared interpreter; venvs are not affected."""
    first = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', externally_managed=True)])
    assert first.rc == 0, first.output
    result = first.result('pbs')
    marker = os.path.join(result['path'], 'lib', 'python3.12', 'EXTERNALLY-MANAGED')
    assert result['changed'] and result['externally_managed']
    with open(marker) as handle:
        assert handle.read().startswith('[externally-managed]\nError=')
    # The stdlib's own reader of the marker (what pip uses) finds it in the interpreter's stdlib directory.
    assert probe(result['python'], 'import sysconfig, os; print(os.path.exists(os.path.join('
                                   'sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))') == 'True'

    info = play(tmp_path, [{'name': 'info', 'pbs.python.pbs_python_info': {'install_root': host_root[0]}}])
    assert [i['externally_managed'] for i in info.result('info')['installs']] == [True]

    mirror.reset()
    again = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', externally_managed=True)])
    assert not again.result('pbs')['changed'] and mirror.requests == []
    unset = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107')])
    assert not unset.result('pbs')['changed'] and os.path.exists(marker)

    preview = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', externally_managed=False)],
                   check=True, diff=True).result('pbs')
    assert preview['changed'] and preview['diff']['before']['externally_managed'] and \
        not preview['diff']['after']['externally_managed'] and os.path.exists(marker)
    off = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107', externally_managed=False)])
    assert off.result('pbs')['changed'] and not off.result('pbs')['externally_managed']
    assert not os.path.exists(marker) and mirror.requests == []


def test_an_install_from_a_release_that_did_not_relocate_is_relocated_in_place(tmp_path, mirror, host_root):
    first = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107')])
    result = first.result('pbs')
    # Make it what an earlier release left: PBS's /install paths, and a receipt without the mark.
    data = [p for p in os.listdir(os.path.join(result['path'], 'lib', 'python3.12')) if p.startswith('_sysconfigdata_')]
    sysconfigdata = os.path.join(result['path'], 'lib', 'python3.12', data[0])
    with open(sysconfigdata) as handle:
        text = handle.read()
    with open(sysconfigdata, 'w') as handle:
        handle.write(text.replace(result['path'], '/install'))
    receipt_path = os.path.join(result['path'], 'PBS_RECEIPT.json')
    with open(receipt_path) as handle:
        receipt = json.load(handle)
    assert receipt.pop('relocated') is True
    with open(receipt_path, 'w') as handle:
        json.dump(receipt, handle)
    assert probe(result['python'], 'import sysconfig; print(sysconfig.get_config_var("prefix"))') == '/install'

    mirror.reset()
    fixed = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107')])
    assert fixed.result('pbs')['changed'] and mirror.requests == []
    assert probe(result['python'], 'import sysconfig; print(sysconfig.get_config_var("prefix"))') == result['path']
    again = play(tmp_path, [pbs(mirror, host_root, version='3.12.1', build='20240107')])
    assert not again.result('pbs')['changed']
