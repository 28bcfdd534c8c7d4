"""Mixed precision on the CPU: the ``--amp`` option of ``tools/train.py``
(:func:`mmspike.engine.runner.merge_train_args`) trains the demo configs with bfloat16 autocast
(no NaN, parameters updated) while the neurons keep float32 state."""
import argparse
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from helpers import shrink_action_config
from mmspike.engine.amp import AutocastOptimWrapper, amp_optim_wrapper_cfg
from mmspike.engine.runner import load_run_config, merge_train_args
from mmspike.neurons import (BaseMultiStepNeuron, MultiStepILIF, MultiStepLIF,
                                    MultiStepPLIF)

from helpers import REPO  # noqa: E402
FRAMES, SIZE = 4, 32


def train_args(config, work_dir, amp=True):
    """The arguments ``tools/train.py CONFIG --work-dir WORK_DIR [--amp]`` gives."""
    return argparse.Namespace(config=config, work_dir=work_dir, amp=amp, resume=None,
                              no_validate=False, seed=None, cfg_options=None, launcher='none',
                              local_rank=0)


NEURONS = {
    'PLIF': lambda backend: MultiStepPLIF(init_tau=2.0, surrogate='atan', backend=backend),
    'LIF': lambda backend: MultiStepLIF(tau=2.0, surrogate='sigmoid', backend=backend),
    'ILIF': lambda backend: MultiStepILIF(levels=4, backend=backend),
}


@pytest.mark.parametrize('backend', ['fused', 'reference'])
@pytest.mark.parametrize('kind', sorted(NEURONS))
def test_neuron_keeps_float32_state_under_bf16_autocast(kind, backend):
    torch.manual_seed(0)
    x16 = (torch.randn(6, 2, 3, 4) * 2).bfloat16()
    reference = NEURONS[kind](backend)
    x32 = x16.float().requires_grad_()
    spikes32 = reference(x32)
    (spikes32 * torch.arange(spikes32.numel()).view_as(spikes32)).sum().backward()

    neuron = NEURONS[kind](backend)
    x = x16.clone().requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        spikes = neuron(x)
    assert neuron.v.dtype == torch.float32, neuron.v.dtype
    assert spikes.dtype == torch.bfloat16, spikes.dtype
    (spikes.float() * torch.arange(spikes.numel()).view_as(spikes)).sum().backward()
    assert x.grad.dtype == torch.bfloat16
    # the same spikes, membrane and (float32-computed) gradients as in float32
    assert torch.equal(spikes.float(), spikes32.detach())
    assert torch.equal(neuron.v, reference.v)
    assert torch.equal(x.grad, x32.grad.bfloat16())
    if kind == 'PLIF':
        assert torch.allclose(neuron.w.grad, reference.w.grad, rtol=1e-6), \
            (neuron.w.grad, reference.w.grad)


def test_amp_optim_wrapper_cfg_per_device():
    base = dict(optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=20))
    assert amp_optim_wrapper_cfg(base, 'cpu') == dict(
        type='AutocastOptimWrapper', dtype='bfloat16', device_type='cpu', **base)
    assert amp_optim_wrapper_cfg(dict(base, type='AmpOptimWrapper'), 'cuda') == dict(
        type='AmpOptimWrapper', loss_scale='dynamic', **base)
    assert amp_optim_wrapper_cfg(base, 'cuda', dtype='bfloat16')['dtype'] == 'bfloat16'
    with pytest.raises(ValueError, match=r"supports \('bfloat16',\), got dtype 'float16'"):
        amp_optim_wrapper_cfg(base, 'cpu', dtype='float16')
    with pytest.raises(ValueError, match="the config has 'ZeroRedundancyOptimizer'"):
        amp_optim_wrapper_cfg(dict(base, type='ZeroRedundancyOptimizer'), 'cpu')
    with pytest.raises(ValueError, match="supports dtype \\('bfloat16',\\), got 'float16'"):
        AutocastOptimWrapper(optimizer=torch.optim.SGD([torch.zeros(1)], lr=1), dtype='float16')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from mmspike.datasets.synthetic.motion_clips import write_dataset
    root = tmp_path_factory.mktemp('amp') / 'motion_clips'
    write_dataset(str(root), train_per_class=1, val_per_class=1, test_per_class=1,
                  num_frames=FRAMES, size=SIZE, seed=0)
    return str(root)


def shrunk_config(name, root, tmp_path):
    """``configs/<name>`` with 4 frames of 32 x 32 from ``root``, 2 iterations, no validation."""
    cfg = shrink_action_config(Config.fromfile(osp.join(REPO, 'configs', name)), str(root),
                               FRAMES, SIZE, batch_size=4, splits=('train', ))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100, by_epoch=False)
    cfg.log_level = 'WARNING'
    path = str(tmp_path / name)
    cfg.dump(path)
    return path


@pytest.mark.parametrize('config', ['svformer_demo.py', 'spikevideoformer_demo.py'])
def test_train_demo_with_amp_on_cpu(config, data_root, tmp_path):
    args = train_args(shrunk_config(config, data_root, tmp_path), str(tmp_path / 'work'))
    cfg = merge_train_args(load_run_config(args), args)
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper' and \
        cfg.optim_wrapper.dtype == 'bfloat16', cfg.optim_wrapper
    runner = Runner.from_cfg(cfg)
    model = runner.model
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)
                or isinstance(m, torch.nn.Conv3d))
    conv_dtypes, neuron_inputs = [], []
    conv.register_forward_hook(lambda m, i, o: conv_dtypes.append(o.dtype))
    neurons = [m for m in model.modules() if isinstance(m, BaseMultiStepNeuron)]
    for neuron in neurons:
        neuron.register_forward_hook(lambda m, i, o: neuron_inputs.append(i[0].dtype))
    runner.train()
    assert runner.iter == 2
    assert isinstance(runner.optim_wrapper, AutocastOptimWrapper), type(runner.optim_wrapper)
    assert conv_dtypes and set(conv_dtypes) == {torch.bfloat16}, conv_dtypes
    assert torch.bfloat16 in neuron_inputs, set(neuron_inputs)
    assert all(n.v is not None and n.v.dtype == torch.float32 for n in neurons), \
        {n.v.dtype for n in neurons if n.v is not None}
    loss = float(runner.message_hub.log_scalars['train/loss'].current())
    assert math.isfinite(loss), loss
    changed = [k for k, p in model.named_parameters() if not torch.equal(p, before[k])]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert p_dtype_float32(model)
    assert len(changed) > 0.9 * len(before), \
        sorted(set(before) - set(changed))[:10]


def p_dtype_float32(model):
    """The parameters stay float32 (autocast casts copies, not the weights)."""
    return all(p.dtype == torch.float32 for p in model.parameters())
