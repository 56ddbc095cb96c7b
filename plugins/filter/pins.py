# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pins as inventory declares them: merged across groups, checked for conflicts, compared with hosts.

Ansible gives a host in two groups only one value of a variable, so groups declare their pins
in variables of their own (``pbs_python_installs__<group>``) and these filters take the union.
Everything here is pure, so the role, the report playbook and the tests share one definition
of "what a host should have".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pbs.python.plugins.module_utils._pin import (  # interpreters: the module publishes the same
    PinError, interpreters, missing, unpinned,
)
from ansible_collections.pbs.python.plugins.plugin_utils._role import merge_pins as _merge_pins


def merge_pins(sources, links=True):
    """The union of pin lists by source name; ``links=False`` ignores default/link claims."""
    try:
        return _merge_pins(sources, links=links)
    except PinError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'merge_pins': merge_pins, 'unpinned': unpinned, 'missing_pins': missing,
                'interpreters': interpreters}
