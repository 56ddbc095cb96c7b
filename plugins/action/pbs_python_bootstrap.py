# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a pinned build on a host that has no Python at all: get an interpreter there, then run the module on it.

Minimal images and golden-image builds start without Python, so no module can run there. This
action only gets *an* interpreter onto the host; the install itself is the module's, so one lock,
one extraction rule set, one relocation and one receipt format apply to every install. The host's
target comes from its loader, uname and cpuinfo, read with raw commands and fed to the module's own
detection. A PBS interpreter already under ``install_root`` runs the module, which answers from
its receipts: a host that has the build receives nothing. Otherwise the controller resolves and
verifies the archive, copies it to the host's remote temp directory, unpacks it there with the
system tar just to get a runnable interpreter, and that interpreter runs ``pbs.python.pbs_python``
on the same archive (``_src``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pbs.python.plugins.module_utils._archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS
from ansible_collections.pbs.python.plugins.module_utils._install_root import RECEIPT
from ansible_collections.pbs.python.plugins.module_utils._naming import check_target, interpreter_name, parse_version
from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC
from ansible_collections.pbs.python.plugins.module_utils._pin import DEFAULT_VARIANT, OPTIONS
from ansible_collections.pbs.python.plugins.module_utils._platform import detect_target
from ansible_collections.pbs.python.plugins.plugin_utils._delivery import DeliveryError, fetch_for_target

MODULE = 'pbs.python.pbs_python'
# Options the module needs on the host; mirrors, URL options and credentials stay on the controller.
HOST_OPTIONS = ('version', 'build', 'variant', 'freethreaded', 'sha256', 'checksums', 'strict_checksums',
                'install_root', 'link_dir', 'default', 'force', 'externally_managed')
# Stand-in scripts and foreign binaries may answer a version probe; only a Python that can run the module prints this.
_RUNS_MODULES = 'pbs-python-runs-modules'
_RUNS_CHECK = "import sys; print('%s' if sys.version_info >= (3, 8) else '')" % _RUNS_MODULES
_HOST_PROBE = ("uname -s; uname -m; head -c 65536 /bin/sh | od -An -v -tx1 | tr -d ' \\n'; echo; "
               "grep -m2 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null; true")
# pbs_python's own options (one definition of defaults and choices), those that apply here; a pin is required.
_SHARED = ('target', 'x86_64_level', 'mirror', 'sha256', 'checksums', 'strict_checksums', 'install_root', 'cache_dir',
           'link_dir', 'default', 'force', 'externally_managed')
ARGUMENT_SPEC = dict(
    dict((name, OPTIONS[name]) for name in _SHARED),
    version=dict(OPTIONS['version'], required=True), build=dict(OPTIONS['build'], required=True),
    variant=dict(OPTIONS['variant'], default=DEFAULT_VARIANT), freethreaded=dict(OPTIONS['freethreaded'], default=False),
    set_interpreter=dict(type='bool', default=True), **URL_ARGUMENT_SPEC)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # a remote temp dir is made only when the module runs or an archive is sent
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

    def _installed_interpreter(self, root):
        """An interpreter of an earlier install under ``root`` that can run the module, or None."""
        # Only what the module itself would count as an install: a real cpython-* directory (not a
        # symlink to someone's tree) owned by the user we run as, with a regular receipt, whose
        # interpreter resolves inside it. Anything else is never run, least of all as root.
        rc, out, dummy = self._raw(
            'for d in %s/cpython-*; do r="$d/%s"; p="$d/bin/python"; '
            '[ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] && [ -f "$r" ] && [ ! -L "$r" ] || continue; '
            'case "$(readlink -f "$p")" in "$(readlink -f "$d")"/*) ;; *) continue ;; esac; '
            'if [ "$("$p" -I -S -c %s 2>/dev/null)" = %s ]; then echo "$p"; break; fi; done; true'
            % (shlex.quote(root.rstrip('/')), RECEIPT, shlex.quote(_RUNS_CHECK), _RUNS_MODULES))
        return (out.strip() or None) if rc == 0 else None

    def _module(self, module_args, task_vars, python):
        return self._execute_module(module_name=MODULE, module_args=module_args,
                                    task_vars=dict(task_vars, ansible_python_interpreter=python))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        target = self._target(args)
        try:  # one remote temp dir (the module runs make it too, unless pipelining), always removed
            return self._finish(result, self._install(args, target, task_vars), args)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _install(self, args, target, task_vars):
        host_args = dict((key, args[key]) for key in HOST_OPTIONS if args.get(key) is not None)
        host_args['target'] = target
        python = self._installed_interpreter(args['install_root'])
        if python:
            # The module answers from the receipts, without network; it asks for the archive only when needed.
            answer = self._module(dict(host_args, _ask_first=True), task_vars, python)
            if not answer.pop('needs_archive', False):
                return answer
        if self._task.check_mode:
            return dict(python=None, path=None, version=args['version'], build=args['build'], target=target,
                        sha256=None, url=None, changed=True)
        try:
            if parse_version(args['version'])[:2] < (3, 8):
                raise AnsibleActionFail('bootstrap runs the installer on the pinned interpreter, which needs Python '
                                        '3.8 or later: pin 3.8+ here, and install older ones with pbs.python.pbs_python')
            local, name, sha256, version, origin = fetch_for_target(args, target)
        except (DeliveryError, ValueError) as exc:
            raise AnsibleActionFail('pbs_python_bootstrap: %s' % exc)
        shell = self._connection._shell
        if shell.tmpdir is None:
            self._make_tmp_path()
        remote = shell.join_path(shell.tmpdir, name)
        unpacked = shell.join_path(shell.tmpdir, 'interpreter')
        try:
            self._transfer_file(local, remote)
            self._fixup_perms2((shell.tmpdir, remote), execute=False)
            python = '%s/python/bin/%s' % (unpacked, interpreter_name(version, args['freethreaded']))
            rc, out, err = self._raw(self._unpack_script(remote, sha256, unpacked, python))
            if rc != 0:
                raise AnsibleActionFail('pbs_python_bootstrap on the host failed (rc %d): %s'
                                        % (rc, (err or out).strip()))
            return self._module(dict(host_args, _src=remote, _origin=origin, sha256=sha256, version=version),
                                task_vars, python)
        finally:  # unpacked as the become user: removed as that user (rm -rf never follows its links)
            self._raw('rm -rf %s' % shlex.quote(unpacked))

    @staticmethod
    def _finish(result, answer, args):
        result.update(answer)
        if not result.get('failed') and args['set_interpreter'] and result.get('python'):
            # The fact interpreter discovery fills: Ansible drops ansible_python_interpreter from module facts.
            result['ansible_facts'] = {'discovered_interpreter_python': result['python']}
        return result

    @staticmethod
    def _unpack_script(archive, sha256, dest, python):
        """Verify the archive again on the host and unpack a temporary copy whose interpreter runs the module.

        Nothing this step writes can land outside ``dest``, a fresh directory in Ansible's remote temp
        directory (made with umask 077): without -P/--absolute-names, tar (GNU, BusyBox, bsdtar) makes
        absolute member names and hard-link targets relative to ``dest`` and drops '..' ones; GNU tar
        creates a symlink whose target is absolute or holds '..' only after every other member (a
        placeholder until then) and BusyBox skips such links (unless EXTRACT_UNSAFE_SYMLINKS, unset
        here), so no member is written through one; --no-same-owner, --no-same-permissions and umask
        077 keep foreign owners and loose modes out;
        ``head -c`` caps the unpacked stream at the module's own limits. tar's exit status is not
        trusted either way: members it refused are the module's to refuse, with its own message, when
        it extracts the archive again under its full rules.
        """
        q = shlex.quote
        limit = DEFAULT_MAX_BYTES + DEFAULT_MAX_MEMBERS * 3 * 512  # file bytes plus headers and padding
        return '; '.join([
            'set -e', 'umask 077', 'unset EXTRACT_UNSAFE_SYMLINKS', 'archive=%s' % q(archive), 'dest=%s' % q(dest),
            'sum=$( (sha256sum "$archive" 2>/dev/null || shasum -a 256 "$archive" 2>/dev/null '
            '|| openssl dgst -sha256 -r "$archive") | cut -d" " -f1)',
            '[ "$sum" = %s ] || { echo "checksum mismatch: expected sha256 %s, got $sum; nothing was installed" >&2; '
            'exit 3; }' % (q(sha256), sha256),
            'mkdir "$dest"',
            'log=$(gzip -dc "$archive" | head -c %d | tar -xf - -C "$dest" --no-same-owner --no-same-permissions '
            '2>&1) || :' % limit,
            'if [ "$(%s -I -S -c %s 2>&1)" != %s ]; then said=$(printf "%%s" "$log" | tail -n 5); echo "the '
            'interpreter of the archive cannot run the installer on this host: is the target right for it, and '
            'does the remote temp directory (remote_tmp) allow running programs?${said:+ tar said: $said}" >&2; '
            'exit 4; fi' % (q(python), q(_RUNS_CHECK), _RUNS_MODULES),
        ])
