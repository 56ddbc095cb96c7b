# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a pinned build on a host that has no Python at all, with raw commands only.

Minimal images and golden-image builds start without Python, so no module can run there. This
action reads the host's loader, uname and cpuinfo with shell commands, feeds them to the same
pure detection functions the module uses, resolves and verifies the archive on the controller,
copies it over the connection, checks its sha256 again with whatever the host has, extracts it
with tar into a staging directory and renames it into place with the same receipt and BUILD
file the module writes. Afterwards the module and every other module can run on the result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import inspect
import json
import shlex
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pbs.python.plugins.module_utils import _build_prefix, _files
from ansible_collections.pbs.python.plugins.module_utils._install_root import (
    VERSION_PROBE, BUILD_FILE, RECEIPT, STAGING_PREFIX,
)
from ansible_collections.pbs.python.plugins.module_utils._naming import (
    asset_name, check_target, install_dir_name, interpreter_name, version_matches,
)
from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target
from ansible_collections.pbs.python.plugins.plugin_utils._delivery import DeliveryError, fetch_for_target

# The host has no Python but the one just unpacked: it runs the module's own relocation code (each
# source compiled on its own, as each starts with ``from __future__``; _build_prefix uses _files').
RELOCATE = ('import sys\nnames = {}\n'
            + ''.join('exec(%r, names)\n' % inspect.getsource(module) for module in (_files, _build_prefix))
            + 'names["relocate"](sys.argv[1], sys.argv[2])\n')

_HOST_PROBE = ("uname -s; uname -m; head -c 65536 /bin/sh | od -An -v -tx1 | tr -d ' \\n'; echo; "
               "grep -m2 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null; true")
