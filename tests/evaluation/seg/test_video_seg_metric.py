"""VideoIoUMetric (mmspike.evaluation.seg): IoU equal to MMSeg's IoUMetric on the same frames,
mVC_n equal to video_consistency, one result per clip, ignored frames, omitted mVC with a
warning, MMSeg registry, a shared Evaluator with SpikeEnergyMetric, DDP."""
import gc
import logging

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

import mmspike  # noqa: E402,F401
from mmspike.evaluation.functional import (mean_video_consistency,  # noqa: E402
                                           video_consistency)
from mmspike.evaluation.seg import VideoIoUMetric  # noqa: E402

CLASSES = ('sky', 'road', 'car', 'person')
META = dict(classes=CLASSES)


def make_clips(lengths, size=(6, 7), seed=0, ignore_frames=()):
    """(pred, gt) int64 tensors [T, H, W]: a ground truth that mostly stays still with a moving
    object, a prediction with flicker; frames in ``ignore_frames`` (of every clip) unannotated
    (255); ~3% ignored pixels elsewhere."""
    rng = np.random.default_rng(seed)
    clips = []
    for num_frames in lengths:
        base = rng.integers(0, len(CLASSES), (1, *size))
        gt = np.repeat(base, num_frames, axis=0)
        for t in range(num_frames):
            gt[t, t % size[0], :3] = 3
        gt[rng.random(gt.shape) < 0.03] = 255
        for t in ignore_frames:
            if t < num_frames:
                gt[t] = 255
        pred = np.where(gt == 255, rng.integers(0, len(CLASSES), gt.shape), gt)
        flips = rng.random(gt.shape) < 0.1
        pred[flips] = rng.integers(0, len(CLASSES), flips.sum())
        clips.append((torch.from_numpy(pred), torch.from_numpy(gt)))
    return clips


def as_samples(clips):
    return [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt)) for pred, gt in clips]


def run_metric(metric, samples, batch=2):
    metric.dataset_meta = META
    for start in range(0, len(samples), batch):
        metric.process(None, samples[start:start + batch])
    return metric.evaluate(len(samples))


def per_frame_iou(clips, **kwargs):
    """MMSeg's IoUMetric with every frame of every clip a sample of its own."""
    from mmseg.evaluation.metrics import IoUMetric
    frames = [(pred[t], gt[t]) for pred, gt in clips for t in range(gt.shape[0])]
    return run_metric(IoUMetric(**kwargs), as_samples(frames), batch=5)


def expected_vc(clips, n, skip_unannotated=True):
    per_video = []
    for pred, gt in clips:
        annotated = (gt != 255).flatten(1).any(1).numpy() if skip_unannotated else None
        per_video.append(video_consistency(pred.numpy(), gt.numpy(), n, annotated=annotated))
    return per_video


class LogRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def warnings(self):
        """This metric's warnings (not mmengine's 'The prefix is not set ...')."""
        return [r.getMessage() for r in self.records
                if r.levelno == logging.WARNING and r.getMessage().startswith('VideoIoUMetric:')]


@pytest.fixture
def mm_log():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = LogRecords()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


# ---------------------------------------------------------------- registry
def test_built_from_mmseg_registry():
    from mmengine.registry import METRICS as ROOT_METRICS
    from mmengine.registry import DefaultScope
    from mmseg.registry import METRICS
    with DefaultScope.overwrite_default_scope('mmseg'):  # whatever scope an earlier test left
        metric = METRICS.build(dict(type='VideoIoUMetric'))
    assert type(metric) is VideoIoUMetric and metric.vc_lengths == (8, 16)
    assert metric.ignore_index == 255 and metric.metrics == ['mIoU']
    with DefaultScope.overwrite_default_scope('mmseg'):
        metric = ROOT_METRICS.build(dict(type='VideoIoUMetric', vc_lengths=[4], ignore_index=0))
    assert isinstance(metric, VideoIoUMetric) and metric.vc_lengths == (4, )
    assert metric.ignore_index == 0


