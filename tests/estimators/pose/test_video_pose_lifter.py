"""VideoPoseLifter, SpikeTemporalRegressionHead and ClipDataPreprocessor (MMPose)."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmpose')

from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402

from helpers import calibrate_batch_norms  # noqa: E402
import mmspike.estimators.pose  # noqa: E402,F401
import mmspike.pose  # noqa: E402,F401
from mmspike.estimators.pose import (ClipDataPreprocessor,  # noqa: E402
                                     SpikeTemporalRegressionHead, VideoPoseLifter)

T, SIZE, J, N = 4, 32, 24, 2


def model_cfg(**head):
    return dict(
        type='VideoPoseLifter',
        backbone=dict(type='SpikeVideoFormer', arch='tiny', num_frames=T, out_indices=(3, )),
        head=dict(type='SpikeTemporalRegressionHead', in_channels=96, num_joints=J, **head),
        data_preprocessor=dict(type='ClipDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375]))


def build(cfg=None):
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg or model_cfg())
    model.init_weights()
    return model


def samples(n=N, steps=T, joints=J, seed=0, visible=None):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s = PoseDataSample()
        gt = InstanceData()
        gt.lifting_target = rng.normal(0, 0.3, (steps, joints, 3)).astype(np.float32)
        gt.lifting_target_visible = (np.ones((steps, joints), np.float32) if visible is None
                                     else visible[i])
        s.gt_instances = gt
        s.set_metainfo(dict(clip_len=steps))
        out.append(s)
    return out


def batch(n=N, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    clips = [torch.randint(0, 256, (3, T, SIZE, SIZE), generator=g, dtype=torch.uint8)
             for _ in range(n)]
    return dict(inputs=clips, data_samples=samples(n, seed=seed, **kwargs))


def test_registered_in_mmpose():
    assert MODELS.get('VideoPoseLifter') is VideoPoseLifter
    assert MODELS.get('SpikeTemporalRegressionHead') is SpikeTemporalRegressionHead
    assert MODELS.get('ClipDataPreprocessor') is ClipDataPreprocessor
    # MMPose's own TemporalRegressionHead is untouched
    assert MODELS.get('TemporalRegressionHead') is not SpikeTemporalRegressionHead


def test_preprocessor_stacks_and_normalises():
    pre = ClipDataPreprocessor(mean=[10., 20., 30.], std=[2., 4., 5.])
    clips = [torch.randint(0, 256, (3, T, 8, 8), dtype=torch.uint8) for _ in range(3)]
    out = pre(dict(inputs=clips, data_samples=None))
    assert out['inputs'].shape == (3, 3, T, 8, 8) and out['inputs'].dtype == torch.float32
    mean = torch.tensor([10., 20., 30.]).view(1, 3, 1, 1, 1)
    std = torch.tensor([2., 4., 5.]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(out['inputs'], (torch.stack(clips).float() - mean) / std)
    with pytest.raises(ValueError, match=r'clip 1 has shape \(3, 4, 8, 6\)'):
        pre(dict(inputs=[clips[0], clips[1][..., :6]]))
    with pytest.raises(ValueError, match=r'clip 0 must be \[3, T, H, W\].*\(4, 8, 8\)'):
        pre(dict(inputs=[clips[0][0]]))
    with pytest.raises(ValueError, match='both mean and std'):
        ClipDataPreprocessor(mean=[1., 2., 3.])
    with pytest.raises(ValueError, match='3 values'):
        ClipDataPreprocessor(mean=[1., 2.], std=[1., 2.])


def test_train_step_finite_losses_and_stem_gradients():
    torch.manual_seed(0)
    model = build()
    model.train()
    data = model.data_preprocessor(batch(), training=True)
    assert data['inputs'].shape == (N, 3, T, SIZE, SIZE)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_pose', 'loss_velocity', 'mpjpe'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert not losses['mpjpe'].requires_grad
    assert losses['mpjpe'] > 100  # random targets, std 0.3 m: hundreds of mm
    total = losses['loss_pose'] + losses['loss_velocity']
    total.backward()
    stem = [p.grad for p in model.backbone.stem.parameters() if p.requires_grad]
    assert stem and all(g is not None and torch.isfinite(g).all() for g in stem)
    assert any(g.abs().sum() > 0 for g in stem)
    assert model.head.fc.weight.grad.abs().sum() > 0


def test_train_step_with_optim_wrapper():
    from mmengine.optim import OptimWrapper
    torch.manual_seed(0)
    model = build()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log = model.train_step(batch(), wrapper)
    assert {'loss', 'loss_pose', 'loss_velocity', 'mpjpe'} <= set(log)
    assert all(torch.isfinite(v) for v in log.values())


def test_predict_gives_clip_keypoints():
    torch.manual_seed(0)
    model = build()
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch())
    assert len(results) == N
    for sample in results:
        kpts = sample.pred_instances.keypoints
        assert isinstance(kpts, np.ndarray) and kpts.shape == (T, J, 3)
        assert np.isfinite(kpts).all()
        assert sample.pred_instances.keypoint_scores.shape == (T, J)
        assert (sample.pred_instances.keypoint_scores == 1).all()
        assert 'lifting_target' in sample.gt_instances


def test_predict_matches_forward_and_metric():
    from mmspike.evaluation.pose import VideoPose3DMetric
    torch.manual_seed(0)
    model = build()
    model.eval()
    data = model.data_preprocessor(batch())
    with torch.no_grad():
        raw = model(data['inputs'], None, mode='tensor')
        results = model(**data, mode='predict')
    assert raw.shape == (N, T, J, 3)
    for n, sample in enumerate(results):
        np.testing.assert_allclose(sample.pred_instances.keypoints, raw[n].numpy(), rtol=1e-6)
    metric = VideoPose3DMetric()
    metric.process({}, [s.to_dict() for s in results])
    out = metric.compute_metrics(metric.results)
    assert np.isfinite(out['mpjpe'])


def test_output_keypoint_indices():
    cfg = model_cfg()
    cfg['test_cfg'] = dict(output_keypoint_indices=[0, 3, 5])
    model = build(cfg)
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch())
    assert results[0].pred_instances.keypoints.shape == (T, 3, 3)
    assert results[0].pred_instances.keypoint_scores.shape == (T, 3)


def reference_losses(pred, target, visible, kind, velocity_weight):
    """Loop-based reference of the head's losses."""
    pose_sum, pose_count, vel_sum, vel_count, dist_sum = 0.0, 0, 0.0, 0, 0.0
    n_, t_, j_ = pred.shape[:3]
    for n in range(n_):
        for t in range(t_):
            for j in range(j_):
                if visible[n, t, j] > 0:
                    d = pred[n, t, j] - target[n, t, j]
                    pose_sum += float((d.abs() if kind == 'L1' else d ** 2).sum())
                    pose_count += 3
                    dist_sum += float(d.norm())
                if t > 0 and visible[n, t, j] > 0 and visible[n, t - 1, j] > 0:
                    dv = (pred[n, t, j] - pred[n, t - 1, j]) - (target[n, t, j]
                                                              - target[n, t - 1, j])
                    vel_sum += float(dv.abs().sum())
                    vel_count += 3
    return (pose_sum / pose_count, velocity_weight * vel_sum / vel_count,
            1000 * dist_sum / (pose_count / 3))


