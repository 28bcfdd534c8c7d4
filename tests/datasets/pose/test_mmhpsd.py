"""MMHPSDClipDataset, LoadClipFrames and PackClipPoseInputs on a tiny generated MMHPSD tree."""
import os
import os.path as osp
import shutil
import warnings

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmpose')

from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmpose.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402

from mmspike.datasets.pose import (CropClipToBox, LoadClipFrames,  # noqa: E402
                                   MMHPSDClipDataset, PackClipPoseInputs)
from mmspike.datasets.synthetic.pose_clips import write_dataset  # noqa: E402

FRAMES = 12
SIZE = 32
TEST_ACTION = 'subject01_group1_time1'
TRAIN_ACTION = 'subject03_group1_time1'


@pytest.fixture(scope='module')
def mmhpsd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('mmhpsd') / 'root'
    write_dataset(root, subjects=(1, 3), sequences_per_subject=1,
                  frames_per_sequence=FRAMES, img_size=SIZE)
    return str(root)


@pytest.fixture
def copy_root(mmhpsd_root, tmp_path):
    """A private copy of the fixture to damage."""
    target = str(tmp_path / 'copy')
    shutil.copytree(mmhpsd_root, target)
    return target


def pose_file(root, action, idx):
    return osp.join(root, 'mmhpsd_events', action, 'poses', f'pose_{idx:04d}.npz')


def frame_file(root, action, idx):
    return osp.join(root, 'mmhpsd_grayscale_img', action, 'imgs', f'fullpic{idx:04d}.jpg')


def read_joints(root, action, idx):
    with np.load(pose_file(root, action, idx)) as pose:
        return np.array(pose['joints3d'], dtype=np.float64)


def remove_frames(root, action, indices):
    for idx in indices:
        os.remove(pose_file(root, action, idx))
        os.remove(frame_file(root, action, idx))


# ---------------------------------------------------------------------------------------------
# Splits, clips and targets

def test_split_by_subject(mmhpsd_root):
    train = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=2, gap=1)
    test = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=2, gap=1)
    both = MMHPSDClipDataset(mmhpsd_root, subjects=[3, 1], clip_len=2, gap=1)
    assert {train[i]['action'] for i in range(len(train))} == {TRAIN_ACTION}
    assert {test[i]['subject'] for i in range(len(test))} == {1}
    assert {both[i]['subject'] for i in range(len(both))} == {1, 3}
    assert train.metainfo['subjects'] == [3]
    assert test.metainfo['subjects'] == [1]
    assert len(both) == len(train) + len(test)


@pytest.mark.parametrize('clip_len, gap, stride, expected', [
    # span = (clip_len - 1) * gap + 1; starts range(0, 12 - span + 1, stride)
    (3, 2, None, [[0, 2, 4], [6, 8, 10]]),                  # span 5, stride 6: starts 0, 6
    (3, 2, 4, [[0, 2, 4], [4, 6, 8]]),                      # starts 0, 4 (8 + 4 > 11)
    (4, 3, None, [[0, 3, 6, 9]]),                           # span 10, one start
    (2, 1, 5, [[0, 1], [5, 6], [10, 11]]),                  # starts 0, 5, 10
    (12, 1, None, [list(range(12))]),                       # the whole sequence
    (2, 2, 1, [[s, s + 2] for s in range(10)]),             # span 3, starts 0..9
])
def test_clip_frame_ids(mmhpsd_root, clip_len, gap, stride, expected):
    ds = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=clip_len, gap=gap,
                           stride=stride)
    assert [ds[i]['frame_ids'] for i in range(len(ds))] == expected
    assert ds.stride == (clip_len * gap if stride is None else stride)
    for i, ids in enumerate(expected):
        info = ds[i]
        assert info['img_paths'] == [frame_file(mmhpsd_root, TEST_ACTION, f) for f in ids]
        assert all(osp.isfile(p) for p in info['img_paths'])
        assert info['clip_len'] == clip_len and info['gap'] == gap


