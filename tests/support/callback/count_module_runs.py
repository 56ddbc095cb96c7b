"""Ansible callback that counts, per host, the task results that ran a module on the host.

Every task that ran (ok or failed, not skipped) counts unless its action is one of ansible's
controller-only actions (set_fact, assert, the role's argument check...); loop items count one by
one. Writes ``{"runs": {host: count}, "tasks": {host: [task names]}}`` as JSON to
$PBS_COUNT_MODULE_RUNS when the playbook ends.
"""

import json
import os

CONTROLLER_ONLY = frozenset(
    prefix + name for prefix in ('', 'ansible.builtin.', 'ansible.legacy.') for name in (
        'set_fact', 'assert', 'debug', 'fail', 'meta', 'add_host', 'group_by', 'set_stats', 'include_vars',
        'validate_argument_spec', 'include_tasks', 'import_tasks', 'include_role', 'import_role', 'pause'))

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'count_module_runs'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.runs = {}
        self.tasks = {}

    def _count(self, result):
        if result._task.action not in CONTROLLER_ONLY:
            host = result._host.get_name()
            self.runs[host] = self.runs.get(host, 0) + 1
            self.tasks.setdefault(host, []).append(result._task.get_name())

    def _count_task(self, result):
        if not result._task.loop:  # a loop's items were counted one by one
            self._count(result)

    v2_runner_item_on_ok = v2_runner_item_on_failed = _count
    v2_runner_on_ok = v2_runner_on_failed = _count_task

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('PBS_COUNT_MODULE_RUNS')
        if path:
            with open(path, 'w') as handle:
                json.dump(dict(runs=self.runs, tasks=self.tasks), handle)
