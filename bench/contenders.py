"""Parts 1 and 2: every way to put the archive on a host, timed in interleaved rounds.

Each contender does its untimed set-up (a fresh directory), one timed command, an untimed check
that the command did what it claims, and sets its tree aside (bench/trash.py: deleting it now
would slow the next contender's file creation). A round runs every contender once;
the order rotates from round to round, so a burst of load from other work on the machine lands
on different contenders instead of always the same one.
"""

import os

import playbooks
from timing import timed


class Contender(object):
    name = label = ''
    env = None  # extra environment for the playbook: the baseline's collections path

    def __init__(self, ctx):
        self.ctx = ctx
        self.samples = []
        self._count = 0

    def fresh(self, what):
        self._count += 1
        return os.path.join(self.ctx.workdir, 'runs', '%s-%s-%d' % (self.name, what, self._count))

    def run(self, record=True):
        sample = self.once()
        if record:
            self.samples.append(sample)
        return sample

    def once(self):
        raise NotImplementedError


class Ping(Contender):
    name, label = 'ping', '`ansible-playbook`, one `ping` task'

    def once(self):
        return playbooks.expect(playbooks.run_playbook(self.ctx.plays['ping'], {}), changed=False)


class ModuleCold(Contender):
    name, label = 'module_cold', '`ansible-playbook`, one `pbs_python` task, fresh install_root'

    def once(self):
        root = self.fresh('root')
        try:
            sample = playbooks.run_playbook(self.ctx.plays['pbs'], self.ctx.pbs_vars(root), env=self.env)
            playbooks.expect(sample, changed=True)
            if not os.path.isdir(os.path.join(root, self.ctx.install_dir_name, 'bin')):
                raise RuntimeError('pbs_python reported success but %s has no install' % root)
            return sample
        finally:
            self.ctx.trash.discard(root)


class ModuleNoop(Contender):
    """A second run against an install_root that already holds the build."""
    name, label = 'module_noop', '`ansible-playbook`, one `pbs_python` task, build already installed'

    def __init__(self, ctx):
        super(ModuleNoop, self).__init__(ctx)
        self.root = os.path.join(ctx.workdir, 'runs', '%s-installed-root' % self.name)

    def install(self):
        if not os.path.isdir(os.path.join(self.root, self.ctx.install_dir_name)):
            playbooks.expect(playbooks.run_playbook(self.ctx.plays['pbs'], self.ctx.pbs_vars(self.root), env=self.env),
                             changed=True)

    def once(self):
        self.install()
        before = len(self.ctx.server.requests)
        sample = playbooks.expect(playbooks.run_playbook(self.ctx.plays['pbs'], self.ctx.pbs_vars(self.root),
                                                         env=self.env), changed=False)
        if len(self.ctx.server.requests) != before:
            raise RuntimeError('the no-op run made %d requests to the mirror' % (len(self.ctx.server.requests) - before))
        return sample


UV_ENV = ('UV_PYTHON_INSTALL_DIR', 'UV_CACHE_DIR', 'UV_PYTHON_BIN_DIR', 'UV_PYTHON_CACHE_DIR',
          'UV_PYTHON_INSTALL_MIRROR', 'UV_PYTHON_DOWNLOADS_JSON_URL', 'UV_NO_CONFIG', 'UV_NO_PROGRESS')


class Uv(Contender):
    name, label = 'uv', '`uv python install` (`--mirror`, downloads JSON)'

    def once(self):
        base = self.fresh('uv')
        env = dict((key, value) for key, value in os.environ.items() if key not in UV_ENV)
        env.update({
            'UV_PYTHON_INSTALL_DIR': os.path.join(base, 'python'),
            'UV_CACHE_DIR': os.path.join(base, 'cache'),
            'UV_PYTHON_BIN_DIR': os.path.join(base, 'bin'),
            'UV_NO_CONFIG': '1',
            'UV_NO_PROGRESS': '1',
        })
        try:
            sample = timed([self.ctx.uv, 'python', 'install', self.ctx.version, '--no-bin',
                            '--mirror', self.ctx.server.url, '--python-downloads-json-url', self.ctx.uv_json], env=env)
            self.check(base, sample)
            return sample
        finally:
            self.ctx.trash.discard(base)

    def check(self, base, sample):
        exe = os.path.join(base, 'python', 'cpython-%s-linux-x86_64-gnu' % self.ctx.version, 'bin',
                           'python' + self.ctx.version.rsplit('.', 1)[0])
        if not os.path.exists(exe):
            raise RuntimeError('uv reported success but %s is missing:\n%s' % (exe, sample.output[-4000:]))


