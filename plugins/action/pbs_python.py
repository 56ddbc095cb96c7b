# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller delivery for pbs_python: ask the host first, then fetch once and send only if needed.

It validates the task against the module's spec (so a wrong option fails before the controller
downloads anything) and keeps its own options (delivery, cache_dir) off the host. With
``delivery: host`` it then only runs the module. With ``delivery: controller`` the
module is asked first (it answers from the host's receipts, without network); only a host that
lacks the build gets the archive, which the controller takes from its verified cache, filled at
most once per asset for the whole fleet. The module then installs from the transferred file with
the same checks as a download, so both modes end in identical installs and receipts. With
``pins`` (a host's whole list) the first run answers per pin; every missing archive is sent, then
one more run installs them all: two module runs on a cold host, one on a no-op.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as CORE_VERSION

from ansible_collections.pbs.python.plugins.module_utils._url_options import URL_ARGUMENT_SPEC
from ansible_collections.pbs.python.plugins.module_utils._pin import CONTROLLER_OPTIONS, OPTIONS, RULES, check_request
from ansible_collections.pbs.python.plugins.plugin_utils._role import host_readers, install_arguments

MODULE = 'pbs.python.pbs_python'
# Set by the role's install task alone: build the arguments from the role's variables, in Python.
ROLE_MARKER = '_role_variables'
# ansible-core 2.21 gave actions register_host_variables: the role's install task then publishes the
# interpreters itself. The role's tasks/main.yml chooses from the same version whether a set_fact follows.
PUBLISHES = tuple(int(part) for part in CORE_VERSION.split('.')[:2]) >= (2, 21)
if PUBLISHES:
    from ansible.plugins.action import VariableLayer
ARGUMENT_SPEC = dict(OPTIONS, **URL_ARGUMENT_SPEC)  # the module's own spec: one source of defaults


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # a remote temp dir is made only for a host that needs the archive

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if not self._task.args.get(ROLE_MARKER):
            return self._install(result, task_vars)
        # Options the task gets besides the marker (module_defaults of the play) override the role's.
        self._task.args = dict(self._role_arguments(task_vars or {}), **dict(
            (name, value) for name, value in self._task.args.items() if name != ROLE_MARKER))
        result = self._install(result, task_vars)
        if PUBLISHES and not result.get('failed'):
            # What the role's set_fact does before 2.21 (tasks/_install_and_publish.yml), without a second
            # forked task per host: set_fact's layer, above play and role variables, kept for later plays.
            self.register_host_variables({'pbs_python_interpreters': result['interpreters'],
                                          'pbs_python_default_interpreter': result['default_interpreter']},
                                         VariableLayer.EPHEMERAL_FACT)
        return result

    def _install(self, result, task_vars):
        """The task as the module's options give it: validated here, then run on the host (or delivered)."""
        internal = sorted(set(name for name in self._task.args if name.startswith('_')) | set(
            name for entry in self._task.args.get('pins') or [] if isinstance(entry, dict)
            for name in entry if name.startswith('_')))
        if internal:
            raise AnsibleActionFail('%s: %s internal to the action plugin; remove %s from the task'
                                    % (MODULE, ', '.join(internal), 'it' if len(internal) == 1 else 'them'))
        # Refused here with the module's own message, before the controller downloads anything.
        dummy, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, **RULES)
        if check_request(params):
            raise AnsibleActionFail(check_request(params))
        # The host gets the task's arguments as written, less the controller's: the module validates
        # them again there, and paths such as install_root: ~/pbs must expand on the host, not here.
        args = dict((name, value) for name, value in self._task.args.items() if name not in CONTROLLER_OPTIONS)
        if params['delivery'] != 'controller' or params['state'] == 'absent':
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        try:
            first = self._execute_module(module_name=MODULE, module_args=dict(args, _ask_first=True),
                                         task_vars=task_vars)
            if params['pins'] is not None:
                return self._deliver_pins(result, first, args, params, task_vars)
            if not first.pop('needs_archive', False):
                result.update(first, delivered=False)
                return result
            local, name, sha256, version, origin = self._fetch(params, first['target'])
            args.pop('url', None)
            args.update(_src=self._send(local, name), sha256=sha256, version=version, target=first['target'],
                        _origin=origin)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            result['delivered'] = True
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _deliver_pins(self, result, first, args, params, task_vars):
        """The list form: the first run answered per pin; send each missing archive once, then run again."""
        needing = [index for index, pin_result in enumerate(first.get('results', []))
                   if pin_result.pop('needs_archive', False)]
        if not needing:
            for pin_result in first.get('results', []):
                pin_result['delivered'] = False
            result.update(first, delivered=False)
            return result
        entries = [dict(entry) for entry in args['pins']]
        for index in needing:
            local, name, sha256, version, origin = self._fetch(dict(params, url=None, **params['pins'][index]),
                                                               first['target'])
            entries[index].update(_src=self._send(local, name), sha256=sha256, version=version, _origin=origin)
        second = self._execute_module(module_name=MODULE, module_args=dict(args, pins=entries, target=first['target']),
                                      task_vars=task_vars)
        result.update(second)
        for index, pin_result in enumerate(second.get('results', [])):
            # The item is the pin as the inventory gave it, not as the action completed it to send.
            pin_result.update(delivered=index in needing, item=first['results'][index]['item'])
        if not second.get('failed'):
            result['changed'] = bool(first.get('changed') or second.get('changed'))
        result['delivered'] = True
        return result

    def _role_arguments(self, task_vars):
        """The role's install task names no option: they are the host's pbs_python_* variables (see _role)."""
        try:
            return install_arguments(list(task_vars), *host_readers(self._templar, self._loader, task_vars))
        except ValueError as exc:  # PinError
            raise AnsibleActionFail('%s: %s' % (MODULE, exc))

    @staticmethod
    def _fetch(params, target):
        """(local path, asset, sha256, exact version, origin) of the pin in ``params``, from the controller's cache."""
        # Imported only for controller delivery: the cache and ansible's urls cost tens of ms per task otherwise.
        from ansible_collections.pbs.python.plugins.plugin_utils._delivery import DeliveryError, fetch_for_target

        try:
            return fetch_for_target(params, target)
        except DeliveryError as exc:
            raise AnsibleActionFail('delivery: controller: %s' % exc)

    def _send(self, local, name):
        """Copy a verified archive into the host's temp dir; its path there."""
        if self._connection._shell.tmpdir is None:  # the first module run may have made one already
            self._make_tmp_path()
        remote = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
        self._transfer_file(local, remote)
        self._fixup_perms2((self._connection._shell.tmpdir, remote))
        return remote
