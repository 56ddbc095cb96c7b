"""The pbs_python action validates a task against the module's own spec before the controller does anything,
and keeps its own options (delivery, cache_dir) and the internal ones off the host."""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pbs.python.plugins.module_utils._pin import RULES
from ansible_collections.pbs.python.plugins.modules.pbs_python import ARGUMENT_SPEC
from pbs_fixtures import HOST_TRIPLE
from playbook import localhost_play, run_playbook

BAD = {
    'unknown option': {'colour': 'red'},
    'wrong type': {'timeout': 'soon'},
    'out of choices': {'variant': 'full'},
}


def module_message(args):
    """What the module itself answers for ``args``: AnsibleModule validates with this validator and spec."""
    return ArgumentSpecValidator(ARGUMENT_SPEC, **RULES).validate(args).errors.msg


def test_bad_arguments_are_refused_with_the_module_message_before_any_controller_download(tmp_path, mirror):
    root, cache = tmp_path / 'pbs', tmp_path / 'cache'
    base = dict(version='3.12.1', build='20240107', variant='install_only', mirror=[mirror.url], install_root=str(root),
                target=HOST_TRIPLE, delivery='controller', cache_dir=str(cache))
    tasks = [{'name': name, 'ignore_errors': True, 'pbs.python.pbs_python': dict(base, **extra)}
             for name, extra in sorted(BAD.items())]
    tasks.append({'name': 'internal option', 'ignore_errors': True,
                  'pbs.python.pbs_python': dict(base, _src='/etc/hostname', _ask_first=False)})
    tasks.append({'name': 'host delivery, in check mode', 'check_mode': True,
                  'pbs.python.pbs_python': dict(base, delivery='host')})
    mirror.reset()
    run = run_playbook(localhost_play(tasks), str(tmp_path / 'work'), env={'ANSIBLE_INJECT_INVOCATION': 'true'})
    assert run.rc == 0, run.output[-4000:]
    status = dict((r['task'], r['status']) for r in run.results)

    for name, extra in BAD.items():
        expected = module_message(dict(base, **extra))
        assert expected and status[name] == 'failed'
        assert expected in run.result(name)['msg'], (name, expected, run.result(name)['msg'])
    # ansible-core names the action by its Python path here; the rest is the module's text.
    assert run.result('unknown option')['msg'].startswith('Unsupported parameters for (')
    assert status['internal option'] == 'failed'
    assert run.result('internal option')['msg'] == ('pbs.python.pbs_python: _ask_first, _src internal to the action '
                                                    'plugin; remove them from the task')
    # Nothing was asked of the mirror and the controller cache was never made.
    assert mirror.requests == [] and not cache.exists() and not root.exists()

    sent = run.result('host delivery, in check mode')['invocation']['module_args']
    assert sent['version'] == '3.12.1' and sent['mirror'] == [mirror.url]
    # The module fills in every option; the action's own came not from the task but from the defaults.
    assert sent['cache_dir'] != str(cache) and sent['cache_dir'].endswith('/.cache/pbs-python/downloads')
    assert (sent['_ask_first'], sent['_src'], sent['_origin']) == (None, None, None)