def test_targets_match_pose_files(mmhpsd_root):
    ds = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=3, gap=2, stride=3)
    assert len(ds) == 3  # span 5: starts 0, 3, 6
    for i in range(len(ds)):
        info = ds[i]
        joints = np.stack([read_joints(mmhpsd_root, TRAIN_ACTION, f)
                           for f in info['frame_ids']])
        pelvis = (joints[:, 1] + joints[:, 2]) / 2
        for key, shape in (('joints3d', (3, 24, 3)), ('lifting_target', (3, 24, 3)),
                           ('lifting_target_root', (3, 1, 3)),
                           ('lifting_target_visible', (3, 24))):
            assert info[key].shape == shape and info[key].dtype == np.float32, key
        np.testing.assert_allclose(info['joints3d'], joints, atol=1e-6)
        np.testing.assert_allclose(info['lifting_target'], joints - pelvis[:, None], atol=1e-5)
        np.testing.assert_allclose(info['lifting_target_root'][:, 0], pelvis, atol=1e-5)
        np.testing.assert_array_equal(info['lifting_target_visible'], 1)


def test_other_root_joints(mmhpsd_root):
    ds = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=2, gap=1, root_joints=(0,))
    info = ds[0]
    joints = np.stack([read_joints(mmhpsd_root, TEST_ACTION, f) for f in info['frame_ids']])
    np.testing.assert_allclose(info['lifting_target'], joints - joints[:, :1], atol=1e-5)
    np.testing.assert_allclose(info['lifting_target'][:, 0], 0, atol=1e-7)


def test_mean_pose_over_train_frames(mmhpsd_root):
    joints = np.stack([read_joints(mmhpsd_root, TRAIN_ACTION, f) for f in range(FRAMES)])
    expected = (joints - (joints[:, 1:2] + joints[:, 2:3]) / 2).mean(axis=0)
    # train split: every train frame, not only the frames used by clips (gap 5 skips some)
    train = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=2, gap=5)
    test = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=2, gap=1)
    for ds in (train, test):
        mean_pose = ds.metainfo['mean_pose']
        assert mean_pose.shape == (24, 3) and mean_pose.dtype == np.float32
        np.testing.assert_allclose(mean_pose, expected, atol=1e-5)


def test_metainfo(mmhpsd_root):
    meta = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=2, gap=1).metainfo
    assert meta['num_keypoints'] == 24 and len(meta['joint_names']) == 24
    assert meta['joint_names'][:3] == ['pelvis', 'L_hip', 'R_hip']
    assert meta['parents'][0] == -1 and len(meta['skeleton_links']) == 23
    assert meta['root_joints'] == [1, 2]
    assert sorted(meta['flip_indices']) == list(range(24))


def test_mean_pose_none_without_train_subjects(copy_root):
    shutil.rmtree(osp.join(copy_root, 'mmhpsd_events', TRAIN_ACTION))
    shutil.rmtree(osp.join(copy_root, 'mmhpsd_grayscale_img', TRAIN_ACTION))
    with pytest.warns(UserWarning, match='mean_pose is None'):
        ds = MMHPSDClipDataset(copy_root, split='test', clip_len=2, gap=1)
    assert ds.metainfo['mean_pose'] is None


def test_serialized_and_lazy(mmhpsd_root):
    a = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=3, gap=2, serialize_data=False)
    b = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=3, gap=2, lazy_init=True)
    assert len(b) == len(a) == 2
    np.testing.assert_array_equal(a[1]['lifting_target'], b[1]['lifting_target'])


# ---------------------------------------------------------------------------------------------
# Pipeline

