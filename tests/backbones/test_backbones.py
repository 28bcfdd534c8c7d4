"""What every mmspike backbone offers: out_indices, with_cp, frozen_stages, norm_eval, arch tables,
and the shared TemporalNeck."""
import copy

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmspike  # noqa: F401
from mmspike.backbones import SpikeVideoFormer, SpikingConvNet, SVFormer
from mmspike.backbones.base import ARCH_KEYS
from mmspike.layers.temporal import SeqToANN
from mmspike.neurons import BaseMultiStepNeuron
from mmspike.necks import TemporalNeck

T, N = 3, 2


def svformer(**kwargs):
    return SVFormer(arch='tiny', num_frames=T, img_size=64, **kwargs)


def spikevideoformer(**kwargs):
    return SpikeVideoFormer(arch='tiny', num_frames=T, **kwargs)


BACKBONES = {'SVFormer': svformer, 'SpikeVideoFormer': spikevideoformer}
# (channels, spatial size) of stages 0-3 for a 64 x 64 input
EXPECTED_MAPS = {
    'SVFormer': [(32, 16), (64, 8), (96, 4), (256, 2)],  # stage 3: [local, global] = 2 x 128
    'SpikeVideoFormer': [(16, 16), (32, 8), (64, 4), (96, 4)],
}


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_out_indices_return_a_tuple_of_time_major_maps(name):
    x = torch.randn(N, 3, T, 64, 64)
    model = BACKBONES[name](out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(x)
    assert isinstance(outs, tuple) and len(outs) == 4
    for out, (channels, size) in zip(outs, EXPECTED_MAPS[name]):
        assert out.shape == (T, N, channels, size, size)
    # the default is the last stage alone, still a tuple, and equal to the 4-map run's last map
    default = BACKBONES[name]().eval()
    default.load_state_dict(model.state_dict())
    with torch.no_grad():
        last = default(x)
    assert isinstance(last, tuple) and len(last) == 1
    torch.testing.assert_close(last[0], outs[3], rtol=0, atol=0)
    # negative indices count from the end, and the order asked for is the order returned
    flipped = BACKBONES[name](out_indices=(-1, 0)).eval()
    flipped.load_state_dict(model.state_dict())
    with torch.no_grad():
        pair = flipped(x)
    torch.testing.assert_close(pair[0], outs[3], rtol=0, atol=0)
    torch.testing.assert_close(pair[1], outs[0], rtol=0, atol=0)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_bad_out_indices_and_frozen_stages_are_named(name):
    with pytest.raises(ValueError, match=r'out_indices must be in \[-4, 3\], got \(4,\)'):
        BACKBONES[name](out_indices=(4, ))
    with pytest.raises(ValueError, match=r'frozen_stages must be in \[-1, 4\], got 7'):
        BACKBONES[name](frozen_stages=7)


def _train_step(model, x, weights):
    outs = model(x)
    loss = sum((out * w).sum() for out, w in zip(outs, weights))
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


@pytest.mark.parametrize('frozen_stages', [-1, 0])  # 0: the first blocks' input needs no grad
@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_with_cp_gives_the_same_loss_gradients_and_statistics(name, frozen_stages):
    torch.manual_seed(0)
    plain = BACKBONES[name](out_indices=(0, 1, 2, 3), frozen_stages=frozen_stages).train()
    checkpointed = BACKBONES[name](out_indices=(0, 1, 2, 3), frozen_stages=frozen_stages,
                                   with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    # checkpointed blocks run on contiguous maps (see checkpoint_stateful); compare with the
    # plain model in the same layout, so that both compute the same bits
    for module in plain.modules():
        if isinstance(module, SeqToANN):
            module.channels_last = False
    x = torch.randn(N, 3, T, 64, 64)
    weights = [torch.randn(T, N, c, s, s) for c, s in EXPECTED_MAPS[name]]
    loss_plain, grads_plain = _train_step(plain, x, weights)
    loss_cp, grads_cp = _train_step(checkpointed, x, weights)
    torch.testing.assert_close(loss_cp, loss_plain, rtol=1e-6, atol=1e-6)
    assert grads_cp.keys() == grads_plain.keys()
    trainable = [p for p in plain.parameters() if p.requires_grad]
    assert len(grads_plain) == len(trainable)  # every trainable parameter got a gradient
    for key in grads_plain:
        torch.testing.assert_close(grads_cp[key], grads_plain[key], rtol=1e-5, atol=1e-6,
                                   msg=key)
    # the recomputation in backward must not update BatchNorm statistics a second time
    for (key, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        if 'running_' in key or 'num_batches_tracked' in key:
            torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6, msg=key)


def test_with_cp_sets_contiguous_maps_once_not_on_every_forward():
    """with_cp runs every SeqToANN on contiguous maps from the moment it is set or the backbone
    enters train(); a forward changes no layer's layout setting."""
    model = spikevideoformer(with_cp=True).train()
    wrappers = [m for m in model.modules() if isinstance(m, SeqToANN)]
    assert wrappers and all(m.channels_last is False for m in wrappers)
    wrappers[0].channels_last = True
    model(torch.randn(N, 3, T, 32, 32))
    assert wrappers[0].channels_last is True
    plain = spikevideoformer().train()
    assert all(m.channels_last is None for m in plain.modules() if isinstance(m, SeqToANN))
    plain.with_cp = True
    assert plain.with_cp and all(
        m.channels_last is False for m in plain.modules() if isinstance(m, SeqToANN))


def test_with_cp_restores_the_neuron_state_a_block_started_from():
    """A block run frame by frame (state carried between calls) recomputes from the state it
    started from, not from the one it ended with."""
    from mmspike.backbones.base import checkpoint_stateful
    from mmspike.neurons import MultiStepLIF

    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(4, 4), MultiStepLIF(), nn.Linear(4, 4))
    x1 = torch.randn(2, 3, 4)
    x2 = torch.randn(2, 3, 4, requires_grad=True)

    def run(use_cp):
        for m in block.modules():
            if isinstance(m, BaseMultiStepNeuron):
                m.reset()
        block(x1 * 3)  # leaves a non-zero membrane
        block.zero_grad()
        x = x2.detach().clone().requires_grad_()
        out = checkpoint_stateful(block, x) if use_cp else block(x)
        out.pow(2).sum().backward()
        return out.detach(), x.grad, block[0].weight.grad.clone()

    for a, b in zip(run(False), run(True)):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_frozen_stages_fix_parameters_and_statistics(name):
    model = BACKBONES[name](frozen_stages=2)
    model.train()
    parts = model.stem_and_stages()
    for frozen in parts[:3]:  # stem, stages 0 and 1
        for module in frozen:
            assert all(not p.requires_grad for p in module.parameters())
            assert all(not m.training for m in module.modules())
    for live in parts[3:]:
        for module in live:
            assert all(p.requires_grad for p in module.parameters())
            assert all(m.training for m in module.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sum(o.sum() for o in model(torch.randn(N, 3, T, 64, 64))).backward()
    optimizer.step()
    frozen_keys = {f'{prefix}.{k}' for prefix, module in model.named_children()
                   for part in parts[:3] for m in part if m is module
                   for k in module.state_dict()}
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert frozen_keys and not (frozen_keys & changed)
    assert changed  # the live stages did train


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_norm_eval_keeps_every_batchnorm_in_eval_mode(name):
    model = BACKBONES[name](norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    stats = [m.running_mean.clone() for m in norms]
    model(torch.randn(N, 3, T, 64, 64))
    assert all(torch.equal(m.running_mean, s) for m, s in zip(norms, stats))
    assert BACKBONES[name]().train().stem_and_stages()[0][0].training


def test_arch_tables_share_one_convention():
    for cls in (SVFormer, SpikeVideoFormer, SpikingConvNet):
        for name, arch in cls.arch_zoo.items():
            assert set(arch) <= set(ARCH_KEYS), (cls.__name__, name)
            assert {'embed_dims', 'depths'} <= set(arch)
    with pytest.raises(ValueError, match=r"unknown \['head_dim'\]"):
        SVFormer(arch=dict(embed_dims=(8, 16, 32, 64), depths=(1, 1, 1, 1), head_dim=16))
    with pytest.raises(ValueError, match=r"missing \['embed_dims'\]"):
        SpikeVideoFormer(arch=dict(widths=(8, 16, 32, 64), depths=(1, 1, 1, 1)))
    custom = SpikeVideoFormer(arch=dict(embed_dims=(8, 16, 32, 48), depths=(1, 1, 2, 1),
                                        num_heads=(0, 0, 4, 4), mlp_ratio=2))
    assert len(custom.stage3) == 2 and len(custom.stage2) == 1
    assert custom.stage3[0].mlp.fc1.module[0].out_channels == 64  # mlp_ratio 2


@pytest.mark.parametrize('mode,shape', [('fold', (N * T, 7, 4, 5)), ('mean', (N, 7, 4, 5)),
                                        ('last', (N, 7, 4, 5)), ('stack', (N, 7, T, 4, 5))])
def test_temporal_neck_modes(mode, shape):
    x = torch.randn(T, N, 7, 4, 5)
    out, = TemporalNeck(mode=mode)((x, ))
    assert out.shape == shape
    for n in range(N):
        for t in range(T):
            if mode == 'fold':
                expected = x[t, n]
                got = out[n * T + t]
            elif mode == 'stack':
                expected, got = x[t, n], out[n, :, t]
            else:
                continue
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
    if mode == 'mean':
        torch.testing.assert_close(out, x.mean(0))
    if mode == 'last':
        torch.testing.assert_close(out, x[-1], rtol=0, atol=0)


def test_temporal_neck_selects_maps_and_names_bad_input():
    maps = (torch.randn(T, N, 4, 8, 8), torch.randn(T, N, 8, 4, 4))
    out = TemporalNeck(mode='mean', in_index=-1)(maps)
    assert len(out) == 1 and out[0].shape == (N, 8, 4, 4)
    with pytest.raises(ValueError, match=r'\[T, N, C, H, W\] maps, map 0 is \(2, 4, 8, 8\)'):
        TemporalNeck()((torch.randn(N, 4, 8, 8), ))
    with pytest.raises(ValueError, match=r'map 1 has \(T, N\) = \(4, 2\), map 0 has \(3, 2\)'):
        TemporalNeck()((maps[0], torch.randn(4, N, 8, 4, 4)))
    with pytest.raises(ValueError, match='built for T=5, got T=3'):
        TemporalNeck(num_frames=5)(maps)
    with pytest.raises(ValueError, match="unknown mode 'pool'"):
        TemporalNeck(mode='pool')


def test_backbone_then_neck_gives_per_frame_image_features():
    """Folding T into the batch gives, for row n*T + t, frame t of clip n."""
    model = spikevideoformer(out_indices=(2, 3)).eval()
    with torch.no_grad():
        maps = model(torch.randn(N, 3, T, 64, 64))
        folded = TemporalNeck(mode='fold')(maps)
    assert [f.shape for f in folded] == [(N * T, 64, 4, 4), (N * T, 96, 4, 4)]
    torch.testing.assert_close(folded[1][1 * T + 2], maps[1][2, 1], rtol=0, atol=0)


def test_backbones_deep_copy_and_keep_state_out_of_the_state_dict():
    model = copy.deepcopy(svformer())
    assert not any(k.endswith('.v') for k in model.state_dict())
