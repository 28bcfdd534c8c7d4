"""Human36mClipDataset on a tiny Human3.6M tree in MMPose's layout, and the Human3.6M config
trained and tested through tools/train.py and tools/test.py on it."""
import os
import os.path as osp
import shutil
import warnings

import cv2
import numpy as np
import pytest

pytest.importorskip('mmpose')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmpose.registry import DATASETS  # noqa: E402

import mmspike.pose  # noqa: E402,F401  (registers the pose parts in mmpose's registries)
from helpers import shrink_pose_config, train_then_test  # noqa: E402
from mmspike.backbones.spikevideoformer import SpikeVideoFormer  # noqa: E402
from mmspike.datasets.pose import (Human36mClipDataset, LoadClipFrames,  # noqa: E402
                                   PackClipPoseInputs)
from mmspike.estimators.pose import VideoPoseLifter  # noqa: E402

from helpers import REPO  # noqa: E402
from mmspike.apis import build_model  # noqa: E402
CONFIG = osp.join(REPO, 'configs', 'spikevideoformer_pose_h36m.py')
DATASET_BASE = osp.join(REPO, 'configs', '_base_', 'datasets', 'h36m.py')
TRAIN_ANN = 'annotation_body3d/fps50/h36m_train.npz'
TEST_ANN = 'annotation_body3d/fps50/h36m_test.npz'
FRAMES = 12
SIZE = 32
CAMERA = '54138969'
# (subject, action, camera): number of frames; one camera, as the brief of the fixture
TRAIN_VIDEOS = {('S1', 'Directions_1', CAMERA): FRAMES, ('S1', 'WalkDog', CAMERA): FRAMES}
TEST_VIDEOS = {('S9', 'Directions_1', CAMERA): FRAMES, ('S9', 'Greeting', CAMERA): FRAMES}
INVISIBLE = ('S1_Directions_1.54138969_000003.jpg', 13)  # (frame, joint) marked not visible


# ---------------------------------------------------------------------------------------------
# The fixture: MMPose's layout (tools/dataset_converters/preprocess_h36m.py) and dtypes (its
# tests/data/h36m/test_h36m_body3d.npz: imgname '<U', center, scale, part, S float64)

def video_name(subject, action, camera):
    return f'{subject}_{action}.{camera}'


