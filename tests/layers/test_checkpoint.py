"""Block and layer checkpointing: a training step with either equals the plain step bit for bit
(loss, every gradient, BatchNorm statistics) in float64 and float32, on both backbones with
binary and integer neurons; layer checkpointing keeps its spike inputs in 1 bit per spike
(ceil(log2(D + 1)) bits for integer spikes); random draws (stochastic depth) and frozen stages
are handled; bad memory policies are refused by name."""
import pytest
import torch
from mmengine.registry import MODELS

import mmspike  # noqa: F401
from mmspike.layers.checkpoint import checkpoint_layer, layer_checkpointing, resolve_memory
from mmspike.layers.temporal import SeqToANN

SVFORMER_TINY = dict(embed_dims=(16, 32, 64, 96), depths=(1, 1, 1, 1), num_heads=(0, 0, 2, 2),
                     mlp_ratio=4)


def build(name, dtype=torch.float64, neuron=None, **kwargs):
    torch.manual_seed(0)
    if name == 'SVFormer':
        cfg = dict(type=name, arch=SVFORMER_TINY, num_frames=4, img_size=32)
    elif name == 'SpikeVideoFormer':
        cfg = dict(type=name, arch='tiny', num_frames=4)
    else:
        cfg = dict(type=name, arch='tiny')
    if neuron == 'ILIF':
        cfg['neuron_cfg'] = dict(type='ILIF', levels=4)
    model = MODELS.build(dict(cfg, **kwargs)).to(dtype).train()
    for module in model.modules():  # every setting on the contiguous maps checkpointing uses
        if isinstance(module, SeqToANN):
            module.channels_last = False
    return model


def train_step(model, x):
    model.zero_grad(set_to_none=True)
    loss = sum(out.pow(2).mean() for out in model(x))
    loss.backward()
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    buffers = [b.clone() for name, b in model.named_buffers() if 'running' in name]
    return loss.detach(), grads, buffers


def assert_same_step(plain, other):
    assert torch.equal(plain[0], other[0]), (float(plain[0]), float(other[0]))
    assert len(plain[1]) == len(other[1])
    for a, b in zip(plain[1], other[1]):
        assert (a is None) == (b is None)
        assert a is None or torch.equal(a, b)
    assert plain[2] and all(torch.equal(a, b) for a, b in zip(plain[2], other[2]))
    assert any(g is not None and g.abs().max() > 0 for g in plain[1])


def clip(name, dtype):
    torch.manual_seed(1)
    size = 32 if name != 'SpikeVideoFormer' else 64
    return torch.randn(2, 3, 4, size, size, dtype=dtype) * 2


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('name,neuron', [('SVFormer', None), ('SVFormer', 'ILIF'),
                                         ('SpikeVideoFormer', None),
                                         ('SpikeVideoFormer', 'ILIF')])
@pytest.mark.parametrize('checkpoint', ['block', 'layer'])
def test_checkpointed_step_equals_plain_step_bit_for_bit(checkpoint, name, neuron, dtype):
    x = clip(name, dtype)
    plain = train_step(build(name, dtype, neuron), x)
    model = build(name, dtype, neuron, memory=dict(checkpoint=checkpoint))
    assert_same_step(plain, train_step(model, x))
    if checkpoint == 'layer':
        stats = model.memory_stats
        bits = 1 if neuron is None else 3  # ILIF D=4: values 0..4 in 3 bits
        element_bytes = torch.finfo(dtype).bits // 8
        # SpikeVideoFormer tiny: 4 conv blocks x 2 (the SepConv and MLP branches, one unit
        # each), downsamplings 4, 2 transformer blocks x 4 (attention 3, MLP branch 1);
        # SVFormer: LFE blocks 2 x 3, downsamplings 3, GSA blocks 2 x 5, local pathway 1 (the
        # stems run on the frames, which need no gradient: not checkpointed)
        assert stats['layers'] == 20
        # 8 / bits spikes per byte against element_bytes per value (plus padding to 8)
        assert stats['packed_bytes'] <= stats['dense_bytes'] * bits / (8 * element_bytes) + 64 * \
            stats['layers']
        assert stats['packed_bytes'] >= stats['dense_bytes'] * bits / (8 * element_bytes)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_branches_with_a_learnable_time_constant_are_checkpointed_as_two_layers(dtype):
    """PLIF's gradient of 1/tau sums over time steps, which the branch unit's sliced neuron loop
    would reorder: its branches fall back to two layer checkpoints each, still bit for bit."""
    neuron = dict(type='PLIF', init_tau=2.0)
    x = clip('SpikeVideoFormer', dtype)
    plain = train_step(build('SpikeVideoFormer', dtype, neuron_cfg=neuron), x)
    model = build('SpikeVideoFormer', dtype, neuron_cfg=neuron, memory=dict(checkpoint='layer'))
    assert_same_step(plain, train_step(model, x))
    assert model.memory_stats['layers'] == 30  # 4 x 4 + 4 + 2 x 5


