"""VideoEncoderDecoder, SpikeSegformerHead and the clip data preprocessor (MMSeg)."""
import pytest
import torch

pytest.importorskip('mmseg')

from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import mmspike.seg  # noqa: E402,F401
from mmspike.estimators.seg import SpikeSegformerHead, VideoEncoderDecoder  # noqa: E402
from mmspike.data_preprocessors import ClipDataPreprocessor
from mmspike.neurons import MultiStepILIF  # noqa: E402

WIDTHS = (16, 32, 64, 96)
K = 5


def build(test_cfg=None, num_frames=4, neuron_cfg=None, **pre):
    head = dict(type='SpikeSegformerHead', in_channels=WIDTHS, channels=16, num_classes=K,
                loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    backbone = dict(type='SpikeVideoFormer', arch='tiny', num_frames=num_frames,
                    out_indices=(0, 1, 2, 3))
    if neuron_cfg is not None:
        head['neuron_cfg'] = backbone['neuron_cfg'] = neuron_cfg
    cfg = dict(type='VideoEncoderDecoder', backbone=backbone, decode_head=head,
               data_preprocessor=dict(type='ClipDataPreprocessor', mean=[128.0] * 3,
                                      std=[64.0] * 3, **pre))
    if test_cfg is not None:
        cfg['test_cfg'] = test_cfg
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


def clip_sample(steps, height, width, seed=0, **meta):
    generator = torch.Generator().manual_seed(seed)
    sample = SegDataSample(metainfo=dict(ori_shape=(height, width), img_shape=(height, width),
                                         **meta))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, K, (steps, height, width),
                                                     generator=generator))
    return sample


def test_registered_in_mmseg_and_core_preprocessor():
    model = build()
    assert type(model) is VideoEncoderDecoder and type(model.decode_head) is SpikeSegformerHead
    assert type(model.data_preprocessor) is ClipDataPreprocessor
    assert MODELS.get('VideoEncoderDecoder') is VideoEncoderDecoder
    assert MODELS.get('ClipDataPreprocessor') is ClipDataPreprocessor  # found in the root


def test_head_output_is_clip_major_frames():
    torch.manual_seed(0)
    model = build()
    model.eval()
    inputs = torch.randn(2, 3, 4, 32, 48)
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        assert logits.shape == (2 * 4, K, 8, 12)  # stride 4
        # clip 1 alone gives rows 4..7 of the batch (row n * T + t)
        alone = model(inputs[1:], mode='tensor')
    assert torch.allclose(logits[4:], alone, atol=1e-5)


def test_loss_runs_per_frame_and_ignores_unannotated_frames():
    torch.manual_seed(0)
    model = build()
    sample = clip_sample(4, 32, 32)
    sample.gt_sem_seg.data[:3] = 255                  # only the last frame is annotated
    losses = model.loss(torch.randn(1, 3, 4, 32, 32), [sample])
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    assert torch.isfinite(losses['decode.loss_ce'])
    frames = model.frame_samples([sample], 4)
    assert len(frames) == 4 and [f.frame_index for f in frames] == [0, 1, 2, 3]
    assert all(tuple(f.gt_sem_seg.data.shape) == (1, 32, 32) for f in frames)
    assert torch.equal(frames[3].gt_sem_seg.data[0], sample.gt_sem_seg.data[3])


def test_predict_packs_one_sample_per_clip_at_the_original_size():
    torch.manual_seed(0)
    model = build(pad_size_divisor=16)
    samples = [clip_sample(4, 20, 28, seed=i) for i in range(2)]
    clips = [torch.randint(0, 256, (3, 4, 20, 28), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=clips, data_samples=samples))
    assert data['inputs'].shape == (2, 3, 4, 32, 32)
    assert data['data_samples'][0].padding_size == [0, 4, 0, 12]
    assert tuple(data['data_samples'][0].gt_sem_seg.data.shape) == (4, 32, 32)
    model.eval()
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
        logits = model.clip_logits(data['inputs'])
    assert len(out) == 2
    pred = out[1].pred_sem_seg.data
    assert tuple(pred.shape) == (4, 20, 28) and 'seg_logits' not in out[1]
    # the same as MMSeg's per-image post-processing of each frame: resize to the padded input,
    # crop the padding, resize to ori_shape, argmax
    frame = torch.nn.functional.interpolate(logits[1, 2:3], size=(32, 32), mode='bilinear')
    expected = frame[:, :, :20, :28].argmax(1)[0]
    assert torch.equal(pred[2], expected)


def test_flipped_clip_prediction_is_flipped_back():
    torch.manual_seed(0)
    model = build()
    model.eval()
    inputs = torch.randn(1, 3, 4, 32, 32)
    sample = clip_sample(4, 32, 32, flip=True, flip_direction='horizontal')
    with torch.no_grad():
        flipped = model.predict(inputs, [sample])[0].pred_sem_seg.data
        plain = model.predict(inputs, [clip_sample(4, 32, 32)])[0].pred_sem_seg.data
    assert torch.equal(flipped, plain.flip(-1))


