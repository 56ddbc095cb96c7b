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
import json
import shlex
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pbs.python.plugins.module_utils._install_root import BUILD_FILE, RECEIPT, STAGING_PREFIX
from ansible_collections.pbs.python.plugins.module_utils._naming import install_dir_name, interpreter_name
from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target
from ansible_collections.pbs.python.plugins.plugin_utils._delivery import DeliveryError, fetch_for_target

_PROBE = ("uname -s; uname -m; head -c 65536 /bin/sh | od -An -v -tx1 | tr -d ' \\n'; echo; "
          "cat /proc/cpuinfo 2>/dev/null | grep -m2 -E '^(flags|Features)'")
_VERSION = ("import sys; v = sys.version_info; print('%d.%d.%d%s' % (v[0], v[1], v[2], "
            "{'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v[3], '') + (str(v[4]) if v[3] != 'final' else '')))")


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _requires_connection = True

    def _raw(self, command):
        result = self._low_level_execute_command(command, sudoable=True)
        return result.get('rc', 1), result.get('stdout', ''), result.get('stderr', '')

    def _target(self, args):
        if args.get('target'):
            return args['target']
        rc, out, err = self._raw(_PROBE)
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

    def _installed(self, path, python, receipt):
        """True when the host already has this exact build and its interpreter runs."""
        rc, out, dummy = self._raw('cat %s && %s -I -S -c %s' % (
            shlex.quote(path + '/' + RECEIPT), shlex.quote(python), shlex.quote(_VERSION)))
        if rc != 0:
            return False
        text, dummy, version = out.strip().rpartition('\n')
        try:
            found = json.loads(text)
        except ValueError:
            return False
        return version.strip() == receipt['version'] and all(
            found.get(k) == receipt[k] for k in ('version', 'build', 'target', 'variant', 'sha256'))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        for required in ('version', 'build'):
            if not args.get(required):
                raise AnsibleActionFail('%s is required' % required)
        target = self._target(args)
        try:
            local, name, sha256, version, origin = fetch_for_target(args, target)
        except DeliveryError as exc:
            raise AnsibleActionFail('pbs_python_bootstrap: %s' % exc)
        root = args.get('install_root') or '/opt/pbs-python'
        path = '%s/%s' % (root.rstrip('/'), install_dir_name(name))
        receipt = dict(version=version, build=str(args['build']), target=target,
                       variant=args.get('variant') or 'install_only_stripped',
                       freethreaded=bool(args.get('freethreaded')), sha256=sha256, url=origin)
        python = '%s/bin/%s' % (path, interpreter_name(version, receipt['freethreaded']))
        result.update(python=python, path=path, version=version, build=receipt['build'], target=target,
                      sha256=sha256, url=origin, changed=False)
        if args.get('set_interpreter', True):
            result['ansible_facts'] = {'ansible_python_interpreter': python}
        if self._installed(path, python, receipt):
            return result
        result['changed'] = True
        if self._task.check_mode:
            return result
        receipt['installed_at'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        remote = '/tmp/.pbs-python-bootstrap-%s-%d.tar.gz' % (sha256[:12], int(time.time() * 1000))
        self._connection.put_file(local, remote)
        rc, out, err = self._raw(self._install_script(root, path, remote, sha256, python, receipt))
        if rc != 0:
            raise AnsibleActionFail('pbs_python_bootstrap on the host failed (rc %d): %s' % (rc, (err or out).strip()))
        return result

    @staticmethod
    def _install_script(root, path, archive, sha256, python, receipt):
        """One shell script: verify, extract to staging, check the interpreter, mark, rename."""
        q = shlex.quote
        staging = q('%s/%s%s' % (root.rstrip('/'), STAGING_PREFIX, path.rsplit('/', 1)[-1])) + '-$$'
        trash = '%s/.trash-%s' % (root.rstrip('/'), path.rsplit('/', 1)[-1])
        return '; '.join([
            'set -e', 'umask 022', 'archive=%s' % q(archive), 'staging=%s' % staging,
            'trap \'rm -rf "$staging" "$archive"\' EXIT',
            'sum=$( (sha256sum "$archive" 2>/dev/null || shasum -a 256 "$archive" 2>/dev/null '
            '|| openssl dgst -sha256 -r "$archive") | cut -d" " -f1)',
            '[ "$sum" = %s ] || { echo "checksum mismatch: expected sha256 %s, got $sum; nothing was installed" >&2; '
            'exit 3; }' % (q(sha256), sha256),
            'mkdir -p %s' % q(root), 'mkdir "$staging"',
            'tar -xzf "$archive" -C "$staging" --strip-components=1 --no-same-owner --no-same-permissions python/ '
            '2>/dev/null || tar -xzf "$archive" -C "$staging" --strip-components=1',
            'test "$("$staging"/%s -I -S -c %s)" = %s || { echo "the interpreter does not run on this host" >&2; '
            'exit 4; }' % (q(python[len(path) + 1:]), q(_VERSION), q(receipt['version'])),
            'printf %%s %s > "$staging/%s"' % (q(receipt['build']), BUILD_FILE),
            'printf "%%s\\n" %s > "$staging/%s"' % (q(json.dumps(receipt, sort_keys=True)), RECEIPT),
            'if [ -e %s ]; then mv %s %s; fi' % (q(path), q(path), q(trash)),
            'mv "$staging" %s' % q(path), 'rm -rf %s' % q(trash),
        ])