def write_split(root, ann_file, videos, seed):
    """Write the frames of ``videos`` under ``root/images`` and their rows, shuffled, in
    ``root/ann_file``; return {imgname: S row [17, 4]}."""
    rng = np.random.default_rng(seed)
    names, joints3d, joints2d = [], [], []
    for (subject, action, camera), num_frames in videos.items():
        video = video_name(subject, action, camera)
        folder = osp.join(root, 'images', subject, video)
        os.makedirs(folder, exist_ok=True)
        offsets = rng.normal(0, 0.3, (17, 3))
        offsets[0] = 0
        start = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.2, 0.2), rng.uniform(4, 6)])
        for i in range(num_frames):
            frame = i + 1  # the converter numbers frames from 1 (frame i + 1 of the video)
            name = f'{video}_{frame:06d}.jpg'
            img = np.full((SIZE, SIZE, 3), 10 * frame % 256, np.uint8)
            img[:, :SIZE // 2, 0] = 200 if action.startswith('D') else 50
            assert cv2.imwrite(osp.join(folder, name), img)
            pelvis = start + np.array([0.02 * i, 0.0, 0.01 * i])
            xyz = pelvis + offsets + rng.normal(0, 0.01, (17, 3))
            visible = np.ones((17, 1))
            if name == INVISIBLE[0]:
                visible[INVISIBLE[1]] = 0
            names.append(f'{subject}/{video}/{name}')
            joints3d.append(np.concatenate([xyz, visible], axis=1))
            uv = SIZE / 2 + SIZE * xyz[:, :2] / xyz[:, 2:]  # pixels of the SIZE x SIZE frames
            joints2d.append(np.concatenate([uv, np.ones((17, 1))], axis=1))
    order = rng.permutation(len(names))  # rows out of video and frame order
    names = np.array(names)[order]
    joints3d = np.stack(joints3d)[order]
    joints2d = np.stack(joints2d)[order]
    lo, hi = joints2d[..., :2].min(axis=1), joints2d[..., :2].max(axis=1)
    path = osp.join(root, ann_file)
    os.makedirs(osp.dirname(path), exist_ok=True)
    np.savez(path, imgname=names, center=(lo + hi) / 2,
             scale=1.2 * (hi - lo).max(axis=1) / 200, part=joints2d, S=joints3d)
    return {osp.basename(n): s for n, s in zip(names, joints3d)}


def write_h36m(root, train_videos=TRAIN_VIDEOS, test_videos=TEST_VIDEOS):
    """A tiny Human3.6M tree: S1 in the training file, S9 in the test file."""
    rows = write_split(root, TRAIN_ANN, train_videos, seed=0)
    rows.update(write_split(root, TEST_ANN, test_videos, seed=1))
    return rows


@pytest.fixture(scope='module')
def h36m(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('h36m') / 'h36m')
    return root, write_h36m(root)


@pytest.fixture
def h36m_root(h36m):
    return h36m[0]


@pytest.fixture
def copy_root(h36m_root, tmp_path):
    """A private copy of the fixture to damage."""
    target = str(tmp_path / 'copy')
    shutil.copytree(h36m_root, target)
    return target


def dataset(root, ann=TEST_ANN, **kwargs):
    """The dataset of ``root/ann``, its mean pose from the training file unless told."""
    kwargs.setdefault('mean_pose_ann_file', TRAIN_ANN)
    return Human36mClipDataset(ann_file=ann, data_root=root, **kwargs)


def frame_file(root, subject, action, frame, camera=CAMERA):
    video = video_name(subject, action, camera)
    return osp.join(root, 'images', subject, video, f'{video}_{frame:06d}.jpg')


def rewrite(root, ann, **changes):
    """Rewrite ``root/ann`` with some arrays replaced (None: removed)."""
    path = osp.join(root, ann)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_fixture_has_mmpose_keys_and_dtypes(h36m_root):
    with np.load(osp.join(h36m_root, TRAIN_ANN)) as data:
        arrays = {k: data[k] for k in data.files}
    n = 2 * FRAMES
    assert sorted(arrays) == ['S', 'center', 'imgname', 'part', 'scale']
    assert arrays['imgname'].dtype.kind == 'U' and arrays['imgname'].shape == (n,)
    assert arrays['imgname'][0].count('/') == 2  # S1/<video>/<video>_<frame>.jpg
    for key, shape in (('center', (n, 2)), ('scale', (n,)), ('part', (n, 17, 3)),
                       ('S', (n, 17, 4))):
        assert arrays[key].dtype == np.float64 and arrays[key].shape == shape, key


# ---------------------------------------------------------------------------------------------
# Clips, targets, paths

@pytest.mark.parametrize('clip_len, gap, stride, expected', [
    # span = (clip_len - 1) * gap + 1; starts range(0, 12 - span + 1, stride); frames from 1
    (3, 2, None, [[1, 3, 5], [7, 9, 11]]),                  # span 5, stride 6: starts 0, 6
    (3, 2, 4, [[1, 3, 5], [5, 7, 9]]),                      # starts 0, 4 (8 + 4 > 11)
    (4, 3, None, [[1, 4, 7, 10]]),                          # span 10, one start
    (2, 1, 5, [[1, 2], [6, 7], [11, 12]]),                  # starts 0, 5, 10
    (12, 1, None, [list(range(1, 13))]),                    # the whole video
])
def test_clip_count_and_frame_order(h36m_root, clip_len, gap, stride, expected):
    ds = dataset(h36m_root, clip_len=clip_len, gap=gap, stride=stride)
    per_video = len(expected)
    assert len(ds) == 2 * per_video
    infos = [ds[i] for i in range(len(ds))]
    # videos in (subject, action, camera) order, each in frame order (the npz rows are shuffled)
    assert [info['video'] for info in infos] == (['S9_Directions_1.54138969'] * per_video
                                                 + ['S9_Greeting.54138969'] * per_video)
    for k, info in enumerate(infos):
        assert info['frame_ids'] == expected[k % per_video]
        assert info['subject'] == 'S9' and info['camera'] == CAMERA
        assert info['clip_len'] == clip_len and info['gap'] == gap
        action = info['action']
        assert info['img_paths'] == [frame_file(h36m_root, 'S9', action, f)
                                     for f in info['frame_ids']]
        assert all(osp.isfile(p) for p in info['img_paths'])
    assert ds.stride == (clip_len * gap if stride is None else stride)
    assert ds.metainfo['subjects'] == ['S9']


def test_targets_equal_s_minus_pelvis(h36m):
    root, rows = h36m
    ds = dataset(root, TRAIN_ANN, clip_len=3, gap=2, stride=3)
    assert len(ds) == 6  # span 5: starts 0, 3, 6 in each of 2 videos
    with np.load(osp.join(root, TRAIN_ANN)) as data:
        imgname = data['imgname']
    seen_invisible = False
    for i in range(len(ds)):
        info = ds[i]
        s = np.stack([rows[osp.basename(p)] for p in info['img_paths']])
        for key, shape in (('joints3d', (3, 17, 3)), ('lifting_target', (3, 17, 3)),
                           ('lifting_target_root', (3, 1, 3)),
                           ('lifting_target_visible', (3, 17))):
            assert info[key].shape == shape and info[key].dtype == np.float32, key
        np.testing.assert_allclose(info['joints3d'], s[..., :3], atol=1e-6)
        np.testing.assert_allclose(info['lifting_target'], s[..., :3] - s[:, :1, :3],
                                   atol=1e-6)
        np.testing.assert_allclose(info['lifting_target'][:, 0], 0, atol=1e-7)
        np.testing.assert_allclose(info['lifting_target_root'][:, 0], s[:, 0, :3], atol=1e-6)
        np.testing.assert_array_equal(info['lifting_target_visible'], s[..., 3])
        seen_invisible |= bool((info['lifting_target_visible'] == 0).any())
        # ann_rows are the npz rows of the clip's frames
        assert [osp.basename(imgname[r]) for r in info['ann_rows']] == [
            osp.basename(p) for p in info['img_paths']]
    assert seen_invisible  # frame 3 of S1 Directions_1 (in the clip starting at frame 1)


def test_clip_box_from_center_and_scale(h36m_root, copy_root):
    ds = dataset(h36m_root, TRAIN_ANN, clip_len=3, gap=2, stride=3)
    with np.load(osp.join(h36m_root, TRAIN_ANN)) as data:
        center, scale = data['center'], data['scale']
    for i in range(len(ds)):
        info = ds[i]
        rows = info['ann_rows']
        half = 100 * scale[rows][:, None]  # MMPose: scale = box side / 200
        expected = [*(center[rows] - half).min(0), *(center[rows] + half).max(0)]
        np.testing.assert_allclose(info['bbox'], expected, rtol=1e-5)
    arrays = rewrite(copy_root, TRAIN_ANN, center=center[:-1], scale=scale[:-1])
    with pytest.raises(ValueError, match=r'center / scale have \d+ rows but S has \d+'):
        dataset(copy_root, TRAIN_ANN, clip_len=3)
    rewrite(copy_root, TRAIN_ANN, center=arrays['center'][:, :1], scale=scale)
    with pytest.raises(ValueError, match=r'center must be \(N, 2\) and scale \(N,\)'):
        dataset(copy_root, TRAIN_ANN, clip_len=3)
    rewrite(copy_root, TRAIN_ANN, center=None)
    assert 'bbox' not in dataset(copy_root, TRAIN_ANN, clip_len=3)[0]  # no boxes, no crop


def test_mean_pose_of_training_rows(h36m):
    root, rows = h36m
    train = np.stack([s[:, :3] for name, s in rows.items() if name.startswith('S1_')])
    assert len(train) == 2 * FRAMES
    expected = (train - train[:, :1]).mean(axis=0)
    # every training frame, not only the frames used by clips (gap 5 skips some)
    loaded = [dataset(root, TRAIN_ANN, mean_pose_ann_file=None, clip_len=2, gap=5),
              dataset(root, TEST_ANN, mean_pose_ann_file=TRAIN_ANN, clip_len=2, gap=1),
              dataset(root, TEST_ANN, mean_pose_ann_file=osp.join(root, TRAIN_ANN),
                      clip_len=2, gap=1)]
    for ds in loaded:
        mean_pose = ds.metainfo['mean_pose']
        assert mean_pose.shape == (17, 3) and mean_pose.dtype == np.float32
        np.testing.assert_allclose(mean_pose, expected, atol=1e-5)


def test_mean_pose_none_without_training_rows(h36m_root):
    with pytest.warns(UserWarning, match=r'no training-subject \(S1, S5, S6, S7, S8\) rows in '
                                         r'.*h36m_test\.npz; metainfo mean_pose is None'):
        ds = dataset(h36m_root, TEST_ANN, mean_pose_ann_file=None, clip_len=2)
    assert ds.metainfo['mean_pose'] is None
    ds = dataset(h36m_root, TEST_ANN, clip_len=2, compute_mean_pose=False)
    assert 'mean_pose' not in ds.metainfo


def test_imgname_without_folders(copy_root):
    """Image names that are only file names (as some MMPose data) are looked up in the
    converter's video folders."""
    ds = dataset(copy_root, clip_len=3, gap=2)
    expected = [ds[i]['img_paths'] for i in range(len(ds))]
    with np.load(osp.join(copy_root, TEST_ANN)) as data:
        names = np.array([osp.basename(n) for n in data['imgname']])
    rewrite(copy_root, TEST_ANN, imgname=names)
    ds = dataset(copy_root, clip_len=3, gap=2)
    assert [ds[i]['img_paths'] for i in range(len(ds))] == expected


def test_subject_filter(copy_root):
    train = dataset(copy_root, TRAIN_ANN, subjects=['S1'], clip_len=2, gap=1)
    assert {train[i]['subject'] for i in range(len(train))} == {'S1'}
    # one file holding both subjects (rows of the test file appended to the training file's)
    train_file, test_file = osp.join(copy_root, TRAIN_ANN), osp.join(copy_root, TEST_ANN)
    with np.load(train_file) as a, np.load(test_file) as b:
        both = {k: np.concatenate([a[k], b[k]]) for k in a.files}
    np.savez(osp.join(copy_root, 'both.npz'), **both)
    everyone = dataset(copy_root, 'both.npz', clip_len=2, gap=1)
    s9 = dataset(copy_root, 'both.npz', subjects=[9], clip_len=2, gap=1)
    s1 = dataset(copy_root, 'both.npz', subjects=('S1', 1), clip_len=2, gap=1)
    assert {s9[i]['subject'] for i in range(len(s9))} == {'S9'}
    assert s9.metainfo['subjects'] == ['S9'] and s1.metainfo['subjects'] == ['S1']
    assert everyone.metainfo['subjects'] == ['S1', 'S9']
    assert len(everyone) == len(s1) + len(s9)
    # the mean pose is the training subjects' whatever the filter
    np.testing.assert_array_equal(s9.metainfo['mean_pose'], s1.metainfo['mean_pose'])
    with pytest.raises(ValueError, match=r"no Human3\.6M rows of subjects \['S5'\] in "
                                         r".*h36m_train\.npz \(it holds subjects \['S1'\]\)"):
        dataset(copy_root, TRAIN_ANN, subjects=[5])


def test_metainfo_draws_with_mmpose_visualizer(h36m_root):
    from mmengine.structures import InstanceData
    from mmpose.visualization import PoseLocalVisualizer
    meta = dataset(h36m_root, clip_len=2, compute_mean_pose=False).metainfo
    names = meta['joint_names']
    assert meta['dataset_name'] == 'h36m' and meta['num_keypoints'] == 17
    assert names[0] == 'root' and names[10] == 'head' and len(names) == 17
    assert meta['parents'][0] == -1 and len(meta['skeleton_links']) == 16
    assert all(meta['parents'][child] == parent for parent, child in meta['skeleton_links'])
    assert meta['root_joints'] == [0]
    swap = {'left': 'right', 'right': 'left'}
    for i, j in enumerate(meta['flip_indices']):
        side, _, part = names[i].partition('_')
        assert names[j] == (f'{swap[side]}_{part}' if side in swap else names[i])
    assert meta['keypoint_colors'].shape == (17, 3)
    assert meta['skeleton_link_colors'].shape == (16, 3)
    # a 2D pose drawn with this metainfo gets its limbs.  Keypoint discs are left out
    # (colour None): MMPose 1.3.2 draws them with int() of a 1-element array, which NumPy 2.4
    # refuses.
    kpts = np.array([[64, 64], [52, 64], [52, 90], [52, 116], [76, 64], [76, 90], [76, 116],
                     [64, 48], [64, 32], [64, 24], [64, 14], [80, 34], [92, 48], [100, 60],
                     [48, 34], [36, 48], [28, 60]], np.float32)
    instances = InstanceData(keypoints=kpts[None], keypoints_visible=np.ones((1, 17)))
    drawn = {}
    for links in (True, False):
        vis = PoseLocalVisualizer(name=f'h36m_test_{links}')
        vis.set_dataset_meta(dict({k: v for k, v in meta.items()
                                   if links or k != 'skeleton_link_colors'},
                                  keypoint_colors=[None] * 17))
        image = np.zeros((128, 128, 3), np.uint8)
        drawn[links] = (vis._draw_instances_kpts(image, instances, kpt_thr=0.5) > 0).any(-1)
    assert drawn[True].sum() > 100 and drawn[False].sum() == 0


def test_metainfo_is_mmpose_h36m_dataset_info():
    """The class's MMPose dataset info matches MMPose's own Human3.6M one (its
    configs/_base_/datasets/h36m.py): names, types, swaps, colours, and the same links with the
    same colours (in another order: ours go joint by joint, each from its parent)."""
    import mmpose
    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
                    'h36m.py')
    if not osp.isfile(path):
        pytest.skip(f'MMPose\'s Human3.6M dataset info is not installed at {path}')
    theirs = Config.fromfile(path).dataset_info
    ours = Human36mClipDataset.METAINFO
    assert ours['dataset_name'] == theirs['dataset_name'] == 'h36m'
    assert {i: dict(k) for i, k in theirs['keypoint_info'].items()} == ours['keypoint_info']
    links = {tuple(s['link']): list(s['color']) for s in theirs['skeleton_info'].values()}
    assert links == {s['link']: s['color'] for s in ours['skeleton_info'].values()}
    assert list(theirs['joint_weights']) == ours['joint_weights']