@pytest.mark.parametrize('kind', ['L1', 'MSE'])
def test_loss_equals_reference_for_fixed_output(kind, monkeypatch):
    model = build(model_cfg(loss=dict(type=kind), velocity_weight=0.5))
    g = torch.Generator().manual_seed(1)
    fixed = torch.randn(N, T, J, 3, generator=g, dtype=torch.float64).float() * 0.2
    monkeypatch.setattr(model.head, 'forward', lambda feats: fixed)
    visible = (torch.rand(N, T, J, generator=g) > 0.3).float().numpy()
    data = model.data_preprocessor(batch(visible=visible))
    losses = model(**data, mode='loss')
    target = torch.stack([torch.from_numpy(s.gt_instances.lifting_target)
                          for s in data['data_samples']])
    pose, vel, mpjpe = reference_losses(fixed.double(), target.double(),
                                        torch.from_numpy(visible), kind, 0.5)
    assert losses['loss_pose'].item() == pytest.approx(pose, rel=1e-5)
    assert losses['loss_velocity'].item() == pytest.approx(vel, rel=1e-5)
    assert losses['mpjpe'].item() == pytest.approx(mpjpe, rel=1e-5)


def test_head_is_per_step():
    """Changing the features of one step changes only that step's output."""
    head = SpikeTemporalRegressionHead(in_channels=8, num_joints=5)
    head.init_weights()
    x = torch.randn(T, N, 8, 2, 2)
    y = x.clone()
    y[2] += 1
    a, b = head((x, )), head((y, ))
    assert a.shape == (N, T, 5, 3)
    changed = (a - b).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [False, False, True, False]