def branch(dtype, bias):
    from mmspike.neurons import build_neuron
    torch.manual_seed(3)
    stage_a = SeqToANN(torch.nn.Conv2d(4, 16, 3, padding=1, bias=bias),
                       torch.nn.BatchNorm2d(16), channels_last=False)
    stage_b = SeqToANN(torch.nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False),
                       torch.nn.Conv2d(16, 4, 1, bias=bias), torch.nn.BatchNorm2d(4),
                       channels_last=False)
    neuron = build_neuron(dict(type='LIF', tau=2.0))
    return torch.nn.ModuleList([stage_a, neuron, stage_b]).to(dtype).train()


@pytest.mark.parametrize('dtype,slice_bytes', [(torch.float64, 1), (torch.float32, None)])
@pytest.mark.parametrize('input_grad', [True, False])
@pytest.mark.parametrize('recompute', [True, False])
def test_branch_unit_equals_autograd(dtype, slice_bytes, input_grad, recompute, monkeypatch):
    """The branch unit's own backward (sliced convolutions and neuron loop, in-place gradients)
    against autograd through the plain modules: spikes, two stages of several convolutions with
    and without bias, a frozen weight.  float64: slices of one sample and one time step (bit
    for bit: PyTorch's float64 convolutions compute sample by sample); float32: the default
    slices (here the whole batch; oneDNN may round a one-sample slice of such small maps
    differently from the batch).  The first stage's output computed again (``recompute``) or
    kept."""
    import mmspike.layers.checkpoint as checkpoint_module
    from mmspike.layers.checkpoint import checkpoint_branch
    monkeypatch.setattr(checkpoint_module, 'BRANCH_RECOMPUTE_BYTES', 0 if recompute else 2**40)
    if slice_bytes is not None:
        monkeypatch.setattr(checkpoint_module, 'BRANCH_SLICE_BYTES', slice_bytes)
    torch.manual_seed(4)
    spikes = (torch.rand(6, 2, 4, 9, 9) < 0.4).to(dtype)
    weight = torch.randn(6, 2, 4, 9, 9, dtype=dtype)
    results = []
    for checkpointed in (False, True):
        parts = branch(dtype, bias=True)
        parts[2].module[0].weight.requires_grad_(False)
        x = spikes.clone().requires_grad_(input_grad)
        stats = {}
        with layer_checkpointing(stats=stats) if checkpointed else torch.enable_grad():
            out = checkpoint_branch(parts[0], parts[1], parts[2], x)
        (out * weight).sum().backward()
        assert stats.get('layers', 0) == int(checkpointed)
        grads = [p.grad for p in parts.parameters()]
        results.append((out.detach(), x.grad, grads, [b.clone() for b in parts.buffers()]))
    (out_a, x_a, grads_a, buffers_a), (out_b, x_b, grads_b, buffers_b) = results
    assert torch.equal(out_a, out_b)
    assert (x_a is None and x_b is None) if not input_grad else torch.equal(x_a, x_b)
    assert [g is None for g in grads_a] == [g is None for g in grads_b]
    assert sum(g is None for g in grads_a) == 1  # the frozen depthwise weight
    assert all(a is None or torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert all(torch.equal(a, b) for a, b in zip(buffers_a, buffers_b))


@pytest.mark.parametrize('name', ['SpikeVideoFormer', 'SVFormer'])
def test_layer_checkpointing_under_mixed_precision(name):
    """Under bfloat16 autocast (``--amp`` on the CPU) a layer's second run, in backward, runs in
    the dtypes of its first (backward itself runs outside autocast): the step equals the plain
    autocast step bit for bit."""
    x = clip(name, torch.float32)
    steps = []
    for memory in (None, dict(checkpoint='layer')):
        model = build(name, torch.float32, memory=memory)
        model.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            loss = sum(out.float().pow(2).mean() for out in model(x))
        loss.backward()
        steps.append((loss.detach(), [p.grad for p in model.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = steps
    assert torch.equal(loss_a, loss_b)
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert any(g is not None and g.abs().max() > 0 for g in grads_a)


def test_spiking_convnet_layer_checkpointing():
    x = clip('SpikingConvNet', torch.float64)
    plain = train_step(build('SpikingConvNet'), x)
    model = build('SpikingConvNet', memory=dict(checkpoint='layer'))
    assert_same_step(plain, train_step(model, x))
    assert model.memory_stats['layers'] == 4  # two downsamplings, two residual blocks


@pytest.mark.parametrize('checkpoint', ['block', 'layer'])
def test_random_draws_are_replayed(checkpoint):
    """Stochastic depth draws a mask per time step: the second run must draw the same."""
    x = clip('SVFormer', torch.float64)
    plain_model = build('SVFormer', drop_path_rate=0.5)
    model = build('SVFormer', drop_path_rate=0.5, memory=dict(checkpoint=checkpoint))
    torch.manual_seed(5)
    plain = train_step(plain_model, x)
    torch.manual_seed(5)
    assert_same_step(plain, train_step(model, x))
    torch.manual_seed(6)
    assert not torch.equal(plain[0], train_step(plain_model, x)[0])  # the draws matter


@pytest.mark.parametrize('checkpoint', ['block', 'layer'])
def test_frozen_stages(checkpoint):
    """Stages before the first trainable one give their spikes without gradients: the
    trainable layers still get theirs."""
    x = clip('SpikeVideoFormer', torch.float64)
    plain = train_step(build('SpikeVideoFormer', frozen_stages=1), x)
    other = train_step(build('SpikeVideoFormer', frozen_stages=1,
                             memory=dict(checkpoint=checkpoint)), x)
    assert_same_step(plain, other)
    assert any(g is None for g in plain[1])


def test_eval_and_no_grad_run_plain():
    model = build('SpikeVideoFormer', memory=dict(checkpoint='layer'))
    x = clip('SpikeVideoFormer', torch.float64)
    with torch.no_grad():
        model(x)
    assert model.memory_stats == {}
    model.eval()
    sum(out.sum() for out in model(x)).backward()
    assert model.memory_stats == {}


def test_checkpoint_layer_outside_the_context_just_calls():
    calls = []
    x = torch.ones(3, requires_grad=True)
    assert checkpoint_layer(lambda s: calls.append(1) or s * 2, x, modules=[]).grad_fn is not None
    assert calls == [1]


def test_non_spike_inputs_are_kept_dense_and_exact():
    """A layer given real values (not spikes) keeps them as they are: still exact."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(2, 3, 3)
    x = torch.randn(4, 2, 9, requires_grad=True)
    stats = {}
    with layer_checkpointing(1, stats):
        out = checkpoint_layer(conv, x, modules=[conv])
    out.pow(2).sum().backward()
    grad_x, grad_w = x.grad.clone(), conv.weight.grad.clone()
    x.grad = None
    conv.weight.grad = None
    conv(x).pow(2).sum().backward()
    assert torch.equal(grad_x, x.grad) and torch.equal(grad_w, conv.weight.grad)
    assert stats['unpacked_bytes'] == x.numel() * 4 and 'packed_bytes' not in stats


def test_memory_policy_errors_name_the_problem():
    assert resolve_memory('M', None, True, False) == dict(checkpoint='block',
                                                           compress_spikes=False)
    assert resolve_memory('M', dict(checkpoint='layer'), False, True) == dict(
        checkpoint='layer', compress_spikes=True)
    with pytest.raises(ValueError, match=r"unknown memory keys \['chunks'\]"):
        resolve_memory('M', dict(chunks=2), False, False)
    with pytest.raises(ValueError, match="checkpoint must be one of .* got 'layers'"):
        resolve_memory('M', dict(checkpoint='layers'), False, False)
    with pytest.raises(ValueError, match="with_cp=True .* contradicts checkpoint='layer'"):
        resolve_memory('M', dict(checkpoint='layer'), True, False)
    with pytest.raises(ValueError, match='compress_spikes must be True or False'):
        resolve_memory('M', dict(compress_spikes='yes'), False, False)
    with pytest.raises(ValueError, match='SpikeVideoFormer: unknown memory keys'):
        build('SpikeVideoFormer', memory=dict(peak='low'))


def test_policy_properties_and_hooks():
    model = build('SpikeVideoFormer', memory=dict(checkpoint='layer'))
    assert model.memory == dict(checkpoint='layer', compress_spikes=False)
    assert not model.with_cp and len(model._forward_pre_hooks) == 1
    model.with_cp = True
    assert model.checkpoint == 'block' and not model._forward_pre_hooks
    model.with_cp = False
    assert model.checkpoint is None
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        model.checkpoint = 'stage'
