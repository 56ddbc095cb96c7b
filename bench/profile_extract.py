"""Where the extractor's time goes: each stage alone, the whole pipeline, and a cProfile of it.

    /usr/bin/python3 bench/profile_extract.py --shim DIR --archive A.tar.gz --workdir W [--reps N] [--once]

Runs on the target's Python, as the module does. Stages, each timed alone on the same archive
(interleaved, median of ``--reps``):

* ``sha256``: read the archive in 1 MiB chunks and hash it (the download thread's own work);
* ``inflate``: zlib-decompress it in 1 MiB chunks (the inflate thread's work);
* ``create``: create as many empty files and directories as the archive holds (file-system
  metadata cost, which no reader can avoid);
* ``writer``: the tar writer alone, fed an already-inflated tar (the main thread's work:
  headers, checks, open/write/close);
* ``pipeline``: ``extract_tar_gz`` as the module calls it, all stages overlapped.

Prints one JSON object (wall, user and system CPU seconds per stage). ``--once`` runs a single pipeline extraction and nothing else (for an
external sampling profiler such as py-spy).
"""

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
import zlib

CHUNK = 1 << 20


def stage_sha256(archive, scratch):
    digest = hashlib.sha256()
    with open(archive, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)


def stage_inflate(archive, scratch):
    inflater = zlib.decompressobj(31)
    with open(archive, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            while block:
                inflater.decompress(block, CHUNK)
                block = inflater.unconsumed_tail


class _Counts(object):
    files = dirs = 0


def count_members(archive):
    import tarfile
    counts = _Counts()
    with tarfile.open(archive, 'r|gz') as tar:
        for member in tar:
            if member.isdir():
                counts.dirs += 1
            else:
                counts.files += 1
    return counts


def make_stage_create(counts):
    def stage_create(archive, scratch):
        for index in range(counts.dirs):
            os.mkdir(os.path.join(scratch, 'd%d' % index), 0o755)
        for index in range(counts.files):
            fd = os.open(os.path.join(scratch, 'd%d' % (index % max(counts.dirs, 1)), 'f%d' % index),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(fd)
    return stage_create


class _PlainChunks(object):
    """Stands in for the read/inflate threads: hands out an already-inflated tar in 1 MiB chunks."""

    def __init__(self, path):
        self._handle = open(path, 'rb')

    def get(self):
        return self._handle.read(CHUNK) or None

    def close(self):
        self._handle.close()


def make_stage_writer(archive_module, tar_path):
    def stage_writer(archive, scratch):
        chunks = _PlainChunks(tar_path)
        try:
            extractor = archive_module._Extractor(scratch, 'python', archive_module.DEFAULT_MAX_MEMBERS,
                                                  archive_module.DEFAULT_MAX_BYTES)
            archive_module._extract_members(archive_module._Reader(chunks), extractor)
            extractor.finish()
        finally:
            chunks.close()
    return stage_writer


def make_stage_pipeline(archive_module):
    def stage_pipeline(archive, scratch):
        with open(archive, 'rb') as handle:
            archive_module.extract_tar_gz(handle.read, scratch)
    return stage_pipeline


def timed_stage(fn, archive, workdir):
    """Seconds ``fn`` takes on a fresh scratch directory, which is left for the caller to delete
    (a deletion here would slow the next stage's file creation, see bench/trash.py)."""
    scratch = tempfile.mkdtemp(prefix='stage-', dir=workdir)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    fn(archive, scratch)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--shim', required=True)
    parser.add_argument('--archive', required=True)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--once', action='store_true')
    args = parser.parse_args()
    sys.path.insert(0, args.shim)
    from ansible_collections.pbs.python.plugins.module_utils import _archive

    pipeline = make_stage_pipeline(_archive)
    if args.once:  # the scratch tree is left for the caller, so a profiler sees only the extraction
        scratch = tempfile.mkdtemp(prefix='once-', dir=args.workdir)
        start = time.perf_counter()
        pipeline(args.archive, scratch)
        print(json.dumps({'pipeline': time.perf_counter() - start}))  # noqa
        return

    tar_path = os.path.join(args.workdir, 'inflated.tar')
    with open(args.archive, 'rb') as source, open(tar_path, 'wb') as out:
        inflater = zlib.decompressobj(31)
        for block in iter(lambda: source.read(CHUNK), b''):
            out.write(inflater.decompress(block))
        out.write(inflater.flush())
    counts = count_members(args.archive)
    stages = [('sha256', stage_sha256), ('inflate', stage_inflate), ('create', make_stage_create(counts)),
              ('writer', make_stage_writer(_archive, tar_path)), ('pipeline', pipeline)]
    times = dict((name, []) for name, dummy in stages)
    user = dict((name, []) for name, dummy in stages)
    system = dict((name, []) for name, dummy in stages)
    for rep in range(args.reps):
        order = stages[rep % len(stages):] + stages[:rep % len(stages)]
        for name, fn in order:
            wall, user_s, sys_s = timed_stage(fn, args.archive, args.workdir)
            times[name].append(wall)
            user[name].append(user_s)
            system[name].append(sys_s)

    profiler = cProfile.Profile()
    scratch = tempfile.mkdtemp(prefix='profile-', dir=args.workdir)
    with open(args.archive, 'rb') as handle:
        profiler.enable()
        _archive.extract_tar_gz(handle.read, scratch)
        profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt
    top = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:10]:
        where = func if filename == '~' else '%s:%d(%s)' % (os.path.basename(filename), line, func)
        top.append({'function': where, 'calls': nc, 'tottime': tt, 'share': tt / total if total else 0.0})
    os.unlink(tar_path)
    print(json.dumps({
        'python': '%d.%d.%d' % sys.version_info[:3],
        'archive_bytes': os.path.getsize(args.archive),
        'files': counts.files, 'dirs': counts.dirs,
        'stages': dict((name, statistics.median(values)) for name, values in times.items()),
        'stage_runs': times,
        'stage_user': dict((name, statistics.median(values)) for name, values in user.items()),
        'stage_sys': dict((name, statistics.median(values)) for name, values in system.items()),
        'cprofile_main_thread_total': total,
        'cprofile_top': top,
    }))


if __name__ == '__main__':
    main()