def test_wrong_joint_count_raises():
    model = build()
    data = model.data_preprocessor(batch())
    data['data_samples'] = samples(joints=17)
    with pytest.raises(ValueError, match=r'data sample 0 has lifting_target of shape '
                                         r'\(4, 17, 3\), expected \[T, J, 3\] = \[4, 24, 3\]'):
        model(**data, mode='loss')


def test_wrong_input_shape_raises():
    model = build()
    with pytest.raises(ValueError, match=r'expects inputs \(N, C, T, H, W\).*\(2, 3, 32, 32\)'):
        model(torch.zeros(2, 3, SIZE, SIZE), samples(), mode='loss')
    with pytest.raises(ValueError, match='T=4'):
        model(torch.zeros(2, 3, 6, SIZE, SIZE), samples(steps=6), mode='loss')
    head = SpikeTemporalRegressionHead(in_channels=96)
    with pytest.raises(ValueError, match=r'\[T, N, C=96, H, W\].*\(8, 96, 2, 2\)'):
        head((torch.zeros(8, 96, 2, 2), ))
    with pytest.raises(ValueError, match=r'C=96.*\(4, 2, 64, 2, 2\)'):
        head(torch.zeros(4, 2, 64, 2, 2))


def test_bad_configs_raise():
    with pytest.raises(ValueError, match='flip_test'):
        cfg = model_cfg()
        cfg['test_cfg'] = dict(flip_test=True)
        build(cfg)
    model = build()
    model.test_cfg['flip_test'] = True
    with pytest.raises(ValueError, match='flip_test'):
        model.test_step(batch())
    with pytest.raises(ValueError, match='loss must be'):
        SpikeTemporalRegressionHead(in_channels=8, loss=dict(type='SmoothL1'))
    with pytest.raises(ValueError, match='num_joints'):
        SpikeTemporalRegressionHead(in_channels=8, num_joints=0)


def test_runner_two_iterations_on_mmhpsd_fixture(tmp_path):
    """Two training iterations through mmengine's Runner on a tiny generated MMHPSD tree."""
    from mmengine.config import Config
    from helpers import train_pose_runner_two_iterations

    from mmspike.datasets.synthetic.pose_clips import write_dataset
    root = tmp_path / 'mmhpsd'
    write_dataset(root, subjects=(1, 3), sequences_per_subject=1, frames_per_sequence=12,
                  img_size=SIZE)
    cfg = Config(dict(
        default_scope='mmpose',
        custom_imports=dict(imports=['mmspike.pose', 'mmspike.estimators.pose'],
                            allow_failed_imports=False),
        model=model_cfg(),
        train_dataloader=dict(
            batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(type='MMHPSDClipDataset', data_root=str(root), subjects=[3],
                         clip_len=T, gap=1, stride=2,
                         pipeline=[dict(type='LoadClipFrames'),
                                   dict(type='PackClipPoseInputs')])),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        log_level='WARNING',
        work_dir=str(tmp_path / 'work')))
    train_pose_runner_two_iterations(cfg, tmp_path / 'work')


