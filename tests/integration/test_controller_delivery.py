"""delivery: controller on localhost: one download into the controller cache, same install as host mode."""

import json
import os

from playbook import localhost_play, run_playbook

TRIPLE = 'x86_64-unknown-linux-gnu'
ASSET = 'cpython-3.12.1+20240107-%s-install_only.tar.gz' % TRIPLE


def task(mirror_url, root, cache, name='pbs', **extra):
    args = dict(version='3.12', build='20240107', variant='install_only', target=TRIPLE, mirror=mirror_url,
                install_root=root, delivery='controller', cache_dir=cache)
    args.update(extra)
    return {'name': name, 'pbs.python.pbs_python': args}


def test_controller_delivery_downloads_once_and_installs_like_host_mode(tmp_path, mirror):
    cache = str(tmp_path / 'cache')
    roots = [str(tmp_path / 'a'), str(tmp_path / 'b')]
    mirror.reset()
    run = run_playbook(localhost_play([task(mirror.url, r, cache, name='pbs%d' % i) for i, r in enumerate(roots)]),
                       str(tmp_path / 'work'))
    assert run.rc == 0, run.output
    assert mirror.gets(ASSET) == ['/20240107/' + ASSET]  # two "hosts", one download
    first = run.result('pbs0')
    assert first['changed'] and first['version'] == '3.12.1' and first['sha256'] == mirror.sums[ASSET]
    assert first['url'] == '%s/20240107/%s' % (mirror.url, ASSET.replace('+', '%2B'))
    assert os.path.exists(os.path.join(cache, mirror.sums[ASSET], ASSET))
    with open(os.path.join(first['path'], 'PBS_RECEIPT.json')) as handle:
        receipt = json.load(handle)
    assert receipt['url'] == first['url'] and receipt['sha256'] == mirror.sums[ASSET]

    mirror.reset()
    again = run_playbook(localhost_play([task(mirror.url, roots[0], cache)]), str(tmp_path / 'work'))
    assert again.rc == 0 and not again.result('pbs')['changed'], again.output
    assert mirror.requests == []


def test_prefilled_cache_installs_with_no_network(tmp_path, mirror):
    cache = str(tmp_path / 'cache')
    fill = run_playbook(localhost_play([task(mirror.url, str(tmp_path / 'a'), cache)]), str(tmp_path / 'work'))
    assert fill.rc == 0, fill.output
    offline = run_playbook(localhost_play([task('http://127.0.0.1:9', str(tmp_path / 'b'), cache, retries=0)]),
                           str(tmp_path / 'work'))
    assert offline.rc == 0, offline.output
    assert offline.result('pbs')['version'] == '3.12.1'


def test_controller_delivery_refuses_a_tampered_archive(tmp_path, mirror):
    other = 'cpython-3.11.7+20240107-%s-install_only.tar.gz' % TRIPLE
    run = run_playbook(localhost_play([task(mirror.url, str(tmp_path / 'a'), str(tmp_path / 'cache'),
                                            checksums={ASSET: mirror.sums[other]})]), str(tmp_path / 'work'))
    assert run.rc != 0
    assert 'checksum mismatch' in run.result('pbs')['msg']
    assert not os.path.exists(str(tmp_path / 'a' / ASSET[:-7]))


def test_controller_delivery_from_a_file_mirror_on_the_controller(tmp_path, mirror):
    mirror.reset()
    run = run_playbook(localhost_play([task('file://' + mirror.root, str(tmp_path / 'a'), str(tmp_path / 'cache'))]),
                       str(tmp_path / 'work'))
    assert run.rc == 0, run.output
    assert run.result('pbs')['version'] == '3.12.1' and run.result('pbs')['delivered']
    assert mirror.requests == []


def test_a_file_in_the_way_of_a_link_is_refused_before_the_controller_downloads(tmp_path, mirror):
    links = tmp_path / 'bin'
    links.mkdir()
    (links / 'python3.12').write_text('#!/bin/sh\n')
    mirror.reset()
    run = run_playbook(localhost_play([dict(task(mirror.url, str(tmp_path / 'root'), str(tmp_path / 'cache'),
                                                 link_dir=str(links)), ignore_errors=True)]), str(tmp_path / 'work'))
    assert 'refusing to replace %s/python3.12: it is not a symlink' % links in run.result('pbs')['msg']
    assert mirror.requests == [] and not (tmp_path / 'cache').exists()