ARGUMENT_SPEC = dict(
    version=dict(type='str', required=True),
    build=dict(type='str', required=True),
    variant=dict(type='str', choices=['install_only_stripped', 'install_only'], default='install_only_stripped'),
    freethreaded=dict(type='bool', default=False),
    target=dict(type='str'),
    x86_64_level=dict(type='str', default='baseline', choices=['baseline', 'v1', 'v2', 'v3', 'v4', 'auto']),
    mirror=dict(type='list', elements='str'),
    sha256=dict(type='str'),
    checksums=dict(type='dict'),
    strict_checksums=dict(type='bool', default=False),
    install_root=dict(type='path', default='/opt/pbs-python'),
    cache_dir=dict(type='path', default='~/.cache/pbs-python/downloads'),
    set_interpreter=dict(type='bool', default=True),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    headers=dict(type='dict', no_log=True),
    url_username=dict(type='str'),
    url_password=dict(type='str', no_log=True),
    timeout=dict(type='int', default=30),
    retries=dict(type='int', default=3),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # the temp dir is made only when an archive must be sent
    _requires_connection = True

    def _raw(self, command):
        result = self._low_level_execute_command(command, sudoable=True)
        return result.get('rc', 1), result.get('stdout', ''), result.get('stderr', '')

    def _target(self, args):
        if args.get('target'):
            try:
                return check_target(args['target'])
            except ValueError as exc:
                raise AnsibleActionFail(str(exc))
        rc, out, err = self._raw(_HOST_PROBE)
        lines = out.splitlines()
        if rc != 0 or len(lines) < 3:
            raise AnsibleActionFail('cannot probe the host with raw commands (%s): does it have a POSIX shell, '
                                    'uname and od?' % (err or out).strip())
        files = {'/bin/sh': binascii.unhexlify(lines[2].strip()), '/proc/cpuinfo': '\n'.join(lines[3:]).encode()}
        try:
            return detect_target(args.get('x86_64_level', 'baseline'), read_file=files.get,
                                 uname=lambda: (lines[0].strip(), lines[1].strip()))
        except ValueError as exc:
            raise AnsibleActionFail(str(exc))

    def _installed(self, root, pin, target):
        """(path, receipt) of a working install of the pin already on the host, or None: no network."""
        rc, out, dummy = self._raw('for f in %s/*/%s; do [ -f "$f" ] && cat "$f" && echo; done; true'
                                   % (shlex.quote(root.rstrip('/')), RECEIPT))
        decoder, pos, text = json.JSONDecoder(), 0, out.strip()
        while pos < len(text):
            try:
                receipt, pos = decoder.raw_decode(text, pos)
            except ValueError:
                return None
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if (receipt.get('target') == target and receipt.get('build') == pin['build']
                    and receipt.get('variant') == pin['variant']
                    and bool(receipt.get('freethreaded')) == pin['freethreaded']
                    and version_matches(pin['version'], receipt.get('version', '0.0'))
                    and pin['sha256'] in (None, receipt.get('sha256'))):
                path = '%s/%s' % (root.rstrip('/'), install_dir_name(asset_name(
                    receipt['version'], receipt['build'], target, receipt['variant'], receipt['freethreaded'])))
                python = '%s/bin/%s' % (path, interpreter_name(receipt['version'], receipt['freethreaded']))
                rc, out, dummy = self._raw('%s -I -S -c %s' % (shlex.quote(python), shlex.quote(VERSION_PROBE)))
                if rc == 0 and out.strip() == receipt['version']:
                    return path, receipt
        return None

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        target = self._target(args)
        root = args['install_root']
        pin = dict(version=args['version'], build=args['build'], variant=args['variant'],
                   freethreaded=args['freethreaded'], sha256=args['sha256'].lower() if args['sha256'] else None)
        found = self._installed(root, pin, target)
        if found or self._task.check_mode:
            receipt = found[1] if found else dict(version=args['version'], build=args['build'], sha256=None,
                                                  freethreaded=args['freethreaded'], url=None)
            path = found[0] if found else None
            python = '%s/bin/%s' % (path, interpreter_name(receipt['version'], receipt['freethreaded'])) if found else None
            result.update(python=python, path=path, version=receipt['version'], build=receipt['build'],
                          target=target, sha256=receipt['sha256'], url=receipt['url'], changed=not found)
            if found and args['set_interpreter']:
                result['ansible_facts'] = {'ansible_python_interpreter': python}
            return result
        try:
            local, name, sha256, version, origin = fetch_for_target(args, target)
        except DeliveryError as exc:
            raise AnsibleActionFail('pbs_python_bootstrap: %s' % exc)
        path = '%s/%s' % (root.rstrip('/'), install_dir_name(name))
        receipt = dict(version=version, build=args['build'], target=target, variant=args['variant'],
                       freethreaded=args['freethreaded'], sha256=sha256, url=origin, relocated=True,
                       installed_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        python = '%s/bin/%s' % (path, interpreter_name(version, receipt['freethreaded']))
        result.update(python=python, path=path, version=version, build=receipt['build'], target=target,
                      sha256=sha256, url=origin, changed=True)
        if args['set_interpreter']:
            result['ansible_facts'] = {'ansible_python_interpreter': python}
        try:
            self._make_tmp_path()
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote), execute=False)
            rc, out, err = self._raw(self._install_script(root, path, remote, sha256, python, receipt))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if rc != 0:
            raise AnsibleActionFail('pbs_python_bootstrap on the host failed (rc %d): %s' % (rc, (err or out).strip()))
        return result

    @staticmethod
    def _install_script(root, path, archive, sha256, python, receipt):
        """One shell script: verify, extract to staging, check the interpreter, relocate, mark, rename."""
        q = shlex.quote
        staging = q('%s/%s%s' % (root.rstrip('/'), STAGING_PREFIX, path.rsplit('/', 1)[-1])) + '-$$'
        trash = '%s/.trash-%s' % (root.rstrip('/'), path.rsplit('/', 1)[-1])
        return '; '.join([
            'set -e', 'umask 022', 'archive=%s' % q(archive), 'staging=%s' % staging,
            'trap \'rm -rf "$staging" "$archive" || :\' EXIT',
            'sum=$( (sha256sum "$archive" 2>/dev/null || shasum -a 256 "$archive" 2>/dev/null '
            '|| openssl dgst -sha256 -r "$archive") | cut -d" " -f1)',
            '[ "$sum" = %s ] || { echo "checksum mismatch: expected sha256 %s, got $sum; nothing was installed" >&2; '
            'exit 3; }' % (q(sha256), sha256),
            'mkdir -p %s' % q(root), 'mkdir "$staging"',
            'tar -xzf "$archive" -C "$staging" --strip-components=1 --no-same-owner --no-same-permissions python/ '
            '2>/dev/null || tar -xzf "$archive" -C "$staging" --strip-components=1',
            'test "$("$staging"/%s -I -S -c %s)" = %s || { echo "the interpreter does not run on this host" >&2; '
            'exit 4; }' % (q(python[len(path) + 1:]), q(VERSION_PROBE), q(receipt['version'])),
            '"$staging"/%s -I -S -c %s "$staging" %s' % (q(python[len(path) + 1:]), q(RELOCATE), q(path)),
            'printf %%s %s > "$staging/%s"' % (q(receipt['build']), BUILD_FILE),
            'printf "%%s\\n" %s > "$staging/%s"' % (q(json.dumps(receipt, sort_keys=True)), RECEIPT),
            'if [ -e %s ]; then mv %s %s; fi' % (q(path), q(path), q(trash)),
            'mv "$staging" %s' % q(path), 'rm -rf %s' % q(trash),
        ])