def test_serialized_and_lazy(h36m_root):
    a = dataset(h36m_root, TRAIN_ANN, clip_len=3, gap=2, serialize_data=False)
    b = dataset(h36m_root, TRAIN_ANN, clip_len=3, gap=2, lazy_init=True)
    assert 'mean_pose' not in b.metainfo
    assert len(b) == len(a) == 4
    np.testing.assert_array_equal(a[3]['lifting_target'], b[3]['lifting_target'])
    np.testing.assert_array_equal(a.metainfo['mean_pose'], b.metainfo['mean_pose'])


def test_pipeline_and_registry(h36m_root):
    assert DATASETS.get('Human36mClipDataset') is Human36mClipDataset
    cfg = dict(type='Human36mClipDataset', data_root=h36m_root, ann_file=TEST_ANN,
               mean_pose_ann_file=TRAIN_ANN, clip_len=4, gap=2, test_mode=True,
               pipeline=[dict(type='LoadClipFrames', size=16), dict(type='PackClipPoseInputs')])
    with DefaultScope.overwrite_default_scope('mmpose'):
        ds = DATASETS.build(cfg)
    assert isinstance(ds, Human36mClipDataset)
    out = ds[1]
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.shape == (3, 4, 16, 16)
    assert sample.gt_instances.lifting_target.shape == (4, 17, 3)
    assert sample.gt_instances.lifting_target_visible.shape == (4, 17)
    assert sample.frame_ids == [1, 3, 5, 7] and sample.subject == 'S9'
    assert sample.action == 'Greeting'
    # frame k was written with grey level 10 * k: the clip's frames are in order
    direct = Human36mClipDataset(ann_file=TEST_ANN, data_root=h36m_root, clip_len=4, gap=2,
                                 compute_mean_pose=False,
                                 pipeline=[LoadClipFrames(), PackClipPoseInputs()])
    grey = direct[1]['inputs'][1, :, :, -1].float().mean(dim=-1).numpy()  # G, right half
    np.testing.assert_allclose(grey, [10, 30, 50, 70], atol=3)


