# -*- coding: utf-8 -*-
# Copyright: pbs.python contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: role
short_description: A host's pins and module options as the pbs.python.pbs_python role reads them
version_added: 0.1.0
description:
  - Reads the host's C(pbs_python_*) variables (the role's, documented in its argument spec) the way
    the role does, so a playbook of your own calls the modules with the settings of your inventory.
  - V(pins) is the union of C(pbs_python_installs) and every C(pbs_python_installs__<name>), merged
    and checked as P(pbs.python.merge_pins#filter) does.
  - V(options) is what the role gives every module task of the P(pbs.python.pbs_python#module) action
    group (install root, mirrors, checksums with the lock file's digests, target, URL options), for
    C(module_defaults); options whose variable is empty are left out, so the modules' defaults apply.
author: pbs.python contributors (@pbs-python)
options:
  _terms:
    description: What to return, V(pins) or V(options).
    required: true
    type: list
    elements: str
    choices: [pins, options]
  lock:
    description:
      - With V(options), add the digests of C(pbs_python_lock_file) to C(checksums) and make them strict,
        as the role does. V(false) leaves that file alone (the C(pbs.python.lock) playbook writes it).
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Install one more build with the mirrors, digests and install root the role uses on this host
  module_defaults:
    group/pbs.python.pbs_python: "{{ lookup('pbs.python.role', 'options') }}"
  pbs.python.pbs_python:
    version: "3.13"
    build: "20241016"

- name: Show which inventory variables pin what on this host
  ansible.builtin.debug:
    msg: "{{ lookup('pbs.python.role', 'pins') | map(attribute='sources') }}"
'''

RETURN = r'''
_raw:
  description:
    - For V(pins), the host's pins, each with C(version), C(build), C(variant), C(freethreaded), C(default),
      C(link) and C(sources) (the variables that name it).
    - For V(options), one dict of module options.
  type: list
  elements: raw
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.pbs.python.plugins.module_utils._pin import PinError
from ansible_collections.pbs.python.plugins.plugin_utils._role import host_pins, host_readers, module_options


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        self.set_options(var_options=variables, direct=kwargs)
        value, read_lock = host_readers(self._templar, self._loader, variables)
        answers = []
        try:
            for term in terms:
                if term == 'pins':
                    answers.append(host_pins(list(variables), value))
                elif term == 'options':
                    answers.append(module_options(value, read_lock if self.get_option('lock') else None))
                else:
                    raise AnsibleLookupError('pbs.python.role: %r is neither pins nor options' % (term,))
        except PinError as exc:
            raise AnsibleLookupError('pbs.python.role: %s' % exc)
        return answers
