"""VideoPose3DMetric (mmspike.evaluation.pose): values against NumPy formulas, frame weighting,
baseline keys, errors, MMPose registry scope, a shared Evaluator with SpikeEnergyMetric, DDP."""
import gc
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip('mmpose')

import mmspike  # noqa: E402,F401
from mmspike.evaluation.pose import VideoPose3DMetric  # noqa: E402

MAIN_KEYS = {'pose/mpjpe', 'pose/pa_mpjpe', 'pose/pel_mpjpe'}
BASELINE_KEYS = {'pose/baseline_mpjpe', 'pose/baseline_pa_mpjpe', 'pose/baseline_pel_mpjpe'}


# ---------------------------------------------------------------- independent reference formulas
def ref_joint_errors(pred, gt):
    """[T, J] Euclidean errors, written out coordinate by coordinate."""
    return np.sqrt(((pred[..., 0] - gt[..., 0]) ** 2 + (pred[..., 1] - gt[..., 1]) ** 2
                    + (pred[..., 2] - gt[..., 2]) ** 2))


def ref_pel_errors(pred, gt, root):
    root = list(root)
    return ref_joint_errors(pred - pred[:, root].mean(1, keepdims=True),
                            gt - gt[:, root].mean(1, keepdims=True))


def ref_pa_errors(pred, gt):
    """Per-frame loop: orthogonal Procrustes via the SVD of the cross-covariance Y^T X,
    rotation with det +1, optimal scale, then per-joint errors."""
    out = np.empty(pred.shape[:2])
    for t in range(pred.shape[0]):
        x = pred[t] - pred[t].mean(0)
        y = gt[t] - gt[t].mean(0)
        u, s, vt = np.linalg.svd(y.T @ x)  # maximise tr(R^T Y^T X) over rotations R
        sign = np.sign(np.linalg.det(u @ vt))
        d = np.diag([1.0, 1.0, sign])
        rot = u @ d @ vt                     # R so that x @ R.T ~ y
        norm = (x ** 2).sum()  # a degenerate (all-equal) prediction: scale 0, the centroid
        scale = np.trace(np.diag(s) @ d) / norm if norm > 0 else 0.0
        aligned = scale * x @ rot.T + gt[t].mean(0)
        out[t] = ref_joint_errors(aligned, gt[t])
    return out


def ref_accel_errors(pred, gt):
    rows = []
    for t in range(1, pred.shape[0] - 1):
        a_p = pred[t + 1] - 2 * pred[t] + pred[t - 1]
        a_g = gt[t + 1] - 2 * gt[t] + gt[t - 1]
        rows.append(ref_joint_errors(a_p[None], a_g[None])[0])
    return np.stack(rows)


def reference(clips, root=(1, 2), baseline=None, scale=1000.0):
    """Means over all frames of all clips (clips' frames concatenated)."""
    cat = {
        'pose/mpjpe': np.concatenate([ref_joint_errors(p, g) for p, g in clips]),
        'pose/pa_mpjpe': np.concatenate([ref_pa_errors(p, g) for p, g in clips]),
        'pose/pel_mpjpe': np.concatenate([ref_pel_errors(p, g, root) for p, g in clips]),
    }
    accel = [ref_accel_errors(p, g) for p, g in clips if p.shape[0] >= 3]
    if accel:
        cat['pose/accel'] = np.concatenate(accel)
    if baseline is not None:
        const = [(np.broadcast_to(baseline, g.shape).copy(), g) for _, g in clips]
        cat['pose/baseline_mpjpe'] = np.concatenate([ref_joint_errors(p, g) for p, g in const])
        cat['pose/baseline_pa_mpjpe'] = np.concatenate([ref_pa_errors(p, g) for p, g in const])
        cat['pose/baseline_pel_mpjpe'] = np.concatenate(
            [ref_pel_errors(p, g, root) for p, g in const])
    return {k: scale * v.mean() for k, v in cat.items()}