def test_pipeline_outputs(mmhpsd_root):
    ds = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=4, gap=2, stride=2,
                           pipeline=[LoadClipFrames(size=(24, 16)), PackClipPoseInputs()])
    out = ds[1]
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(inputs, torch.Tensor) and inputs.dtype == torch.uint8
    assert inputs.shape == (3, 4, 16, 24)  # [C, T, H, W]
    assert isinstance(sample, PoseDataSample)
    gt = sample.gt_instances
    assert isinstance(gt, InstanceData) and len(gt) == 4  # one instance per frame
    assert gt.lifting_target.shape == (4, 24, 3) and gt.lifting_target.dtype == np.float32
    assert gt.lifting_target_visible.shape == (4, 24)
    assert gt.lifting_target_root.shape == (4, 1, 3)
    info = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=4, gap=2, stride=2)[1]
    np.testing.assert_array_equal(gt.lifting_target, info['lifting_target'])
    assert sample.action == TRAIN_ACTION and sample.subject == 3
    assert sample.frame_ids == info['frame_ids'] == [2, 4, 6, 8]
    assert sample.img_paths == info['img_paths'] and sample.clip_len == 4
    assert sample.img_shape == (16, 24) and sample.ori_shape == (SIZE, SIZE)
    # pixels equal the RGB frames read directly (same resize)
    first = cv2.imread(info['img_paths'][0], cv2.IMREAD_COLOR)
    first = cv2.cvtColor(cv2.resize(first, (24, 16), interpolation=cv2.INTER_AREA),
                         cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(inputs[:, 0].permute(1, 2, 0).numpy(), first)


def test_metric_accepts_samples(mmhpsd_root):
    """MMPose's SimpleMPJPE reads the packed ground truth (T as the instance dimension)."""
    from mmpose.evaluation.metrics import SimpleMPJPE
    ds = MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=3, gap=2,
                           pipeline=[LoadClipFrames(), PackClipPoseInputs()])
    metric = SimpleMPJPE()
    samples = []
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        sample.pred_instances = InstanceData(keypoints=sample.gt_instances.lifting_target + 0.01)
        samples.append(sample.to_dict())
    metric.process([], samples)
    result = metric.compute_metrics(metric.results)
    assert result['MPJPE'] == pytest.approx(0.01 * np.sqrt(3), rel=1e-3)  # input units (m)


def test_load_clip_frames_grayscale_and_bgr(tmp_path):
    gray = (np.arange(20 * 30) % 256).astype(np.uint8).reshape(20, 30)
    path = str(tmp_path / 'fullpic0000.jpg')
    cv2.imwrite(path, gray)
    out = LoadClipFrames(to_rgb=False)(dict(img_paths=[path, path]))
    assert out['img'].shape == (2, 20, 30, 3) and out['img'].dtype == np.uint8
    assert out['img_shape'] == (20, 30)
    np.testing.assert_array_equal(out['img'][..., 0], out['img'][..., 2])
    out = LoadClipFrames(size=10)(dict(img_paths=[path]))
    assert out['img'].shape == (1, 10, 10, 3)


def test_load_clip_frames_errors(tmp_path, mmhpsd_root):
    bad = tmp_path / 'fullpic0001.jpg'
    bad.write_bytes(b'not a jpeg at all')
    good = frame_file(mmhpsd_root, TEST_ACTION, 0)
    with pytest.raises(OSError, match='fullpic0001.jpg'):
        LoadClipFrames()(dict(img_paths=[good, str(bad)]))
    with pytest.raises(OSError, match='missing.jpg'):
        LoadClipFrames()(dict(img_paths=[str(tmp_path / 'missing.jpg')]))
    other = str(tmp_path / 'other.jpg')
    cv2.imwrite(other, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='set size'):
        LoadClipFrames()(dict(img_paths=[good, other]))
    for size in (0, (3,), (4, -1), 'a', True):
        with pytest.raises(ValueError, match='size'):
            LoadClipFrames(size=size)


def test_build_from_mmpose_registry(mmhpsd_root):
    assert DATASETS.get('MMHPSDClipDataset') is MMHPSDClipDataset
    assert TRANSFORMS.get('LoadClipFrames') is LoadClipFrames
    cfg = dict(type='MMHPSDClipDataset', data_root=mmhpsd_root, split='test', clip_len=2,
               gap=3, test_mode=True,
               pipeline=[dict(type='LoadClipFrames', size=16),
                         dict(type='PackClipPoseInputs')])
    with DefaultScope.overwrite_default_scope('mmpose'):
        ds = DATASETS.build(cfg)
    assert isinstance(ds, MMHPSDClipDataset)
    out = ds[0]
    assert out['inputs'].shape == (3, 2, 16, 16)
    assert out['data_samples'].frame_ids == [0, 3]


# ---------------------------------------------------------------------------------------------
# Errors