class CommandUv(Uv):
    """What a uv user writes in a playbook: the same uv command as ``Uv``, run by a ``command`` task."""
    name, label = 'command_uv', '`ansible-playbook`, `command: uv python install` (same flags as uv)'

    def once(self):
        base = self.fresh('command-uv')
        try:
            sample = playbooks.run_playbook(self.ctx.plays['command_uv'], {
                'bench_uv': self.ctx.uv, 'bench_version': self.ctx.version, 'bench_mirror': self.ctx.server.url,
                'bench_uv_json': self.ctx.uv_json, 'bench_dir': base})
            playbooks.expect(sample, changed=True)
            self.check(base, sample)
            return sample
        finally:
            self.ctx.trash.discard(base)


class GetUrlUnarchive(Contender):
    name, label = 'get_url_unarchive', '`ansible-playbook`, `get_url` (sha256) + `file` + `unarchive`'

    def once(self):
        base = self.fresh('dir')
        os.makedirs(base)
        try:
            sample = playbooks.run_playbook(self.ctx.plays['get_url_unarchive'], {
                'bench_url': self.ctx.asset_url, 'bench_sha256': self.ctx.mirror.sha256, 'bench_dir': base})
            playbooks.expect(sample, changed=True)
            if not os.path.isdir(os.path.join(base, 'install', 'python', 'bin')):
                raise RuntimeError('unarchive reported success but %s has no tree' % base)
            return sample
        finally:
            self.ctx.trash.discard(base)


class Tar(Contender):
    name, label = 'tar', '`tar xzf` of a local copy'

    def once(self):
        base = self.fresh('tar')
        os.makedirs(base)
        try:
            return timed(['tar', '-xzf', self.ctx.local_copy, '-C', base])
        finally:
            self.ctx.trash.discard(base)


ALL = (Ping, ModuleCold, ModuleNoop, Uv, CommandUv, GetUrlUnarchive, Tar)


def baseline_of(cls, index, path):
    """``cls`` run with another revision of the collection (``path``, a collections path)."""
    class Baseline(cls):
        name, label = 'baseline%d_%s' % (index, cls.name), cls.label + ' (baseline %d)' % index

        def __init__(self, ctx):
            super(Baseline, self).__init__(ctx)
            self.env = {'ANSIBLE_COLLECTIONS_PATH': path}
    return Baseline


def run_rounds(ctx, rounds, warmup=True, log=print):
    """Build the contenders, warm them up once (untimed), then run ``rounds`` rotated rounds."""
    classes = ALL + tuple(baseline_of(cls, index, path) for index, (dummy, path) in enumerate(ctx.baselines)
                          for cls in (ModuleCold, ModuleNoop))
    contenders = [cls(ctx) for cls in classes]
    by_name = dict((c.name, c) for c in contenders)
    for contender in contenders:
        if isinstance(contender, ModuleNoop):
            contender.install()
    if warmup:
        for contender in contenders:
            contender.run(record=False)
    for index in range(rounds):
        shift = index % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        walls = []
        for contender in order:
            sample = contender.run()
            walls.append('%s %.2fs' % (contender.name, sample.wall))
            os.sync()  # untimed: the next contender does not pay for writing back this one's 130 MB
        log('round %d/%d (load %.2f): %s' % (index + 1, rounds, os.getloadavg()[0], ', '.join(walls)))
    return by_name
