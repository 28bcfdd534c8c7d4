"""mmspike.apis.model: init_model builds a config's model in its scope, loads a checkpoint
strictly through the safe loader (shapes checked first) and reports missing files by name;
importing mmspike.apis imports no task codebase."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from helpers import REPO
from mmspike.apis import build_model, init_model, load_config, load_weights
from mmspike.engine.checkpoint import UnsafeCheckpointError
from mmspike.hooks.checkpoint_hooks import first_shape_mismatch

DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')


class _RunsShell:
    """Pickles as a call of ``os.system``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    """A checkpoint of the demo config whose weights differ from any initialisation, and
    the state dict it holds."""
    torch.manual_seed(0)
    model = init_model(DEMO)
    state = {key: value + 0.5 if value.is_floating_point() else value
             for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp('init_model') / 'perturbed.pth'
    torch.save(dict(state_dict=state, meta=dict(note='test')), path)
    return str(path), state


def test_init_model_without_checkpoint_builds_the_config_in_eval_mode():
    model = init_model(DEMO)
    assert type(model).__name__ == 'Recognizer3D' and type(model.backbone).__name__ == 'SVFormer'
    assert not model.training and not any(m.training for m in model.modules())
    assert isinstance(model.cfg, Config) and model.cfg.model.cls_head.num_classes == 8
    from mmengine.registry import DefaultScope
    assert DefaultScope.get_current_instance().scope_name == 'mmaction'


def test_init_model_loads_a_saved_state_dict(saved):
    path, state = saved
    model = init_model(DEMO, path)
    loaded = model.state_dict()
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    # a DDP checkpoint (every key prefixed with module.) loads the same
    ddp = osp.join(osp.dirname(path), 'ddp.pth')
    torch.save(dict(state_dict={f'module.{k}': v for k, v in state.items()}), ddp)
    again = init_model(load_config(DEMO), ddp).state_dict()
    assert all(torch.equal(again[key], value) for key, value in state.items())


def test_config_object_and_cfg_options():
    cfg = Config.fromfile(DEMO)
    model = init_model(cfg, cfg_options={'model.cls_head.num_classes': 3})
    assert model.cls_head.fc_cls.out_features == 3 and model.cfg.model.cls_head.num_classes == 3
    assert cfg.model.cls_head.num_classes == 8  # the given config is not changed
    with pytest.raises(TypeError, match='config must be a file path or an mmengine Config, got '
                                        'dict'):
        init_model(dict(cfg.model))


def test_missing_config_or_checkpoint_is_named(tmp_path, saved):
    missing = str(tmp_path / 'no_such_config.py')
    with pytest.raises(FileNotFoundError, match=f'config file {missing!r} does not exist'):
        init_model(missing)
    missing = str(tmp_path / 'no_such.pth')
    with pytest.raises(FileNotFoundError, match=f'checkpoint {missing!r} does not exist'):
        init_model(DEMO, missing)
    with pytest.raises(FileNotFoundError, match=f'checkpoint {missing!r} does not exist'):
        load_weights(build_model(load_config(DEMO)), missing)


def test_shape_mismatch_names_the_first_key_and_both_shapes(saved):
    path, state = saved
    other = init_model(DEMO, cfg_options={'model.cls_head.num_classes': 5})
    key, ckpt_shape, model_shape, count = first_shape_mismatch(state, other.state_dict())
    assert key.startswith('cls_head.') and ckpt_shape[0] == 8 and model_shape[0] == 5
    with pytest.raises(ValueError) as info:
        init_model(DEMO, path, cfg_options={'model.cls_head.num_classes': 5})
    message = str(info.value)
    assert (f'checkpoint {path!r} does not fit the model: {key!r} has shape {ckpt_shape} in the '
            f'checkpoint but {model_shape} in the model (the first of {count} mismatching '
            f'tensor(s)).') in message, message


def test_missing_and_unexpected_keys_are_named(saved, tmp_path):
    path, state = saved
    partial = dict(state)
    dropped = sorted(partial)[3]
    partial.pop(dropped)
    partial['extra.weight'] = torch.zeros(2)
    bad = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=partial), bad)
    with pytest.raises(ValueError, match=rf"1 of its tensors missing \['{dropped}'\], 1 "
                                         rf"unexpected \['extra.weight'\]"):
        init_model(DEMO, bad)
    empty = str(tmp_path / 'empty.pth')
    torch.save(dict(epoch=3), empty)
    with pytest.raises(ValueError, match='holds no state dict'):
        init_model(DEMO, empty)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'x': _RunsShell(f'touch {marker}')}, evil)
    with pytest.raises(UnsafeCheckpointError, match='MMSPIKE_TRUST_CHECKPOINTS=1'):
        init_model(DEMO, str(evil))
    assert not marker.exists()


def test_importing_apis_imports_no_task_codebase():
    code = ('import sys, mmspike.apis; print(sorted({m.split(".")[0] for m in sys.modules} & '
            '{"mmaction", "mmpose", "mmseg", "mmdet"}))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == '[]', result.stdout