def make_clips(lengths, joints=24, seed=0):
    rng = np.random.default_rng(seed)
    clips = []
    for t in lengths:
        gt = rng.normal(scale=0.3, size=(t, joints, 3))
        pred = gt + rng.normal(scale=0.05, size=(t, joints, 3))
        clips.append((pred, gt))
    return clips


def as_samples(clips, kind='numpy', pred_4d=False):
    samples = []
    for pred, gt in clips:
        if kind == 'tensor':
            pred, gt = torch.from_numpy(pred).float(), torch.from_numpy(gt).float()
        if pred_4d:
            pred = pred[None]
        samples.append(dict(pred_instances=dict(keypoints=pred),
                            gt_instances=dict(lifting_target=gt)))
    return samples


def run_metric(metric, samples, batch=2):
    for start in range(0, len(samples), batch):
        metric.process(None, samples[start:start + batch])
    return metric.evaluate(len(samples))


# ---------------------------------------------------------------- values
@pytest.mark.parametrize('kind,pred_4d', [('numpy', False), ('numpy', True), ('tensor', False)])
def test_values_match_numpy_formulas(kind, pred_4d):
    clips = make_clips([5, 8, 3])
    metric = VideoPose3DMetric()
    result = run_metric(metric, as_samples(clips, kind, pred_4d))
    expected = reference(clips)
    assert set(result) == MAIN_KEYS | {'pose/accel'}
    rel = 1e-9 if kind == 'numpy' else 1e-5  # float32 tensors
    assert result == pytest.approx(expected, rel=rel)
    # the reference formulas agree with the known answers: a similarity transform of the target
    # has PA-MPJPE 0 and a per-frame translation has PEL-MPJPE 0
    _, gt = clips[0]
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                    [0, 0, 1]])
    similar = 1.3 * gt @ rot.T + np.array([0.1, -0.2, 0.3])
    assert ref_pa_errors(similar, gt).max() < 1e-10
    assert ref_pel_errors(gt + np.arange(gt.shape[0])[:, None, None], gt, (1, 2)).max() < 1e-10
    assert ref_joint_errors(similar, gt).mean() > 0.1


def test_unit_scale_and_root_joints():
    clips = make_clips([4, 6], joints=17, seed=3)
    result = run_metric(VideoPose3DMetric(unit_scale=1.0, root_joints=(0,)), as_samples(clips))
    assert result == pytest.approx(reference(clips, root=(0,), scale=1.0), rel=1e-9)


def test_frames_weighted_equally_across_clip_lengths():
    # a long accurate clip and a short bad one: a mean of per-clip means would differ a lot
    rng = np.random.default_rng(1)
    gt_long, gt_short = rng.normal(size=(40, 24, 3)), rng.normal(size=(4, 24, 3))
    clips = [(gt_long + 0.001, gt_long), (gt_short + 0.1, gt_short)]
    result = run_metric(VideoPose3DMetric(), as_samples(clips), batch=1)
    per_frame = reference(clips)
    per_clip = {k: np.mean([reference([c])[k] for c in clips]) for k in per_frame}
    assert result == pytest.approx(per_frame, rel=1e-9)
    # offset (d, d, d): every joint error is sqrt(3) d
    assert result['pose/mpjpe'] == pytest.approx(
        1000 * np.sqrt(3) * (40 * 0.001 + 4 * 0.1) / 44, rel=1e-9)
    assert abs(result['pose/mpjpe'] - per_clip['pose/mpjpe']) > 0.5 * result['pose/mpjpe']


def test_accel_omitted_with_one_warning_when_clips_too_short():
    clips = make_clips([2, 1, 2])
    metric = VideoPose3DMetric()
    for sample in as_samples(clips):
        metric.process(None, [sample])
    with pytest.warns(UserWarning, match='fewer than 3 frames'):
        result = metric.evaluate(3)
    assert set(result) == MAIN_KEYS
    assert result == pytest.approx(reference(clips), rel=1e-9)
    for sample in as_samples(clips):
        metric.process(None, [sample])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert set(metric.evaluate(3)) == MAIN_KEYS  # warned once per metric

    # mixed lengths: accel over the clips that have 3 frames (frames weighted equally)
    clips = make_clips([2, 6, 9], seed=5)
    with pytest.warns(UserWarning, match='accel leaves out'):
        result = run_metric(VideoPose3DMetric(), as_samples(clips))
    assert result == pytest.approx(reference(clips), rel=1e-9)


