"""BasePoseClipDataset: clip cutting with root-relative targets, the refusal of a dataset
without clips, the metainfo, and skeleton_metainfo, on a dataset of in-memory sequences."""
import warnings

import numpy as np
import pytest

pytest.importorskip('mmpose')

from mmspike.datasets.pose.base import (BasePoseClipDataset,  # noqa: E402
                                        joint_side, lower_body_joints, skeleton_metainfo)

PARENTS = (-1, 0, 1)
NAMES = ('root', 'left_knee', 'right_knee')


class ToyClipDataset(BasePoseClipDataset):
    """Sequences of 3 joints given as arrays: ``{name: joints [N, 3, 3]}``."""

    METAINFO = skeleton_metainfo('toy', NAMES, PARENTS, (0, 2, 1), colour='grey')
    ROOT_JOINTS = (1, 2)
    SEQUENCE_KIND = 'walk'

    def __init__(self, sequences, **kwargs):
        self.sequences = sequences
        super().__init__(**kwargs)

    def load_data_list(self):
        data_list, too_short = [], []
        for name, joints in self.sequences.items():
            clips = self._sequence_clips(
                joints, per_frame=dict(frame_ids=list(range(10, 10 + len(joints)))),
                sequence=dict(walk=name), boxes=joints[:, :, :2])
            if not clips:
                too_short.append(f'{name} ({len(joints)} frames)')
            data_list.extend(clips)
        return self._finish_data_list(data_list, too_short, 'the toy walks', ['s1'],
                                      mean_pose=lambda: np.zeros((3, 3), np.float32))


def walk(frames, seed=0):
    return np.random.default_rng(seed).normal(size=(frames, 3, 3)).astype(np.float32)


def test_skeleton_metainfo():
    meta = ToyClipDataset.METAINFO
    assert meta['dataset_name'] == 'toy' and meta['num_keypoints'] == 3
    assert meta['joint_names'] == list(NAMES) and meta['parents'] == list(PARENTS)
    assert meta['keypoint_id2name'] == {0: 'root', 1: 'left_knee', 2: 'right_knee'}
    assert meta['keypoint_name2id'] == {'root': 0, 'left_knee': 1, 'right_knee': 2}
    assert meta['skeleton_links'] == [(0, 1), (1, 2)]
    assert meta['flip_indices'] == [0, 2, 1] and meta['colour'] == 'grey'


def test_skeleton_metainfo_in_mmpose_format():
    """MMPose's dataset-info keys, and what its parser derives from them, held as it derives
    them: the parser reads the class's METAINFO (init_model without a checkpoint)."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    meta = ToyClipDataset.METAINFO
    assert meta['keypoint_info'][1] == dict(name='left_knee', id=1, color=[0, 255, 0],
                                            type='lower', swap='right_knee')
    assert meta['keypoint_info'][0]['swap'] == '' and meta['keypoint_info'][0]['type'] == 'lower'
    assert meta['skeleton_info'] == {0: dict(link=('root', 'left_knee'), id=0, color=[0, 255, 0]),
                                     1: dict(link=('left_knee', 'right_knee'), id=1,
                                             color=[255, 128, 0])}
    assert meta['joint_weights'] == [1.0] * 3 and meta['sigmas'].shape == (0, )
    parsed = parse_pose_metainfo(meta)
    assert parsed['skeleton_links'] == meta['skeleton_links'] == [(0, 1), (1, 2)]
    for key, value in parsed.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(meta[key], value, err_msg=key)
        else:
            assert meta[key] == value, key
    np.testing.assert_array_equal(meta['keypoint_colors'],
                                  [[51, 153, 255], [0, 255, 0], [255, 128, 0]])
    assert meta['keypoint_colors'].dtype == np.uint8


def test_lower_body_sides_and_checks():
    # SMPL: the pelvis and everything below the hips; Human3.6M: joints 0-6
    from mmspike.datasets.synthetic.pose_clips import SMPL_JOINT_NAMES, SMPL_PARENTS
    assert lower_body_joints(SMPL_JOINT_NAMES, SMPL_PARENTS) == [0, 1, 2, 4, 5, 7, 8, 10, 11]
    assert [joint_side(n) for n in ('L_hip', 'right_wrist', 'spine', 'Left_eye', 'lhip')] == \
        ['left', 'right', 'centre', 'left', 'centre']
    with pytest.raises(ValueError, match='3 joint names need as many parents and flip '
                                         'indices, got 2 and 3'):
        skeleton_metainfo('toy', NAMES, (-1, 0), (0, 2, 1))


def test_clips_targets_and_metainfo():
    joints = walk(9)
    dataset = ToyClipDataset(dict(a=joints), clip_len=3, gap=2, stride=3)
    # span 5: starts 0 and 3 fit in 9 frames, 6 does not
    assert len(dataset) == 2
    info = dataset[1]
    assert info['frame_ids'] == [13, 15, 17] and info['walk'] == 'a'
    assert info['clip_len'] == 3 and info['gap'] == 2
    pos = [3, 5, 7]
    root = joints[pos][:, [1, 2]].mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(info['joints3d'], joints[pos])
    np.testing.assert_allclose(info['lifting_target_root'], root, rtol=1e-6)
    np.testing.assert_allclose(info['lifting_target'], joints[pos] - root, rtol=1e-6)
    assert info['lifting_target'].dtype == np.float32
    np.testing.assert_array_equal(info['lifting_target_visible'], np.ones((3, 3)))
    points = joints[pos][:, :, :2].reshape(-1, 2)
    np.testing.assert_allclose(info['bbox'], [*points.min(0), *points.max(0)], rtol=1e-6)
    meta = dataset.metainfo
    assert meta['root_joints'] == [1, 2] and meta['subjects'] == ['s1']
    assert (meta['clip_len'], meta['gap'], meta['stride']) == (3, 2, 3)
    np.testing.assert_array_equal(meta['mean_pose'], np.zeros((3, 3)))
    assert 'mean_pose' not in ToyClipDataset(dict(a=joints), clip_len=3,
                                             compute_mean_pose=False).metainfo


def test_short_sequences_are_skipped_or_refused():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dataset = ToyClipDataset(dict(a=walk(4), b=walk(2)), clip_len=2, gap=2)
    assert len(dataset) == 1
    assert [str(w.message) for w in caught if 'ToyClipDataset' in str(w.message)] == [
        'ToyClipDataset: skipping walk b (2 frames): clip_len=2 x gap=2 needs 3 frames '
        '((clip_len - 1) * gap + 1)']
    with pytest.raises(ValueError, match=r'no walk of the toy walks is long enough for one '
                                         r'clip: .* needs 5 frames .*; found a \(4 frames\)'):
        ToyClipDataset(dict(a=walk(4)), clip_len=3, gap=2)


@pytest.mark.parametrize('kwargs, message', [
    (dict(clip_len=0), 'clip_len must be a positive integer, got 0'),
    (dict(gap=True), 'gap must be a positive integer, got True'),
    (dict(root_joints=(3, )), r'root_joints must be a non-empty list of joint indices in '
                              r'\[0, 3\), got \(3,\)'),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ToyClipDataset(dict(a=walk(9)), **kwargs)
