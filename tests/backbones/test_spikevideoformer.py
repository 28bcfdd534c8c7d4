"""SpikeVideoFormer: SDHA against its quadratic form, I-LIF expansion, sizes, modes, errors."""
import pytest
import torch
from torch import nn

import mmspike  # noqa: F401
from mmspike.backbones import SpikeVideoFormer
from mmspike.backbones.spikevideoformer import ATTENTION_MODES
from mmspike.heads.action import SpikingClsHead
from mmspike.neurons import MultiStepILIF, expand_integer_spikes
from mmspike.ops import (dot_attention, hamming_attention, naive_dot_attention,
                         naive_hamming_attention)


@pytest.mark.parametrize('shape', [(7, 4), (2, 3, 10, 8), (1, 2, 4, 33, 16), (5, 1)])
def test_hamming_attention_equals_quadratic_form(shape):
    torch.manual_seed(len(shape))
    q, k, v = [(torch.rand(shape) < 0.4).double() for _ in range(3)]
    scale = 1.0 / (2 * shape[-1])
    assert torch.allclose(hamming_attention(q, k, v, scale),
                          naive_hamming_attention(q, k, v, scale), atol=1e-5)
    assert torch.allclose(dot_attention(q, k, v, 0.125), naive_dot_attention(q, k, v, 0.125),
                          atol=1e-5)
    # float32, as the model runs it
    q32, k32, v32 = q.float(), k.float(), v.float()
    assert torch.allclose(hamming_attention(q32, k32, v32, scale),
                          naive_hamming_attention(q, k, v, scale).float(), atol=1e-5)


def test_hamming_similarity_is_the_normalised_hamming_agreement():
    q = torch.tensor([[1., 0., 1., 1.]])
    k = torch.tensor([[1., 1., 0., 1.], [1., 0., 1., 1.]])
    v = torch.eye(2)
    d = 4
    out = hamming_attention(q, k, v, 1.0 / (2 * d))  # f_H - 1/2 per key
    agreement = ((q == k).float().sum(-1) / d)  # [2/4, 4/4]
    assert torch.allclose(out[0], agreement - 0.5)


def test_integer_lif_emits_integers_and_expands_to_identical_binary_steps():
    torch.manual_seed(0)
    neuron = MultiStepILIF(levels=4)
    x = torch.randn(6, 2, 3, 5, 5) * 3 + 1
    spikes = neuron(x)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert spikes.max() > 1  # really integer-valued
    binary = expand_integer_spikes(spikes, 4)
    assert binary.shape == (4, *spikes.shape)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(binary.sum(0), spikes)
    conv = nn.Conv2d(3, 4, 3, padding=1).double()
    with torch.no_grad():
        integer_out = conv(spikes.flatten(0, 1).double())
        expanded = sum(conv(step.flatten(0, 1).double()) - conv.bias.view(1, -1, 1, 1)
                       for step in binary) + conv.bias.view(1, -1, 1, 1)
    assert torch.allclose(integer_out, expanded, atol=1e-10)
    # straight-through gradient inside [0, D], zero outside
    neuron.reset()
    x = torch.tensor([[-1.0, 2.0, 9.0]], requires_grad=True)  # one step: H = X / tau
    neuron(x).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.0]]  # d round(clamp(H)) / dH = 1 in [0, 4]


@pytest.mark.parametrize('arch,expected', [('small', 15.1e6), ('medium', 31.3e6),
                                           ('large', 55.4e6)])
def test_parameter_counts_with_1000_class_head(arch, expected):
    backbone = SpikeVideoFormer(arch=arch)
    head = nn.Linear(backbone.embed_dims[3], 1000)
    count = sum(p.numel() for p in backbone.parameters()) + \
        sum(p.numel() for p in head.parameters())
    assert abs(count - expected) / expected < 0.005, count


def test_output_strides_and_layout():
    model = SpikeVideoFormer(arch='tiny', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 3, 64, 48))
    assert [tuple(o.shape) for o in outs] == [(3, 2, 16, 16, 12), (3, 2, 32, 8, 6),
                                              (3, 2, 64, 4, 3), (3, 2, 96, 4, 3)]


@pytest.mark.parametrize('attention', ATTENTION_MODES)
@pytest.mark.parametrize('sim', ['hamming', 'dot'])
def test_every_attention_mode_and_similarity_trains_a_step(attention, sim):
    torch.manual_seed(0)
    backbone = SpikeVideoFormer(arch='tiny', attention=attention, sim=sim)
    head = SpikingClsHead(num_classes=5, in_channels=96)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=0.1)
    x = torch.randn(2, 3, 4, 32, 32)
    scores = head(backbone(x))
    assert scores.shape == (2, 5)
    loss = nn.functional.cross_entropy(scores, torch.tensor([1, 3]))
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    optimizer.step()


