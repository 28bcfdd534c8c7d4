"""mmspike.datasets.synthetic.pose_clips: MMHPSD layout, determinism, idempotence, geometry,
rendering."""
import json
import re

import cv2
import numpy as np
import pytest
from helpers import all_files

from mmspike.datasets.synthetic.pose_clips import (MOTION_TYPES, SMPL_JOINT_NAMES, SMPL_PARENTS,
                                         action_name, axis_angle_to_matrix, forward_kinematics,
                                         joint_angles, parse_action_name, render_background,
                                         render_frame, sample_motion, sample_sequence,
                                         sequence_poses, write_dataset)

# 4 sequences (subject 1 is a test subject, 3 a training one) of 8 frames at 32 x 32.
SMALL = dict(subjects=(1, 3), sequences_per_subject=2, frames_per_sequence=8, img_size=32,
             seed=0)
ACTIONS = ('subject01_group1_time1', 'subject01_group1_time2',
           'subject03_group1_time1', 'subject03_group1_time2')
ACTION_RE = re.compile(r'^subject(\d{2})_group(\d+)_time(\d+)$')
# The real data's intrinsics at 1280 px, as the authors' loader scales them.
FX = FY = 1679.3
CX = CY = 641.0


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp('pose') / 'small'
    return root, write_dataset(root, **SMALL)


def load_poses(root, action, frames):
    files = [np.load(root / f'mmhpsd_events/{action}/poses/pose_{i:04d}.npz')
             for i in range(frames)]
    return {key: np.stack([f[key] for f in files]) for key in files[0].files}


def frame_file(root, action, index):
    return root / f'mmhpsd_grayscale_img/{action}/imgs/fullpic{index:04d}.jpg'


def bone_lengths(joints):
    return np.stack([np.linalg.norm(joints[..., j, :] - joints[..., p, :], axis=-1)
                     for j, p in enumerate(SMPL_PARENTS) if p >= 0], axis=-1)


# ---------------------------------------------------------------------------------- layout

def test_layout_is_exactly_mmhpsd(small):
    root, meta = small
    expected = ['meta.json']
    for action in ACTIONS:
        expected += [f'mmhpsd_grayscale_img/{action}/imgs/fullpic{i:04d}.jpg' for i in range(8)]
        expected += [f'mmhpsd_events/{action}/poses/pose_{i:04d}.npz' for i in range(8)]
    assert all_files(root) == sorted(expected)
    assert json.loads((root / 'meta.json').read_text()) == meta


def test_pose_files_keys_shapes_dtypes(small):
    root, _ = small
    with np.load(root / f'mmhpsd_events/{ACTIONS[2]}/poses/pose_0003.npz') as pose:
        assert sorted(pose.files) == ['beta', 'body_pose', 'joints2d', 'joints3d', 'trans']
        shapes = {'joints3d': (24, 3), 'joints2d': (24, 3), 'trans': (1, 3),
                  'body_pose': (1, 72), 'beta': (1, 10)}
        for key, shape in shapes.items():
            assert pose[key].shape == shape, key
            assert pose[key].dtype == np.float64, key
            assert np.isfinite(pose[key]).all(), key
        assert not pose['body_pose'].any() and not pose['beta'].any()  # not SMPL
        np.testing.assert_array_equal(pose['trans'][0], pose['joints3d'][0])  # the pelvis
        np.testing.assert_array_equal(pose['joints2d'][:, 2], 1.0)


def test_frames_are_readable_images(small):
    root, _ = small
    for action in ACTIONS:
        image = cv2.imread(str(frame_file(root, action, 7)))
        assert image is not None and image.shape == (32, 32, 3) and image.dtype == np.uint8