# ---------------------------------------------------------------------------------------------
# Errors

def test_missing_ann_file(h36m_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ann_file '.*h36m_valid\.npz' does not exist"):
        dataset(h36m_root, 'annotation_body3d/fps50/h36m_valid.npz')
    with pytest.raises(FileNotFoundError, match=r"ann_file '' does not exist"):
        Human36mClipDataset(data_root=h36m_root)
    with pytest.raises(FileNotFoundError, match=r"mean_pose_ann_file '.*nope\.npz' does not"):
        dataset(h36m_root, mean_pose_ann_file='nope.npz')
    with pytest.raises(FileNotFoundError, match='does not exist'):  # also with lazy_init
        dataset(str(tmp_path), lazy_init=True)


def test_missing_keys(copy_root):
    rewrite(copy_root, TEST_ANN, S=None)
    with pytest.raises(ValueError, match=r"h36m_test\.npz has no \['S'\] array.*expected keys "
                                         r"\['imgname', 'S'\].*found keys \['center', "
                                         r"'imgname', 'part', 'scale'\]"):
        dataset(copy_root, clip_len=2)
    rewrite(copy_root, TRAIN_ANN, imgname=None)
    with pytest.raises(ValueError, match=r"h36m_train\.npz has no \['imgname'\]"):
        dataset(copy_root, TRAIN_ANN, clip_len=2)
    with open(osp.join(copy_root, TRAIN_ANN), 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError, match=r'cannot read Human3\.6M annotation file '
                                         r'.*h36m_train\.npz'):
        dataset(copy_root, TRAIN_ANN, clip_len=2)


def test_wrong_joint_count(copy_root):
    rewrite(copy_root, TEST_ANN, S=np.zeros((2 * FRAMES, 24, 4)))
    with pytest.raises(ValueError, match=r'h36m_test\.npz: S must have shape \(N, 17, 4\).*'
                                         r'got \(24, 24, 4\)'):
        dataset(copy_root, clip_len=2)
    rewrite(copy_root, TEST_ANN, S=np.zeros((2 * FRAMES, 17, 3)))
    with pytest.raises(ValueError, match=r'got \(24, 17, 3\)'):
        dataset(copy_root, clip_len=2)
    rewrite(copy_root, TEST_ANN, S=np.zeros((2 * FRAMES - 1, 17, 4)))
    with pytest.raises(ValueError, match='imgname has 24 rows but S has 23'):
        dataset(copy_root, clip_len=2)


def test_bad_train_file_found_by_mean_pose(copy_root):
    rewrite(copy_root, TRAIN_ANN, S=np.zeros((2 * FRAMES, 16, 4)))
    with pytest.raises(ValueError, match=r'h36m_train\.npz: S must have shape.*\(24, 16, 4\)'):
        dataset(copy_root, clip_len=2)


def test_clip_longer_than_every_video(h36m_root):
    with pytest.raises(ValueError, match=r'no video of h36m_test\.npz is long enough for one '
                                         r'clip: clip_len=4 x gap=4 needs 13 frames.*'
                                         r'S9_Directions_1\.54138969 \(12 frames\), '
                                         r'S9_Greeting\.54138969 \(12 frames\)'):
        dataset(h36m_root, clip_len=4, gap=4)
    with pytest.raises(ValueError, match=r"no video of subjects \['S9'\] is long enough"):
        dataset(h36m_root, subjects=['S9'], clip_len=13, gap=1)


def test_short_video_skipped_with_warning(tmp_path):
    root = str(tmp_path / 'short')
    write_h36m(root, test_videos={('S9', 'Directions_1', CAMERA): 6,
                                  ('S9', 'Greeting', CAMERA): FRAMES})
    with pytest.warns(UserWarning, match=r'Human36mClipDataset: skipping video '
                                         r'S9_Directions_1\.54138969 \(6 frames\).*needs 7'):
        ds = dataset(root, clip_len=4, gap=2)
    assert {ds[i]['video'] for i in range(len(ds))} == {'S9_Greeting.54138969'}
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ds = dataset(root, clip_len=3, gap=2)  # needs 5
    assert len({ds[i]['video'] for i in range(len(ds))}) == 2


def test_missing_frame_image(copy_root):
    os.remove(frame_file(copy_root, 'S9', 'Greeting', 7))
    os.remove(frame_file(copy_root, 'S9', 'Greeting', 9))
    with pytest.raises(FileNotFoundError, match=r'frame image .*images/S9/S9_Greeting\.54138969/'
                                                r'S9_Greeting\.54138969_000007\.jpg is missing '
                                                r'\(row \d+ of .*h36m_test\.npz, video '
                                                r'S9_Greeting\.54138969\); 2 of the video\'s 12'):
        dataset(copy_root, clip_len=2)
    shutil.rmtree(osp.join(copy_root, 'images', 'S1'))
    with pytest.raises(FileNotFoundError, match=r'S1_Directions_1\.54138969_000001\.jpg is '
                                                r'missing.*12 of the video\'s 12'):
        dataset(copy_root, TRAIN_ANN, clip_len=2)


def test_bad_image_names(copy_root):
    with np.load(osp.join(copy_root, TEST_ANN)) as data:
        names = data['imgname'].copy()
    bad = names.copy()
    bad[3] = 'S9/frame_0003.png'
    rewrite(copy_root, TEST_ANN, imgname=bad)
    with pytest.raises(ValueError, match=r"image name 'S9/frame_0003\.png' is not of the form"):
        dataset(copy_root, clip_len=2)
    twice = names.copy()
    first = np.flatnonzero(np.char.endswith(names, 'S9_Greeting.54138969_000004.jpg'))[0]
    other = np.flatnonzero(np.char.endswith(names, 'S9_Greeting.54138969_000005.jpg'))[0]
    twice[other] = names[first]
    rewrite(copy_root, TEST_ANN, imgname=twice)
    with pytest.raises(ValueError, match=r'video S9_Greeting\.54138969 has frame 4 twice'):
        dataset(copy_root, clip_len=2)


@pytest.mark.parametrize('kwargs, match', [
    (dict(clip_len=0), 'clip_len'), (dict(clip_len=2.5), 'clip_len'),
    (dict(clip_len=True), 'clip_len'), (dict(gap=0), 'gap'), (dict(stride=-1), 'stride'),
    (dict(subjects=[]), 'subjects'), (dict(subjects='S9'), 'subjects'),
    (dict(subjects=[0]), 'subject'), (dict(subjects=['X9']), 'subject'),
    (dict(root_joints=(17,)), 'root_joints'), (dict(root_joints=()), 'root_joints'),
    (dict(data_prefix=dict(image='images/')), 'data_prefix'),
])
def test_bad_arguments(h36m_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dataset(h36m_root, **kwargs)


# ---------------------------------------------------------------------------------------------
# The config

def test_config_loads_and_builds():
    cfg = Config.fromfile(CONFIG)
    assert cfg.default_scope == 'mmpose'
    assert 'mmspike.pose' in cfg.custom_imports['imports']
    model = build_model(cfg)
    assert type(model) is VideoPoseLifter
    assert isinstance(model.backbone, SpikeVideoFormer)
    assert model.backbone.embed_dims == SpikeVideoFormer.arch_zoo['large']['embed_dims']
    assert model.backbone.num_frames == 32
    assert model.head.in_channels == model.backbone.embed_dims[-1]
    assert model.head.num_joints == 17
    for split, ann in (('train', TRAIN_ANN), ('val', TEST_ANN), ('test', TEST_ANN)):
        ds = cfg[f'{split}_dataloader'].dataset
        assert ds.type == 'Human36mClipDataset' and ds.clip_len == 32 and ds.gap == 2
        assert ds.ann_file == ann and ds.data_root == 'data/h36m'
        assert ds.data_prefix == dict(img='images/')
    assert cfg.test_dataloader.dataset.mean_pose_ann_file == TRAIN_ANN
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoPose3DMetric', 'SpikeEnergyMetric']
    assert cfg.test_evaluator[0]['root_joints'] == (0, )
    assert cfg.val_evaluator == dict(type='VideoPose3DMetric', root_joints=(0, ))


def test_dataset_base_loads():
    cfg = Config.fromfile(DATASET_BASE)
    assert cfg.train_dataloader.sampler == dict(type='DefaultSampler', shuffle=True)
    assert [step['type'] for step in cfg.test_dataloader.dataset.pipeline] == [
        'LoadClipFrames', 'CropClipToBox', 'PackClipPoseInputs']


def test_config_trains_and_tests_with_tools(h36m_root, tmp_path):
    work_dir = tmp_path / 'work'
    cfg = shrink_pose_config(Config.fromfile(CONFIG), h36m_root, work_dir, clip_len=4,
                             size=SIZE, tiny=True)
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoPose3DMetric', 'SpikeEnergyMetric']
    cfg_path = tmp_path / 'tiny_pose_h36m.py'
    cfg.dump(str(cfg_path))
    ckpt, summary = train_then_test(cfg_path, work_dir, tmp_path)
    assert ckpt.endswith('iter_2.pth') and osp.isfile(ckpt)
    for key in ('pose/mpjpe=', 'pose/pa_mpjpe=', 'pose/pel_mpjpe=', 'pose/baseline_pa_mpjpe=',
                'energy/mJ_per_sample=', 'energy/firing_rate='):
        assert key in summary, summary
