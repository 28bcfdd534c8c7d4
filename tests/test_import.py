"""``import mmspike`` changes nothing but its registrations.

It must not replace a function, method or class attribute of torch, mmengine or the OpenMMLab
codebases, and must import none of the task codebases; building and running a backbone changes
nothing either.  The repairs of upstream bugs are applied by the task adapters and tools
(:func:`mmspike.engine.compat.apply`), tested in ``tests/engine/test_compat.py``.
"""
import json
import subprocess
import sys

import pytest

SNAPSHOT_SCRIPT = r'''
import importlib, inspect, json, sys
import torch, mmengine
# every module mmspike's repairs touch, and the ones a runner uses, loaded before mmspike
for name in ('mmengine.runner', 'mmengine.runner.runner', 'mmengine.runner.checkpoint',
             'mmengine.hooks', 'mmengine.hooks.checkpoint_hook', 'mmengine.config',
             'mmengine.config.config', 'mmengine.dist', 'mmengine.dist.utils', 'mmengine.model',
             'mmengine.optim', 'mmengine.registry', 'mmengine.fileio', 'torch.nn',
             'torch.utils.checkpoint', 'torch.nn.parallel', 'torch.hub'):
    importlib.import_module(name)
ROOTS = ('torch', 'mmengine', 'mmcv')


def snapshot():
    state = {}
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.split('.')[0] not in ROOTS:
            continue
        for key, value in list(vars(module).items()):
            if key.startswith('__') or inspect.ismodule(value):
                continue
            state[f'{mod_name}:{key}'] = id(value)
            if inspect.isclass(value) and value.__module__ == mod_name:
                for attr, member in list(vars(value).items()):
                    if attr.startswith('__') and attr != '__init__':
                        continue
                    state[f'{mod_name}:{key}.{attr}'] = id(member)
    return state


before = snapshot()
import mmspike  # noqa: E402
stage = {'import mmspike': snapshot()}
from mmspike.registry import MODELS  # noqa: E402
backbone = MODELS.build(dict(type='SVFormer', arch='tiny', num_frames=2, img_size=32))
backbone(torch.randn(2, 3, 2, 32, 32))
stage['build and run a backbone'] = snapshot()
report = {}
for name, after in stage.items():
    report[name] = {
        'replaced': sorted(k for k in before if k in after and after[k] != before[k]),
        'removed': sorted(k for k in before if k not in after),
        'added_to_existing': sorted(
            k for k in after if k not in before and k.split(':')[0] in
            {b.split(':')[0] for b in before}),
    }
report['task_codebases'] = sorted({m.split('.')[0] for m in sys.modules}
                                  & {'mmaction', 'mmpose', 'mmseg', 'mmdet'})
print(json.dumps(report))
'''


@pytest.fixture(scope='module')
def import_report():
    out = subprocess.run([sys.executable, '-c', SNAPSHOT_SCRIPT], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize('stage', ['import mmspike', 'build and run a backbone'])
def test_import_replaces_nothing_in_torch_or_mmengine(import_report, stage):
    report = import_report[stage]
    assert report['replaced'] == [], f'{stage} replaced: {report["replaced"][:20]}'
    assert report['removed'] == [], f'{stage} removed: {report["removed"][:20]}'
    assert report['added_to_existing'] == [], (
        f'{stage} added attributes to torch/mmengine modules or classes: '
        f'{report["added_to_existing"][:20]}')


def test_import_loads_no_task_codebase(import_report):
    assert import_report['task_codebases'] == []


def test_snapshot_sees_a_replacement():
    """The check above can fail: a patched mmengine attribute is reported."""
    script = SNAPSHOT_SCRIPT.replace(
        'import mmspike  # noqa: E402',
        'import mmspike  # noqa: E402\n'
        'import mmengine.runner.checkpoint as _c\n'
        '_c.save_checkpoint = lambda *a, **k: None')
    out = subprocess.run([sys.executable, '-c', script], check=True, capture_output=True,
                         text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert 'mmengine.runner.checkpoint:save_checkpoint' in report['import mmspike']['replaced']