# ---------------------------------------------------------------- values
@pytest.mark.parametrize('iou_metrics', [['mIoU'], ['mIoU', 'mDice', 'mFscore']])
def test_iou_equals_per_frame_iou_metric_and_vc_equals_function(iou_metrics):
    clips = make_clips([20, 9, 17, 12, 1], seed=1)
    metric = VideoIoUMetric(iou_metrics=iou_metrics)
    samples = as_samples(clips)
    samples[-1]['pred_sem_seg']['data'] = samples[-1]['pred_sem_seg']['data'][0]  # [H, W]
    samples[-1]['gt_sem_seg']['data'] = samples[-1]['gt_sem_seg']['data'][0]
    result = run_metric(metric, samples)
    reference = per_frame_iou(clips, iou_metrics=iou_metrics)
    assert set(result) == set(reference) | {'mVC_8', 'mVC_16'}
    for key, value in reference.items():
        assert result[key] == value, key
    for n in (8, 16):
        windows = expected_vc(clips, n)
        assert sum(w.size for w in windows) == (sum(max(len(c[1]) - n, 0) for c in clips))
        expected = round(100 * mean_video_consistency(windows), 2)
        assert result[f'mVC_{n}'] == pytest.approx(expected, abs=1e-9)
        assert 0 < result[f'mVC_{n}'] < 100
    # a window-weighted mean, not a mean of per-clip means
    per_clip = np.mean([w.mean() for w in expected_vc(clips, 8) if w.size])
    assert abs(result['mVC_8'] - 100 * per_clip) > 0.01


def test_one_result_per_clip():
    clips = make_clips([10, 3, 25], seed=2)
    metric = VideoIoUMetric(vc_lengths=(2, 8))
    metric.dataset_meta = META
    metric.process(None, as_samples(clips))
    assert len(metric.results) == 3
    first = metric.results[0]
    assert first['frames'] == 10 and set(first['vc']) == {2, 8}
    assert first['vc'][8][1] == 2 and metric.results[1]['vc'][8] == (0.0, 0)
    areas = first['areas']
    assert len(areas) == 4 and all(a.device.type == 'cpu' and a.shape == (4, ) for a in areas)
    # the areas of a clip are those of its frames summed
    from mmseg.evaluation.metrics import IoUMetric
    pred, gt = clips[0]
    frame_sum = [sum(IoUMetric.intersect_and_union(pred[t], gt[t], 4, 255)[k] for t in range(10))
                 for k in range(4)]
    for got, want in zip(areas, frame_sum):
        assert torch.equal(got, want)
    # evaluate keeps len(dataset) results: all three clips count
    result = metric.evaluate(3)
    assert result['mIoU'] == per_frame_iou(clips)['mIoU']
    assert metric.results == []


def test_ignored_frames_do_not_count(mm_log):
    # frames 3 and 4 of every clip unannotated (255): the prediction there is garbage
    clips = make_clips([14, 11, 20], seed=3, ignore_frames=(3, 4))
    result = run_metric(VideoIoUMetric(vc_lengths=(2, 4)), as_samples(clips))
    annotated_frames = [(p[[t for t in range(len(g)) if t not in (3, 4)]],
                         g[[t for t in range(len(g)) if t not in (3, 4)]]) for p, g in clips]
    reference = per_frame_iou(annotated_frames)
    assert {k: result[k] for k in reference} == reference
    # windows holding an unannotated frame are skipped
    for n in (2, 4):
        windows = expected_vc(clips, n)
        assert sum(w.size for w in windows) < sum(len(g) - n for _, g in clips)
        assert result[f'mVC_{n}'] == pytest.approx(
            round(100 * mean_video_consistency(windows), 2), abs=1e-9)
    # ignored pixels inside annotated frames are compared raw (the official script)
    clean = make_clips([14, 11, 20], seed=3)
    result = run_metric(VideoIoUMetric(vc_lengths=(2, )), as_samples(clean))
    windows = expected_vc(clean, 2, skip_unannotated=False)
    assert result['mVC_2'] == pytest.approx(round(100 * mean_video_consistency(windows), 2),
                                            abs=1e-9)
    assert not mm_log.warnings()


def test_mvc_omitted_with_warning_when_no_window(mm_log):
    # clips of 12 frames: mVC_8 has windows, mVC_16 none
    clips = make_clips([12, 12, 5], seed=4)
    result = run_metric(VideoIoUMetric(), as_samples(clips))
    assert 'mVC_8' in result and 'mVC_16' not in result and 'mIoU' in result
    warnings = mm_log.warnings()
    assert len(warnings) == 1
    assert 'mVC_16 not reported' in warnings[0] and 'mVC_8' not in warnings[0]
    assert 'clip lengths 5..12' in warnings[0]

    # Cityscapes-like sequences: one labelled frame (index 19) of 30 -> no window at all
    mm_log.records.clear()
    clips = make_clips([30, 30], seed=5, ignore_frames=[t for t in range(30) if t != 19])
    result = run_metric(VideoIoUMetric(vc_lengths=(2, 8, 16)), as_samples(clips))
    assert not any(k.startswith('mVC') for k in result)
    only_labelled = [(p[19:20], g[19:20]) for p, g in clips]
    assert result == per_frame_iou(only_labelled)
    warnings = mm_log.warnings()
    assert len(warnings) == 1 and 'mVC_2, mVC_8, mVC_16 not reported' in warnings[0]