def test_temporal_windows_average_the_logits_of_every_window():
    torch.manual_seed(0)
    model = build(test_cfg=dict(mode='whole', clip_len=4, clip_stride=2))
    model.eval()
    inputs = torch.randn(1, 3, 7, 32, 32)            # windows start at 0, 2 and 3 (the last)
    with torch.no_grad():
        got = model.clip_logits(inputs)
        windows = {}
        for start in (0, 2, 3):
            mmspike.neurons.reset_neurons(model)
            windows[start] = model(inputs[:, :, start:start + 4], mode='tensor')
    assert got.shape == (1, 7) + windows[0].shape[1:]
    sums = torch.zeros_like(got[0])
    counts = torch.zeros(7)
    for start, logits in windows.items():
        sums[start:start + 4] += logits
        counts[start:start + 4] += 1
    assert counts.tolist() == [1, 1, 2, 3, 2, 2, 1]
    assert torch.allclose(got[0], sums / counts.view(7, 1, 1, 1), atol=1e-5)


def test_integer_spike_head():
    model = build(neuron_cfg=dict(type='ILIF', levels=4))
    neurons = [m for m in model.decode_head.modules() if isinstance(m, MultiStepILIF)]
    assert len(neurons) == 6 and all(m.levels == 4 for m in neurons)


def test_errors_name_the_problem():
    model = build()
    with pytest.raises(ValueError, match=r'expects clips \(N, C, T, H, W\).*\(2, 3, 32, 32\)'):
        model(torch.randn(2, 3, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match=r'gt_sem_seg of shape \(3, 32, 32\), expected '
                                         r'\[T=4, H, W\]'):
        model.loss(torch.randn(1, 3, 4, 32, 32), [clip_sample(3, 32, 32)])
    model.eval()
    with pytest.raises(ValueError, match='a clip of 3 frames is shorter than the inference '
                                         'window of 4 frames'):
        model.predict(torch.randn(1, 3, 3, 32, 32), [clip_sample(3, 32, 32)])
    with pytest.raises(ValueError, match=r"unknown test_cfg keys \['crop_size'\]"):
        build(test_cfg=dict(mode='whole', crop_size=(8, 8)))
    with pytest.raises(ValueError, match="mode='whole' only"):
        build(test_cfg=dict(mode='slide'))
    head = model.decode_head
    with pytest.raises(ValueError, match=r'map 0 as \[T, N, C=16, H, W\]'):
        head([torch.randn(2, 16, 8, 8)] * 4)
    with pytest.raises(ValueError, match=r'needs at least 4 maps, got 2'):
        head([torch.randn(2, 1, 16, 8, 8)] * 2)
    with pytest.raises(ValueError, match='same length'):
        SpikeSegformerHead(in_channels=(16, 32), channels=8, num_classes=3, in_index=(0, ))
    with DefaultScope.overwrite_default_scope('mmseg'), \
            pytest.raises(ValueError, match="always uses input_transform='multiple_select'"):
        SpikeSegformerHead(in_channels=(16, ), channels=8, num_classes=3, in_index=(0, ),
                           input_transform='resize_concat')


def test_preprocessor_without_padding_refuses_clips_of_different_sizes():
    pre = ClipDataPreprocessor()
    with pytest.raises(ValueError, match='no padding'):
        pre(dict(inputs=[torch.zeros(3, 2, 8, 8), torch.zeros(3, 2, 8, 16)]))
    with pytest.raises(ValueError, match='same T'):
        ClipDataPreprocessor(pad_size_divisor=8)(
            dict(inputs=[torch.zeros(3, 2, 8, 8), torch.zeros(3, 3, 8, 8)]))
    padded = ClipDataPreprocessor(pad_size_divisor=8, pad_value=-1.0)(
        dict(inputs=[torch.zeros(3, 2, 8, 8), torch.zeros(3, 2, 5, 16)]))['inputs']
    assert padded.shape == (2, 3, 2, 8, 16)
    assert float(padded[0, :, :, :, 8:].max()) == -1.0 and float(padded[1, :, :, 5:].min()) == -1
    with pytest.raises(ValueError, match='pad_size_divisor must be a positive int'):
        ClipDataPreprocessor(pad_size_divisor=0)


def test_head_without_output_neuron_feeds_the_fused_map_to_the_classifier():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):  # its loss comes from MMSeg's registry
        head = SpikeSegformerHead(in_channels=(4, 8), channels=6, num_classes=3,
                                  in_index=(0, 1), output_neuron=False)
    maps = [torch.randn(2, 1, 4, 8, 8), torch.randn(2, 1, 8, 4, 4)]
    seen = []
    head.conv_seg.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():  # training mode: BatchNorm with the batch's statistics
        logits = head([m * 4 for m in maps])
    assert logits.shape == (2, 3, 8, 8)
    assert isinstance(head.output_neuron, torch.nn.Identity)
    # real values (BN output), not spikes
    assert not torch.all((seen[0] == 0) | (seen[0] == 1))