# ---------------------------------------------------------------- baseline
def test_baseline_keys(tmp_path):
    clips = make_clips([5, 7])
    mean_pose = np.random.default_rng(9).normal(scale=0.3, size=(24, 3))
    expected = reference(clips, baseline=mean_pose)

    # none available: no baseline keys, no error
    metric = VideoPose3DMetric()
    metric.dataset_meta = dict(dataset_name='toy')
    assert set(run_metric(metric, as_samples(clips))) == MAIN_KEYS | {'pose/accel'}

    # array argument, nested list, .npy path, dataset meta
    path = tmp_path / 'mean_pose.npy'
    np.save(path, mean_pose)
    for source in (mean_pose, mean_pose.tolist(), str(path)):
        result = run_metric(VideoPose3DMetric(baseline_pose=source), as_samples(clips))
        assert set(result) == MAIN_KEYS | BASELINE_KEYS | {'pose/accel'}
        assert result == pytest.approx(expected, rel=1e-9)
    metric = VideoPose3DMetric()
    metric.dataset_meta = dict(mean_pose=mean_pose)
    assert run_metric(metric, as_samples(clips)) == pytest.approx(expected, rel=1e-9)

    # the argument wins over the dataset's
    metric = VideoPose3DMetric(baseline_pose=np.zeros((24, 3)))
    metric.dataset_meta = dict(mean_pose=mean_pose)
    result = run_metric(metric, as_samples(clips))
    assert result['pose/baseline_mpjpe'] == pytest.approx(
        reference(clips, baseline=np.zeros((24, 3)))['pose/baseline_mpjpe'], rel=1e-9)


# ---------------------------------------------------------------- errors
def test_error_messages():
    (pred, gt), = make_clips([5])
    metric = VideoPose3DMetric()
    with pytest.raises(ValueError,
                       match=r'17 joints but target has 24.*\(5, 24, 3\).*\(5, 17, 3\)'):
        metric.process(None, as_samples([(pred[:, :17], gt)]))
    with pytest.raises(ValueError, match=r'4 frames but target has 5.*\(5, 24, 3\).*\(4, 24, 3\)'):
        metric.process(None, as_samples([(pred[:4], gt)]))
    with pytest.raises(ValueError, match=r'\[T, J, 3\].*\(5, 24, 2\)'):
        metric.process(None, as_samples([(pred[..., :2], gt)]))
    with pytest.raises(KeyError, match=r"\['pred_instances'\]\['keypoints'\]"):
        metric.process(None, [dict(pred_instances=dict(scores=1), gt_instances=dict())])
    with pytest.raises(KeyError, match=r"\['gt_instances'\]"):
        metric.process(None, [dict(pred_instances=dict(keypoints=pred))])
    with pytest.raises(KeyError, match=r"\['gt_instances'\]\['lifting_target'\]"):
        metric.process(None, [dict(pred_instances=dict(keypoints=pred),
                                   gt_instances=dict(keypoints=gt))])
    with pytest.raises(ValueError, match=r'baseline pose has 17 joints.*\(24, 3\).*\(17, 3\)'):
        VideoPose3DMetric(baseline_pose=np.zeros((17, 3))).process(None, as_samples([(pred, gt)]))
    with pytest.raises(ValueError, match=r'baseline pose must have shape \[J, 3\]'):
        VideoPose3DMetric(baseline_pose=np.zeros((24, 2)))
    assert metric.results == []