def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a directory') as error:
        MMHPSDClipDataset(str(tmp_path / 'nope'), split='test')
    # one more line: the command that writes a demo config's embedded dataset
    assert str(error.value).splitlines()[1:] == [
        "a demo config's embedded dataset is written by `python tools/make_demo_dataset.py "
        "CONFIG` (or `mim run mmspike make_demo_dataset CONFIG`)"]
    with pytest.raises(FileNotFoundError, match='not a directory'):
        MMHPSDClipDataset('', split='test')


def test_no_actions_for_split(copy_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='no MMHPSD actions for the test split') \
            as error:
        MMHPSDClipDataset(str(tmp_path), split='test')  # empty directory
    assert 'tools/make_demo_dataset.py CONFIG' in str(error.value).splitlines()[-1]
    with pytest.raises(FileNotFoundError, match=r'subjects \[5\]'):
        MMHPSDClipDataset(copy_root, subjects=[5])
    shutil.rmtree(osp.join(copy_root, 'mmhpsd_events', TRAIN_ACTION))
    shutil.rmtree(osp.join(copy_root, 'mmhpsd_grayscale_img', TRAIN_ACTION))
    with pytest.raises(FileNotFoundError, match='train split'):
        MMHPSDClipDataset(copy_root, split='train')


def test_missing_pose_file(copy_root):
    os.remove(pose_file(copy_root, TEST_ACTION, 5))
    with pytest.raises(FileNotFoundError, match=r'fullpic0005\.jpg has no pose file.*'
                                                r'pose_0005\.npz'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)


def test_missing_frame(copy_root):
    os.remove(frame_file(copy_root, TEST_ACTION, 7))
    with pytest.raises(FileNotFoundError, match=r'pose_0007\.npz has no frame.*fullpic0007'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)


def test_bad_joints3d_shape(copy_root):
    path = pose_file(copy_root, TEST_ACTION, 3)
    np.savez(path, joints3d=np.zeros((17, 3)))
    with pytest.raises(ValueError, match=r'pose_0003\.npz.*\(24, 3\).*\(17, 3\)'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)
    np.savez(path, joints2d=np.zeros((24, 3)))
    with pytest.raises(ValueError, match=r'pose_0003\.npz has no "joints3d"'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)
    with open(path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError, match=r'cannot read pose file .*pose_0003\.npz'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)


def test_clip_box_surrounds_the_2d_joints_of_every_frame(mmhpsd_root, copy_root):
    ds = MMHPSDClipDataset(mmhpsd_root, split='train', clip_len=3, gap=2, stride=3)
    for i in range(len(ds)):
        info = ds[i]
        points = []
        for f in info['frame_ids']:
            with np.load(pose_file(mmhpsd_root, TRAIN_ACTION, f)) as pose:
                points.append(pose['joints2d'][:, :2])
        points = np.concatenate(points)
        np.testing.assert_allclose(info['bbox'], [*points.min(0), *points.max(0)], atol=1e-4)
        assert 0 < info['bbox'][0] < info['bbox'][2] < SIZE  # inside the frame here
    # a pose file without joints2d: no box for that action (CropClipToBox then says so)
    for f in range(FRAMES):
        with np.load(pose_file(copy_root, TRAIN_ACTION, f)) as pose:
            np.savez(pose_file(copy_root, TRAIN_ACTION, f), joints3d=pose['joints3d'])
    info = MMHPSDClipDataset(copy_root, split='train', clip_len=3)[0]
    assert 'bbox' not in info
    with pytest.raises(KeyError, match='CropClipToBox needs "img" and "bbox"'):
        CropClipToBox(16)(LoadClipFrames()(info))
    np.savez(pose_file(copy_root, TRAIN_ACTION, 0), joints3d=np.zeros((24, 3)),
             joints2d=np.zeros((17, 3)))
    with pytest.raises(ValueError, match=r'pose_0000\.npz: joints2d must have shape \(24, 2 '
                       r'or 3\), got \(17, 3\)'):
        MMHPSDClipDataset(copy_root, split='train', clip_len=3)


