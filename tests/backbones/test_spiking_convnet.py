"""SpikingConvNet and SpikingClsHead: shapes, resets, input errors, MMAction2 head interface."""
import pytest
import torch

from mmspike.backbones import SpikingConvNet
from mmspike.heads.action import SpikingClsHead


def test_backbone_output_layout_and_repeatability():
    torch.manual_seed(0)
    model = SpikingConvNet(arch='tiny').eval()
    x = torch.randn(2, 3, 5, 32, 32)
    out1, = model(x)
    assert out1.shape == (5, 2, 64, 8, 8)   # [T, N, C, H/4, W/4]
    out2, = model(x)                        # states are reset at every forward
    torch.testing.assert_close(out1, out2, rtol=0, atol=0)


def test_backbone_trains_through_the_surrogate():
    torch.manual_seed(0)
    model = SpikingConvNet(arch='tiny')
    head = SpikingClsHead(num_classes=4, in_channels=64)
    scores = head(model(torch.randn(2, 3, 4, 16, 16)))
    scores.sum().backward()
    stem_grad = model.stem.module[0].weight.grad
    assert stem_grad is not None and stem_grad.abs().sum() > 0


@pytest.mark.parametrize('shape,match', [
    ((2, 3, 16, 16), r'\(N, C, T, H, W\).*4-D'),
    ((2, 1, 4, 16, 16), 'expects 3 input channels, got 1'),
])
def test_backbone_input_errors(shape, match):
    with pytest.raises(ValueError, match=match):
        SpikingConvNet(arch='tiny')(torch.zeros(shape))


def test_unknown_arch_is_named():
    with pytest.raises(ValueError, match="unknown arch 'huge'"):
        SpikingConvNet(arch='huge')


def test_head_loss_and_predict_follow_mmaction():
    from mmaction.structures import ActionDataSample
    head = SpikingClsHead(num_classes=3, in_channels=8, topk=(1, 2))
    feats = torch.randn(4, 2, 8, 3, 3)
    samples = [ActionDataSample().set_gt_label(i % 3) for i in range(2)]
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'top1_acc', 'top2_acc'}
    assert losses['loss_cls'].requires_grad
    # test mode: 3 views per sample are averaged
    feats = torch.randn(4, 6, 8, 3, 3)
    out = head.predict(feats, [ActionDataSample().set_gt_label(0) for _ in range(2)])
    assert out[0].pred_score.shape == (3, )
    torch.testing.assert_close(out[0].pred_score.sum(), torch.tensor(1.0))


def test_head_loss_is_the_configured_loss_and_accuracies_are_counted():
    """loss_cls comes from the config (MMAction2's BaseHead builds it); top-k from the scores."""
    from mmaction.structures import ActionDataSample
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 8, 3, 3)
    samples = [ActionDataSample().set_gt_label(label) for label in (0, 2, 1)]
    plain = SpikingClsHead(num_classes=3, in_channels=8, topk=(1, 2))
    weighted = SpikingClsHead(num_classes=3, in_channels=8, topk=(1, 2),
                              loss_cls=dict(type='CrossEntropyLoss', loss_weight=0.25))
    weighted.load_state_dict(plain.state_dict())
    scores = plain(feats)
    expected = torch.nn.functional.cross_entropy(scores, torch.tensor([0, 2, 1]))
    losses = plain.loss(feats, samples)
    torch.testing.assert_close(losses['loss_cls'], expected)
    torch.testing.assert_close(weighted.loss(feats, samples)['loss_cls'], 0.25 * expected)
    ranks = scores.argsort(dim=1, descending=True)
    labels = torch.tensor([0, 2, 1])
    top1 = (ranks[:, 0] == labels).float().mean().item()
    top2 = (ranks[:, :2] == labels[:, None]).any(1).float().mean().item()
    assert losses['top1_acc'].item() == pytest.approx(top1)
    assert losses['top2_acc'].item() == pytest.approx(top2)
    # the head takes the backbone's tuple and uses its last map
    torch.testing.assert_close(plain((torch.zeros(2, 3, 4, 1, 1), feats)), scores)