# ---------------------------------------------------------------- mmpose integration
def _pose_data_samples(clips):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    samples = []
    for pred, gt in clips:
        sample = PoseDataSample()
        sample.gt_instances = InstanceData(lifting_target=gt)
        sample.pred_instances = InstanceData(keypoints=pred[None])  # [1, T, J, 3]
        samples.append(sample)
    return samples


def test_built_from_mmpose_registry_and_accepts_pose_data_samples():
    from mmengine.registry import METRICS as ROOT_METRICS
    from mmengine.registry import DefaultScope
    from mmpose.registry import METRICS
    assert METRICS.get('VideoPose3DMetric') is VideoPose3DMetric
    with DefaultScope.overwrite_default_scope('mmpose'):
        metric = ROOT_METRICS.build(dict(type='VideoPose3DMetric', root_joints=(0,)))
    assert isinstance(metric, VideoPose3DMetric) and metric.root_joints == (0,)
    clips = make_clips([4, 6], joints=17, seed=2)
    # PoseDataSample objects given straight to process (not through the Evaluator's to_dict)
    result = run_metric(metric, _pose_data_samples(clips))
    assert result == pytest.approx(reference(clips, root=(0,)), rel=1e-9)


def test_evaluator_with_spike_energy_metric():
    from mmengine.evaluator import Evaluator
    from mmengine.model import BaseModel
    from mmengine.registry import DefaultScope

    class ToyPoseModel(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.fc(inputs)

    clips = make_clips([5, 3, 6])
    with DefaultScope.overwrite_default_scope('mmpose'):
        evaluator = Evaluator([dict(type='VideoPose3DMetric'), dict(type='SpikeEnergyMetric')])
    evaluator.dataset_meta = dict(mean_pose=np.zeros((24, 3)))
    model = ToyPoseModel().eval()
    samples = _pose_data_samples(clips)
    with torch.no_grad():
        for start in range(0, len(samples), 2):
            batch = samples[start:start + 2]
            model(torch.randn(len(batch), 6))
            evaluator.process(batch)  # converts PoseDataSample -> dict, as in the test loop
    result = evaluator.evaluate(len(samples))
    energy_keys = {k for k in result if k.startswith('energy/')}
    pose_keys = {k for k in result if k.startswith('pose/')}
    assert pose_keys == MAIN_KEYS | BASELINE_KEYS | {'pose/accel'}
    assert 'energy/MACs_per_sample' in energy_keys
    assert result['energy/MACs_per_sample'] == pytest.approx(24.0)  # 6 x 4 per sample
    assert {k: result[k] for k in pose_keys} == pytest.approx(
        reference(clips, baseline=np.zeros((24, 3))), rel=1e-9)
    del evaluator
    gc.collect()


# ---------------------------------------------------------------- DDP
DDP_BASELINE = np.random.default_rng(11).normal(scale=0.3, size=(24, 3))


def _ddp_worker(rank, world_size, port, clips, out_file):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    metric = VideoPose3DMetric(baseline_pose=DDP_BASELINE)
    shard = as_samples(clips)[rank::world_size]
    for sample in shard:
        metric.process(None, [sample])
    result = metric.evaluate(len(clips))
    if rank == 0:
        torch.save(result, out_file)
    dist.destroy_process_group()


def test_single_process_equals_ddp(tmp_path):
    import socket

    import torch.multiprocessing as mp
    clips = make_clips([3, 9, 5, 12, 4], seed=7)  # uneven shards of different clip lengths
    baseline = DDP_BASELINE
    single = run_metric(VideoPose3DMetric(baseline_pose=baseline), as_samples(clips))
    assert set(single) == MAIN_KEYS | BASELINE_KEYS | {'pose/accel'}
    assert single == pytest.approx(reference(clips, baseline=baseline), rel=1e-9)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / 'ddp_result.pt')
    mp.spawn(_ddp_worker, args=(2, port, clips, out_file), nprocs=2, join=True)
    assert torch.load(out_file, weights_only=False) == pytest.approx(single, rel=1e-12)