def test_head_feat_size_flattens_the_map_and_checks_its_size():
    head = SpikeTemporalRegressionHead(in_channels=8, num_joints=5, feat_size=(2, 3))
    assert head.fc.in_features == 8 * 2 * 3
    x = torch.randn(T, N, 8, 2, 3)
    out = head((x, ))
    expected = head.fc(x.flatten(2)).view(T, N, 5, 3).transpose(0, 1)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match=r'built for 2 x 3 maps \(feat_size\), got 3 x 2'):
        head((torch.randn(T, N, 8, 3, 2), ))
    with pytest.raises(ValueError, match='feat_size must be'):
        SpikeTemporalRegressionHead(in_channels=8, feat_size=(2, 0))


def test_head_takes_several_maps_flattened_and_concatenated():
    head = SpikeTemporalRegressionHead(in_channels=(4, 6), num_joints=5, feat_size=(4, None))
    assert head.fc.in_features == 4 * 4 * 4 + 6
    maps = (torch.randn(T, N, 8, 8, 8), torch.randn(T, N, 4, 4, 4), torch.randn(T, N, 6, 2, 2))
    out = head(maps)  # the last two maps: stride-8 4 x 4 flattened, 2 x 2 averaged
    features = torch.cat([maps[1].flatten(2), maps[2].mean(dim=(3, 4))], dim=2)
    torch.testing.assert_close(out, head.fc(features).view(T, N, 5, 3).transpose(0, 1))
    with pytest.raises(ValueError, match=r'takes the last 2 maps of the backbone '
                                         r'\(in_channels=\(4, 6\)\), got 1'):
        head((maps[2], ))
    with pytest.raises(ValueError, match=r'C=6, H, W\] maps .* got shape \(.*\) for map 1'):
        head((maps[1], maps[1]))
    with pytest.raises(ValueError, match=r'feat_size must be None or one entry .* per map, '
                                         r'got 4'):
        SpikeTemporalRegressionHead(in_channels=(4, 6), feat_size=4)
    with pytest.raises(ValueError, match='in_channels must be a positive integer or a non-empty'):
        SpikeTemporalRegressionHead(in_channels=(4, 0))


def test_online_frame_by_frame_joints_equal_the_whole_clip_forward():
    """Causal configuration: SpikeVideoFormer attention='causal', no neck, per-step head."""
    cfg = model_cfg(feat_size=2)
    cfg['backbone']['attention'] = 'causal'
    model = build(cfg)
    assert model.causal
    clips = batch(seed=3)['inputs']
    inputs = model.data_preprocessor(dict(inputs=clips))['inputs']
    calibrate_batch_norms(model, lambda: model.extract_feat(inputs))
    with torch.no_grad():
        whole = model.head.forward(model.extract_feat(inputs))              # [N, T, J, 3]
        predicted = model.predict(inputs, samples())
    frames = torch.stack(clips)                                                # [N, 3, T, H, W]
    with model.streaming():
        online = torch.stack([model.predict_frame(frames[:, :, t]) for t in range(T)], 1)
    assert online.shape == (N, T, J, 3)
    torch.testing.assert_close(online, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(online[0].numpy(), predicted[0].pred_instances.keypoints,
                               rtol=1e-5, atol=1e-6)
    assert whole.std() > 1e-3  # the joints depend on the input (neurons fire)
    # a second video starts from a clean state
    with model.streaming():
        again = model.predict_frame(frames[:, :, 0])
    torch.testing.assert_close(again, whole[:, 0], rtol=1e-5, atol=1e-6)


def test_online_use_refuses_non_causal_models_and_missing_context():
    model = build().eval()  # joint attention
    assert not model.causal
    with pytest.raises(ValueError, match='not causal'):
        with model.streaming():
            pass
    cfg = model_cfg()
    cfg['backbone']['attention'] = 'causal'
    causal = build(cfg).eval()
    with pytest.raises(RuntimeError, match='streaming\\(\\) context'):
        causal.predict_frame(torch.zeros(1, 3, SIZE, SIZE))
    with causal.streaming():
        with pytest.raises(ValueError, match=r'\[N, C, H, W\], got \(1, 3, 2, 32, 32\)'):
            causal.predict_frame(torch.zeros(1, 3, 2, SIZE, SIZE))
