"""SVFormer backbone + head: exact parameter counts, shapes, resets, errors, BN_T, attention."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmspike.backbones.svformer import SVFormer
from mmspike.heads.action import SVFormerHead
from mmspike.layers.temporal import TemporalBatchNorm1d, TemporalBatchNorm2d
from mmspike.neurons import BaseMultiStepNeuron
from mmspike.ops import naive_dot_attention
from mmspike.registry import MODELS

T, SIZE = 4, 64  # small clips for the tiny model: output [T, N, 256, 2, 2]


def n_params(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize('num_classes,expected', [(101, 13_801_612), (60, 13_759_587)])
def test_base_parameter_count_matches_the_paper_model(num_classes, expected):
    backbone = SVFormer(arch='base', num_frames=16, img_size=224)
    head = SVFormerHead(num_classes=num_classes, in_channels=1024, num_frames=16, feat_size=7)
    assert n_params(backbone, head) == expected
    # 38 PLIF layers in the backbone + 1 in the head (39 in the released model)
    neurons = [m for m in list(backbone.modules()) + list(head.modules())
               if isinstance(m, BaseMultiStepNeuron)]
    assert len(neurons) == 39
    attn = backbone.stages[2][0].attn
    assert (attn.num_heads, attn.head_dim, attn.scale) == (6, 64, 64 ** -0.5)
    assert backbone.stages[3][0].attn.num_heads == 8
    assert backbone.out_channels == 1024 and backbone.out_size == (7, 7)


def test_base_forward_shape_at_224():
    backbone, head = SVFormer().eval(), SVFormerHead(num_classes=101).eval()
    with torch.no_grad():  # about 2 s on one CPU core
        feats, = backbone(torch.randn(1, 3, 16, 224, 224))
        assert feats.shape == (16, 1, 1024, 7, 7)
        assert head(feats).shape == (1, 101)


def tiny(**kwargs):
    return SVFormer(arch='tiny', num_frames=T, img_size=SIZE, **kwargs)


def tiny_head(num_classes=5, **kwargs):
    return SVFormerHead(num_classes=num_classes, in_channels=256, num_frames=T, feat_size=2,
                        **kwargs)


def test_tiny_forward_shapes_and_local_global_order():
    torch.manual_seed(0)
    backbone, head = tiny(), tiny_head()
    local = {}
    backbone.local_path.register_forward_hook(lambda m, i, o: local.setdefault('out', o))
    feats, = backbone(torch.randn(2, 3, T, SIZE, SIZE))
    assert feats.shape == (T, 2, 256, 2, 2)   # [T, N, 2 * 128, H/32, W/32]
    torch.testing.assert_close(feats[:, :, :128], local['out'])  # [local, global]
    assert head(feats).shape == (2, 5)


def test_backward_reaches_the_stem_and_neurons():
    torch.manual_seed(0)
    backbone, head = tiny(), tiny_head()
    head(backbone(torch.randn(2, 3, T, SIZE, SIZE))).sum().backward()
    stem_grad = backbone.stem.conv.module.weight.grad
    assert stem_grad is not None and stem_grad.abs().sum() > 0
    assert backbone.stages[2][0].attn.q_neuron.w.grad is not None


def test_two_forwards_are_identical_in_eval():
    torch.manual_seed(0)
    backbone, head = tiny().eval(), tiny_head().eval()
    x = torch.randn(2, 3, T, SIZE, SIZE)
    out1 = head(backbone(x))
    out2 = head(backbone(x))  # neuron states reset at every forward (backbone and head)
    torch.testing.assert_close(out1, out2, rtol=0, atol=0)


def test_drop_path_trains_and_is_off_in_eval():
    torch.manual_seed(0)
    backbone = tiny(drop_path_rate=0.3)
    x = torch.randn(2, 3, T, SIZE, SIZE)
    backbone(x)[0].sum().backward()
    backbone.eval()
    torch.testing.assert_close(backbone(x)[0], backbone(x)[0], rtol=0, atol=0)


def test_registry_build_and_init_weights():
    from mmaction.registry import MODELS as ACTION_MODELS
    backbone = MODELS.build(dict(type='SVFormer', arch='tiny', num_frames=T, img_size=SIZE))
    head = ACTION_MODELS.build(dict(type='SVFormerHead', num_classes=3, in_channels=256,
                                    num_frames=T, feat_size=2))
    backbone.init_weights()
    head.init_weights()
    for m in list(backbone.modules()) + [head.fc_cls]:
        if isinstance(m, nn.Linear):
            assert m.bias.abs().max() == 0
            # truncated normal std 0.02 (cut at +-2 absolute, as timm's trunc_normal_ default)
            if m.weight.numel() >= 4096:
                assert 0.018 < m.weight.std() < 0.022


def test_custom_arch_dict():
    arch = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], num_heads=[0, 0, 3, 4],
                mlp_ratio=1)
    backbone = SVFormer(arch=arch, num_frames=2, img_size=(32, 64))
    assert backbone(torch.randn(1, 3, 2, 32, 64))[0].shape == (2, 1, 128, 1, 2)
    assert len(backbone.stages[2]) == 2 and backbone.stages[2][0].attn.num_heads == 3


@pytest.mark.parametrize('shape,match', [
    ((2, 3, T, SIZE), r'\(N, C, T, H, W\) input, got 4-D'),
    ((2, 3, T + 1, SIZE, SIZE), rf'num_frames={T} .*got T={T + 1}'),
    ((2, 3, T, SIZE, SIZE + 32), rf'img_size=\({SIZE}, {SIZE}\).*got \({SIZE}, {SIZE + 32}\)'),
    ((2, 1, T, SIZE, SIZE), 'expects 3 input channels, got 1'),
])
def test_backbone_input_errors_name_expected_and_actual(shape, match):
    with pytest.raises(ValueError, match=match):
        tiny()(torch.zeros(shape))


def test_construction_errors():
    with pytest.raises(ValueError, match="unknown arch 'huge'"):
        SVFormer(arch='huge')
    with pytest.raises(ValueError, match='multiple of 32'):
        SVFormer(arch='tiny', img_size=80)
    with pytest.raises(ValueError, match='width 40 is not divisible by num_heads 3'):
        SVFormer(arch=dict(embed_dims=[8, 16, 24, 40], depths=[1] * 4, num_heads=[0, 0, 3, 3]))


@pytest.mark.parametrize('shape', [
    (T + 1, 2, 256, 2, 2), (T, 2, 128, 2, 2), (T, 2, 256, 3, 3), (T, 2, 256, 2)])
def test_head_rejects_wrong_features(shape):
    with pytest.raises(ValueError, match=rf'T={T}, C=256, \(H, W\)=\(2, 2\), got shape'):
        tiny_head()(torch.zeros(shape))


def test_head_loss_with_hard_and_soft_labels_and_predict():
    torch.manual_seed(0)
    head = tiny_head(num_classes=3, topk=(1, 2))
    feats = torch.randn(T, 4, 256, 2, 2)
    hard = [SimpleNamespace(gt_label=torch.tensor([i % 3])) for i in range(4)]
    losses = head.loss(feats, hard)
    assert set(losses) == {'loss_cls', 'top1_acc', 'top2_acc'}
    assert losses['loss_cls'].requires_grad
    # MixUp/CutMix store mixed one-hot labels; one-hot soft labels give the same loss
    soft = [SimpleNamespace(gt_label=nn.functional.one_hot(torch.tensor(i % 3), 3).float())
            for i in range(4)]
    torch.testing.assert_close(head.loss(feats, soft)['loss_cls'], losses['loss_cls'])

    class Sample(SimpleNamespace):
        def set_pred_score(self, s):
            self.pred_score = s

        def set_pred_label(self, label):
            self.pred_label = label

    head.eval()
    out = head.predict(torch.randn(T, 6, 256, 2, 2), [Sample(), Sample()])  # 3 views each
    assert out[0].pred_score.shape == (3, )
    torch.testing.assert_close(out[0].pred_score.sum(), torch.tensor(1.0))


@pytest.mark.parametrize('cls,rest', [(TemporalBatchNorm2d, (3, 5)), (TemporalBatchNorm1d, (7, )),
                                      (TemporalBatchNorm1d, ())])
def test_temporal_batchnorm_keeps_separate_statistics_per_step(cls, rest):
    torch.manual_seed(0)
    steps, batch, channels = 3, 4, 6
    bn = cls(channels, steps)
    with torch.no_grad():
        bn.bn.weight.uniform_(0.5, 1.5)
        bn.bn.bias.uniform_(-1, 1)
    naive = []
    for t in range(steps):
        ref = (nn.BatchNorm2d if len(rest) == 2 else nn.BatchNorm1d)(channels)
        with torch.no_grad():  # parameter layout: index t * C + c
            ref.weight.copy_(bn.bn.weight.view(steps, channels)[t])
            ref.bias.copy_(bn.bn.bias.view(steps, channels)[t])
        naive.append(ref)
    # each step has its own scale and offset, so shared statistics would fail this check
    x = torch.randn(steps, batch, channels, *rest) * torch.arange(1, steps + 1).view(
        -1, *[1] * (2 + len(rest))) + torch.arange(steps).view(-1, *[1] * (2 + len(rest)))
    for mode in ('train', 'eval'):
        getattr(bn, mode)()
        for ref in naive:
            getattr(ref, mode)()
        expected = torch.stack([ref(x[t]) for t, ref in enumerate(naive)])
        torch.testing.assert_close(bn(x), expected, rtol=1e-5, atol=1e-5)
    running_mean = bn.bn.running_mean.view(steps, channels)
    for t, ref in enumerate(naive):
        torch.testing.assert_close(running_mean[t], ref.running_mean)
        torch.testing.assert_close(bn.bn.running_var.view(steps, channels)[t], ref.running_var)
    with pytest.raises(ValueError, match=r'built for T=3 time steps and C=6 channels, got T=2'):
        bn(x[:2])


def test_svformer_attention_is_the_shared_dot_attention(monkeypatch):
    """SVFormer's linear attention is mmspike.ops.dot_attention (one function per formula)."""
    import mmspike.backbones.svformer as svformer_module
    calls = []

    def spy(q, k, v, scale):
        calls.append((q.shape, scale))
        return naive_dot_attention(q, k, v, scale)

    monkeypatch.setattr(svformer_module, 'dot_attention', spy)
    backbone = tiny().eval()
    with torch.no_grad():
        backbone(torch.randn(1, 3, T, SIZE, SIZE))
    # stages 2 and 3 of 'tiny': 3 and 4 heads of width 32, scale 32 ** -0.5
    assert [c[0][2] for c in calls] == [3, 4]
    assert all(c[1] == pytest.approx(32 ** -0.5) for c in calls)