def test_errors():
    (pred, gt), = make_clips([6], seed=6)
    metric = VideoIoUMetric()
    metric.dataset_meta = META
    with pytest.raises(ValueError, match=r"ground truth's \(6, 6, 7\).*shape \(5, 6, 7\)"):
        metric.process(None, as_samples([(pred[:5], gt)]))
    with pytest.raises(ValueError, match=r'\[T, H, W\].*shape \(1, 6, 6, 7\)'):
        metric.process(None, as_samples([(pred[None], gt)]))
    with pytest.raises(KeyError, match=r"\['gt_sem_seg'\]"):
        metric.process(None, [dict(pred_sem_seg=dict(data=pred))])
    with pytest.raises(KeyError, match=r"\['pred_sem_seg'\]\['data'\]"):
        metric.process(None, [dict(pred_sem_seg=dict(), gt_sem_seg=dict(data=gt))])
    assert metric.results == []
    with pytest.raises(NotImplementedError, match='format_only'):
        VideoIoUMetric(format_only=True)
    with pytest.raises(NotImplementedError, match='output_dir'):
        VideoIoUMetric(output_dir='out')
    for bad in ((8, 1), (2.5, ), (True, )):
        with pytest.raises(ValueError, match='vc_lengths must be integers >= 2'):
            VideoIoUMetric(vc_lengths=bad)
    assert VideoIoUMetric(vc_lengths=(8, 8, 4)).vc_lengths == (8, 4)


# ---------------------------------------------------------------- mmseg / mmengine integration
def _seg_data_samples(clips):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for pred, gt in clips:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=gt)
        sample.pred_sem_seg = PixelData(data=pred)
        samples.append(sample)
    return samples


def test_evaluator_with_spike_energy_metric():
    from mmengine.evaluator import Evaluator
    from mmengine.model import BaseModel
    from mmengine.registry import DefaultScope

    class ToySegModel(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.fc(inputs)

    clips = make_clips([10, 17, 9], seed=7)
    with DefaultScope.overwrite_default_scope('mmseg'):
        evaluator = Evaluator([dict(type='VideoIoUMetric'), dict(type='SpikeEnergyMetric')])
    evaluator.dataset_meta = META
    model = ToySegModel().eval()
    samples = _seg_data_samples(clips)
    # SegDataSample objects straight to process work too
    direct = VideoIoUMetric()
    direct.dataset_meta = META
    direct.process(None, samples)
    with torch.no_grad():
        for start in range(0, len(samples), 2):
            batch = samples[start:start + 2]
            model(torch.randn(len(batch), 6))
            evaluator.process(batch)  # converts SegDataSample -> dict, as in the test loop
    result = evaluator.evaluate(len(samples))
    assert 'energy/MACs_per_sample' in result
    assert result['energy/MACs_per_sample'] == pytest.approx(24.0)  # 6 x 4 per sample
    seg = {k: v for k, v in result.items() if not k.startswith('energy/')}
    assert seg == run_metric(VideoIoUMetric(), as_samples(clips))
    assert seg == direct.evaluate(len(samples))
    assert set(seg) == {'aAcc', 'mIoU', 'mAcc', 'mVC_8', 'mVC_16'}
    del evaluator
    gc.collect()


# ---------------------------------------------------------------- DDP
def _ddp_worker(rank, world_size, port, clips, out_file):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    metric = VideoIoUMetric(vc_lengths=(4, 8, 16))
    metric.dataset_meta = META
    for sample in as_samples(clips)[rank::world_size]:
        metric.process(None, [sample])
    result = metric.evaluate(len(clips))
    if rank == 0:
        torch.save(result, out_file)
    dist.destroy_process_group()


def test_single_process_equals_ddp(tmp_path):
    import socket

    import torch.multiprocessing as mp
    clips = make_clips([12, 30, 5, 18, 9], seed=8)  # uneven shards of different clip lengths
    single = run_metric(VideoIoUMetric(vc_lengths=(4, 8, 16)), as_samples(clips))
    assert {'mIoU', 'mVC_4', 'mVC_8', 'mVC_16'} <= set(single)
    assert single['mIoU'] == per_frame_iou(clips)['mIoU']
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / 'ddp_result.pt')
    mp.spawn(_ddp_worker, args=(2, port, clips, out_file), nprocs=2, join=True)
    assert torch.load(out_file, weights_only=False) == single