def test_joint_attention_mixes_frames_and_spatial_does_not_look_ahead():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 4, 32, 32)
    changed = x.clone()
    changed[:, :, 3] += 3.0  # only the last frame differs
    for attention, leaks_back in (('joint', True), ('spatial', False)):
        model = SpikeVideoFormer(arch='tiny', attention=attention, sim='dot').eval()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.fill_(2.0)
                    module.bias.fill_(0.5)
            # frame 0 of the last stage's map
            early = (model(x)[0][0] - model(changed)[0][0]).abs().sum()
        assert bool(early > 0) == leaks_back, attention


def test_zero_init_residual_makes_every_block_start_as_the_identity():
    torch.manual_seed(0)
    model = SpikeVideoFormer(arch='tiny', zero_init_residual=True)
    model.init_weights()
    norms = model.residual_branch_norms()
    # SepConv + conv MLP in the stem block, stage 1 and both stage-2 blocks; attention + MLP in
    # the stage-3 and stage-4 transformer blocks
    assert len(norms) == 2 * 4 + 2 * 2
    assert all(not norm.weight.detach().any() for norm in norms)
    x = torch.randn(3, 2, 64, 2, 2)  # [T, N, C, H, W] at stage 3
    assert torch.equal(model.stage3[0](x), x)
    x = torch.randn(3, 2, 16, 8, 8)
    assert torch.equal(model.stage1[0](x), x)
    # the default keeps Meta-SpikeFormer's init (BN weights 1)
    plain = SpikeVideoFormer(arch='tiny')
    plain.init_weights()
    assert all(bool((norm.weight.detach() == 1).all()) for norm in plain.residual_branch_norms())


def test_integer_neurons_build_and_run():
    model = SpikeVideoFormer(arch='tiny', neuron_cfg=dict(type='ILIF', levels=4))
    out, = model(torch.randn(1, 3, 2, 32, 32))
    assert out.shape == (2, 1, 96, 2, 2)


def test_bad_inputs_and_arguments_raise_clear_errors():
    model = SpikeVideoFormer(arch='tiny', num_frames=4)
    with pytest.raises(ValueError, match='T=4 frames, got T=3'):
        model(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match='5-D|\\(N, C, T, H, W\\)'):
        model(torch.randn(3, 4, 32, 32))
    with pytest.raises(ValueError, match='divisible by 16'):
        model(torch.randn(1, 3, 4, 40, 32))
    with pytest.raises(ValueError, match='input channels'):
        model(torch.randn(1, 2, 4, 32, 32))
    with pytest.raises(ValueError, match='unknown attention'):
        SpikeVideoFormer(arch='tiny', attention='global')
    with pytest.raises(ValueError, match='unknown sim'):
        SpikeVideoFormer(arch='tiny', sim='cosine')
    with pytest.raises(ValueError, match='unknown arch'):
        SpikeVideoFormer(arch='giant')


from helpers import REPO  # noqa: E402


@pytest.mark.parametrize('name,expected', [('spikevideoformer_k400.py', 54_974_353),
                                           ('spikevideoformer_ucf101.py', 14_792_182),
                                           ('spikevideoformer_demo.py', 509_977)])
def test_configs_build_recognizers(name, expected):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmaction')
    cfg = Config.fromfile(f'{REPO}/configs/{name}')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_demo_config_trains_two_iterations(tmp_path):
    import os.path as osp

    from mmengine.config import Config
    from mmengine.runner import Runner

    from helpers import train_two_iterations
    from mmspike.datasets.synthetic.motion_clips import write_dataset
    clips = str(tmp_path / 'clips')
    write_dataset(clips, train_per_class=1, val_per_class=1, test_per_class=1, num_frames=8,
                  size=32, seed=0)
    cfg = Config.fromfile(f'{REPO}/configs/spikevideoformer_demo.py')
    cfg.model.backbone.num_frames = 8
    cfg.model.cls_head.num_frames = 8
    loader = cfg.train_dataloader
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset.ann_file = osp.join(clips, 'motion_clips_train_list_videos.txt')
    loader.dataset.data_prefix = dict(video=osp.join(clips, 'videos'))
    loader.dataset.pipeline[1]['clip_len'] = 8
    cfg.embedded_dataset = None
    train_two_iterations(cfg, tmp_path / 'work')
    Runner.from_cfg(cfg).train()
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