def test_action_names_and_split(small):
    _, meta = small
    assert sorted(meta['split']['train'] + meta['split']['test']) == list(ACTIONS)
    for action in ACTIONS:
        subject, group, time_ = map(int, ACTION_RE.match(action).groups())
        assert parse_action_name(action) == (subject, group, time_)
        assert (action in meta['split']['test']) == (subject in (1, 2, 7))
    assert meta['test_subjects'] == [1, 2, 7]
    assert meta['split']['test'] == ['subject01_group1_time1', 'subject01_group1_time2']
    assert meta['joint_names'] == list(SMPL_JOINT_NAMES) and len(SMPL_JOINT_NAMES) == 24
    assert meta['parents'] == [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17,
                               18, 19, 20, 21]
    assert meta['generator_version'] == 1 and meta['seed'] == 0 and meta['fps'] > 0
    for motions in meta['motions'].values():
        assert motions and set(motions) <= set(MOTION_TYPES)
    # Four times per group: sequence 5 (from 0) is the second group's second time.
    assert action_name(12, 5) == 'subject12_group2_time2'
    assert parse_action_name('subject12_group2_time2') == (12, 2, 2)
    with pytest.raises(ValueError, match='subject1_group1_time1'):
        parse_action_name('subject1_group1_time1')


# ---------------------------------------------------------------------------- determinism

def test_same_seed_same_files_other_seed_differs(small, tmp_path):
    root, _ = small
    again = tmp_path / 'again'
    write_dataset(again, **SMALL)
    other = tmp_path / 'other'
    write_dataset(other, **{**SMALL, 'seed': 1})
    for action in ACTIONS:
        first, second = load_poses(root, action, 8), load_poses(again, action, 8)
        for key in first:
            np.testing.assert_array_equal(first[key], second[key])
        assert not np.allclose(load_poses(other, action, 8)['joints3d'], first['joints3d'])
        for index in range(8):
            assert frame_file(root, action, index).read_bytes() == \
                frame_file(again, action, index).read_bytes()
        assert frame_file(root, action, 0).read_bytes() != \
            frame_file(other, action, 0).read_bytes()


def test_poses_do_not_depend_on_image_size_or_length():
    short = sample_sequence(0, 3, 1, num_frames=8, img_size=32)
    longer = sample_sequence(0, 3, 1, num_frames=12, img_size=48)
    np.testing.assert_array_equal(short.joints3d, longer.joints3d[:8])
    assert short.motions == longer.motions


# ---------------------------------------------------------------------------- idempotence