def test_crop_clip_to_box_centres_the_box_on_every_frame():
    clip = np.zeros((3, 40, 60, 3), np.uint8)
    for t in range(3):  # a 10 x 20 (w x h) white block moving right by 2 px a frame
        clip[t, 10:30, 20 + 2 * t:30 + 2 * t] = 255
    box = [20, 10, 34, 30]  # around the block in all frames: 14 x 20
    out = CropClipToBox(size=(30, 30), padding=1.5)(dict(img=clip, bbox=box))
    assert out['img'].shape == (3, 30, 30, 3) and out['img_shape'] == (30, 30)
    np.testing.assert_array_equal(out['crop_box'], [12, 5, 42, 35])  # side 1.5 * 20 = 30
    np.testing.assert_array_equal(out['img'][0], clip[0, 5:35, 12:42])  # same scale: a cut
    moved = out['img'][:, :, :, 0] > 127
    cols = [np.flatnonzero(m.any(0)) for m in moved]
    assert [c[0] for c in cols] == [8, 10, 12]  # the motion within the clip is kept
    # a box at the border: the outside is filled
    out = CropClipToBox(size=16, padding=2.0, fill=7)(dict(img=clip, bbox=[0, 0, 8, 8]))
    assert out['img'][0, 0, 0, 0] == 7 and out['img'].shape == (3, 16, 16, 3)
    with pytest.raises(ValueError, match=r'lies outside the 60 x 40 frames'):
        CropClipToBox(16)(dict(img=clip, bbox=[70, 0, 80, 10], img_paths=['a.jpg']))
    with pytest.raises(ValueError, match=r'x2 > x1 and y2 > y1, got \[5.0, 5.0, 5.0, 9.0\]'):
        CropClipToBox(16)(dict(img=clip, bbox=[5, 5, 5, 9]))
    with pytest.raises(ValueError, match='padding must be >= 1'):
        CropClipToBox(16, padding=0.5)


def test_bad_train_pose_file_found_by_mean_pose(copy_root):
    np.savez(pose_file(copy_root, TRAIN_ACTION, 0), joints3d=np.zeros((24, 2)))
    with pytest.raises(ValueError, match=r'subject03.*pose_0000\.npz.*\(24, 2\)'):
        MMHPSDClipDataset(copy_root, split='test', clip_len=2)


def test_clip_longer_than_every_sequence(mmhpsd_root):
    with pytest.raises(ValueError, match=r'clip_len=4 x gap=4 needs 13 frames.*'
                                         rf'{TEST_ACTION} \(12 frames\)'):
        MMHPSDClipDataset(mmhpsd_root, split='test', clip_len=4, gap=4)


def test_short_sequence_skipped_with_warning(copy_root):
    remove_frames(copy_root, TEST_ACTION, range(6, FRAMES))  # subject01 keeps 6 frames
    with pytest.warns(UserWarning, match=rf'skipping action {TEST_ACTION} \(6 frames\).*'
                                         r'needs 7 frames'):
        ds = MMHPSDClipDataset(copy_root, subjects=[1, 3], clip_len=4, gap=2)
    assert {ds[i]['action'] for i in range(len(ds))} == {TRAIN_ACTION}
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ds = MMHPSDClipDataset(copy_root, subjects=[1, 3], clip_len=3, gap=2)  # needs 5
    assert {ds[i]['subject'] for i in range(len(ds))} == {1, 3}


@pytest.mark.parametrize('kwargs, match', [
    (dict(clip_len=0), 'clip_len'), (dict(clip_len=-2), 'clip_len'),
    (dict(clip_len=2.5), 'clip_len'), (dict(clip_len=True), 'clip_len'),
    (dict(gap=0), 'gap'), (dict(gap=1.0), 'gap'), (dict(stride=0), 'stride'),
    (dict(split='val'), 'split'), (dict(subjects=[]), 'subjects'),
    (dict(subjects=3), 'subjects'), (dict(subjects=[0]), 'subject'),
    (dict(root_joints=(24,)), 'root_joints'), (dict(root_joints=()), 'root_joints'),
])
def test_bad_arguments(mmhpsd_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MMHPSDClipDataset(mmhpsd_root, **kwargs)


def test_unrelated_directories_ignored(copy_root):
    os.makedirs(osp.join(copy_root, 'mmhpsd_events', 'readme_dir', 'poses'))
    ds = MMHPSDClipDataset(copy_root, split='test', clip_len=2, gap=1)
    assert len(ds) == 6