def test_second_call_rewrites_nothing_and_changed_arguments_regenerate(tmp_path):
    root = tmp_path / 'pose'
    args = dict(SMALL, subjects=(2,), sequences_per_subject=1)
    meta = write_dataset(root, **args)
    stamps = {path: (root / path).stat().st_mtime_ns for path in all_files(root)}
    assert write_dataset(root, **args) == meta
    assert {path: (root / path).stat().st_mtime_ns for path in all_files(root)} == stamps

    changed = write_dataset(root, **dict(args, frames_per_sequence=6))
    assert changed['frames_per_sequence'] == 6 and changed != meta
    assert json.loads((root / 'meta.json').read_text()) == changed
    action = 'subject02_group1_time1'
    assert frame_file(root, action, 5).is_file() and not frame_file(root, action, 6).is_file()
    assert len(all_files(root)) == 1 + 2 * 6
    assert not list(tmp_path.glob('pose.*'))  # no staging or retired directories left

    (root / f'mmhpsd_events/{action}/poses/pose_0002.npz').unlink()  # incomplete: rebuild
    write_dataset(root, **dict(args, frames_per_sequence=6))
    assert len(all_files(root)) == 1 + 2 * 6


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    root = tmp_path / 'foreign'
    root.mkdir()
    (root / 'precious.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='refusing'):
        write_dataset(root, **dict(SMALL, subjects=(3,), sequences_per_subject=1))
    assert (root / 'precious.txt').read_text() == 'keep me'


# ------------------------------------------------------------------------------- geometry

def test_bone_lengths_are_constant_over_each_sequence(small):
    root, _ = small
    for action in ACTIONS:
        lengths = bone_lengths(load_poses(root, action, 8)['joints3d'])
        assert np.abs(lengths - lengths[0]).max() < 1e-9
        assert 0.02 < lengths.min() and lengths.max() < 0.6


def test_forward_kinematics_is_rigid_and_matches_a_hand_computation():
    rng = np.random.default_rng(3)
    offsets = rng.normal(0.0, 0.2, (24, 3))
    rotations = axis_angle_to_matrix(rng.normal(0.0, 1.5, (5, 24, 3)))
    root = rng.normal(size=(5, 3))
    positions, globals_ = forward_kinematics(offsets, rotations, root, return_rotations=True)
    lengths = bone_lengths(positions)
    expected = np.linalg.norm(offsets[1:], axis=-1)
    assert np.abs(lengths - expected).max() < 1e-9
    np.testing.assert_allclose(positions[:, 0], root)
    np.testing.assert_allclose(globals_ @ np.swapaxes(globals_, -1, -2),
                               np.broadcast_to(np.eye(3), globals_.shape), atol=1e-12)

    # A 3-joint chain: the root turns 90 degrees about z, the middle joint another 90.
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    chain = forward_kinematics(np.array([[0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]]),
                               np.stack([quarter, quarter, np.eye(3)]), np.array([5.0, 0, 0]),
                               parents=(-1, 0, 1))
    np.testing.assert_allclose(chain, [[5, 0, 0], [5, 1, 0], [3, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(np.array([0, 0, np.pi / 2])), quarter,
                               atol=1e-12)


def test_joints2d_is_the_pinhole_projection_of_joints3d(small):
    root, meta = small
    size = 32
    fx, fy, cx, cy = FX * size / 1280, FY * size / 1280, CX * size / 1280, CY * size / 1280
    assert meta['intrinsics'] == pytest.approx({'fx': fx, 'fy': fy, 'cx': cx, 'cy': cy})
    for action in ACTIONS:
        poses = load_poses(root, action, 8)
        x, y, z = np.moveaxis(poses['joints3d'], -1, 0)
        assert (z > 0).all()
        np.testing.assert_allclose(poses['joints2d'][..., 0], fx * x / z + cx, atol=1e-9)
        np.testing.assert_allclose(poses['joints2d'][..., 1], fy * y / z + cy, atol=1e-9)
        inside = ((poses['joints2d'][..., :2] >= 0) & (poses['joints2d'][..., :2] <= size - 1))
        assert inside.all(axis=-1).mean() > 0.9
        # Camera convention: y down, so the head is above (smaller y than) the ankles.
        assert (poses['joints3d'][:, 15, 1] < poses['joints3d'][:, 7, 1]).all()
        assert (3.0 < z[:, 0]).all() and (z[:, 0] < 5.3).all()  # pelvis 3.2-5.0 m away


def test_motion_is_not_trivial(small):
    root, _ = small
    sequences = [load_poses(root, action, 8)['joints3d'] for action in ACTIONS]
    for joints in sequences:
        step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean()
        assert step > 1e-3  # metres per frame, averaged over joints
    relative = [joints - joints[:, :1] for joints in sequences]
    for i in range(len(relative)):
        for j in range(i + 1, len(relative)):
            assert np.linalg.norm(relative[i] - relative[j], axis=-1).mean() > 0.01


def test_joint_angles_bend_knees_and_elbows_one_way():
    for index in range(40):
        motion = sample_motion(np.random.default_rng(index))
        angles = joint_angles(motion, np.arange(64) / 15.0)
        assert np.isfinite(angles).all()
        knees, elbows = angles[:, [4, 5]], angles[:, [18, 19]]
        assert (knees[..., 0] >= 0).all() and not knees[..., 1:].any()
        assert (elbows[..., 0] <= 0).all() and not elbows[..., 1:].any()


def test_poses_stay_plausible():
    for subject in (1, 4):
        for sequence in range(3):
            joints, head_forward, _, body, _ = sequence_poses(0, subject, sequence, 32)
            height = joints[..., 1].max(axis=1) - joints[:, 15, 1]  # feet to head joint
            assert (height > 0.5).all() and (height < 2.1).all()
            np.testing.assert_allclose(np.linalg.norm(head_forward, axis=-1), 1.0)
            assert 0.85 <= body.scale <= 1.15


# -------------------------------------------------------------------------------- pixels

def test_body_is_drawn_where_the_joints_project():
    seq = sample_sequence(0, 3, 0, num_frames=8, img_size=64)
    background = render_background(seq).astype(np.int32)
    ys, xs = np.mgrid[:64, :64]
    changed_near = []
    for index in range(8):
        frame = render_frame(seq, index).astype(np.int32)
        difference = np.abs(frame - background).sum(axis=-1)
        # The torso covers the projections of pelvis, spine and neck.
        torso = np.rint(seq.joints2d[index, [0, 3, 6, 9], :2]).astype(int)
        assert np.median(difference[torso[:, 1], torso[:, 0]]) > 60
        # Away from the body the frame is the background.
        distance = np.min(np.hypot(xs[..., None] - seq.joints2d[index, :, 0],
                                   ys[..., None] - seq.joints2d[index, :, 1]), axis=-1)
        assert difference[distance > 6].max() <= 2
        changed_near.append((difference[distance <= 1.5] > 30).mean())
    assert np.mean(changed_near) > 0.8


def test_frame_differences_follow_the_body(small):
    root, _ = small
    for action in ACTIONS:
        frames = np.stack([cv2.imread(str(frame_file(root, action, i))) for i in range(8)])
        poses = load_poses(root, action, 8)['joints2d']
        change = np.abs(np.diff(frames.astype(np.int32), axis=0)).sum(axis=-1)
        ys, xs = np.mgrid[:32, :32]
        near = np.zeros(change.shape, bool)
        for t in range(7):
            for joints in (poses[t], poses[t + 1]):
                near[t] |= np.min(np.hypot(xs[..., None] - joints[:, 0],
                                           ys[..., None] - joints[:, 1]), axis=-1) <= 3
        assert change[near].mean() > 3 * change[~near].mean()


def test_left_and_right_limbs_differ_in_grayscale():
    weights = np.array([0.299, 0.587, 0.114])
    for sequence in range(4):
        look = sample_sequence(0, 5, sequence, num_frames=2, img_size=32).appearance
        assert look.left @ weights - look.right @ weights >= 50


# ------------------------------------------------------------------------------ arguments

@pytest.mark.parametrize('changes, message', [
    (dict(subjects=()), 'subjects must not be empty'),
    (dict(subjects=(0,)), 'subject must be >= 1, got 0'),
    (dict(subjects=(100,)), 'subject must be <= 99, got 100'),
    (dict(subjects=(3, 3)), r'subjects must be distinct, got \[3, 3\]'),
    (dict(subjects=5), 'subjects must be a sequence of integers, got 5'),
    (dict(subjects=(1.5,)), 'subject must be an integer, got 1.5'),
    (dict(sequences_per_subject=0), 'sequences_per_subject must be >= 1, got 0'),
    (dict(frames_per_sequence=1), 'frames_per_sequence must be >= 2, got 1'),
    (dict(frames_per_sequence=10001), 'frames_per_sequence must be <= 10000, got 10001'),
    (dict(img_size=8), 'img_size must be >= 16, got 8'),
    (dict(img_size=32.0), 'img_size must be an integer, got 32.0'),
    (dict(seed=-1), 'seed must be >= 0, got -1'),
    (dict(seed=True), 'seed must be an integer, got True'),
])
def test_bad_arguments_raise_clear_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path / 'bad', **{**SMALL, **changes})
    assert not (tmp_path / 'bad').exists()


def test_bad_kinematics_arguments_raise():
    with pytest.raises(ValueError, match='offsets'):
        forward_kinematics(np.zeros((23, 3)), np.broadcast_to(np.eye(3), (24, 3, 3)))
    with pytest.raises(ValueError, match='rotations'):
        forward_kinematics(np.zeros((24, 3)), np.zeros((24, 3)))
    with pytest.raises(ValueError, match='parents'):
        forward_kinematics(np.zeros((2, 3)), np.broadcast_to(np.eye(3), (2, 3, 3)),
                           parents=(-1, 1))


def test_configs_generate_it_through_prepare_embedded_dataset(tmp_path):
    from mmengine.config import ConfigDict

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    root = tmp_path / 'pose'
    cfg = ConfigDict(embedded_dataset=dict(root=str(root), generator='pose_clips',
                                           subjects=(1, 3), sequences_per_subject=1,
                                           frames_per_sequence=4, img_size=32))
    meta = prepare_embedded_dataset(cfg)
    assert (root / 'meta.json').is_file() and meta is not None
    cfg.embedded_dataset.generator = 'faces'
    with pytest.raises(ValueError, match="generator must be one of .* got 'faces'"):
        prepare_embedded_dataset(cfg)
