"""Videos of predicted vs ground-truth 3D skeletons: the renderer, the MP4 writer, PoseVideoHook
and ``tools/test.py --show-dir`` on a 2-iteration checkpoint of the pose demo config."""
import logging
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mmengine.structures import BaseDataElement, InstanceData

from helpers import REPO, run_tool, shrink_pose_config
from mmspike.datasets.synthetic.pose_clips import SMPL_PARENTS, sequence_poses, write_dataset
from mmspike.hooks.pose import PoseVideoHook
from mmspike.visualization.pose import (GT_COLOUR, PRED_COLOUR, edges_from_parents, per_frame_mpjpe,
                                   render_pose_frame, write_pose_video)

T, J = 4, len(SMPL_PARENTS)


@pytest.fixture(scope='module')
def clip():
    """(frames [T, 48, 64, 3] uint8, pred [T, J, 3], gt [T, J, 3]): a generated motion,
    root-relative, and a prediction 3 cm off on every axis."""
    joints = sequence_poses(0, 3, 0, 16)[0][:T]
    gt = joints - joints[:, 1:3].mean(axis=1, keepdims=True)
    pred = gt + 0.03
    frames = np.zeros((T, 48, 64, 3), np.uint8)
    frames[..., 2] = np.arange(T)[:, None, None] * 60
    return frames, pred, gt


def colour_pixels(image, colour, tol=12):
    return int((np.abs(image.astype(int) - np.array(colour)).max(axis=-1) <= tol).sum())


def test_render_shape_colours_and_frame(clip):
    frames, pred, gt = clip
    image = render_pose_frame(frames[1], pred[1], gt[1], SMPL_PARENTS, panel_size=240)
    assert image.dtype == np.uint8 and image.shape == (240, 240 + 320, 3)
    view, left = image[:, 320:], image[:, :320]
    assert colour_pixels(view, GT_COLOUR) > 50 and colour_pixels(view, PRED_COLOUR) > 50
    assert colour_pixels(left, frames[1, 0, 0]) > 0.9 * left.shape[0] * left.shape[1]
    # without ground truth: only the prediction
    alone = render_pose_frame(None, pred[1], None, edges=edges_from_parents(SMPL_PARENTS),
                              panel_size=240)
    assert colour_pixels(alone, GT_COLOUR) == 0 and colour_pixels(alone, PRED_COLOUR) > 50


def test_mpjpe_and_edges():
    gt = np.zeros((2, 3, 3))
    pred = gt.copy()
    pred[1, :, 0] = 0.01
    np.testing.assert_allclose(per_frame_mpjpe(pred, gt), [0.0, 10.0])
    assert edges_from_parents([-1, 0, 1]) == [(0, 1), (1, 2)]


@pytest.mark.parametrize('change, message', [
    (dict(pred=np.zeros((J, 2))), r'pred must have shape \[J, 3\].*\(24, 2\)'),
    (dict(gt=np.zeros((J - 1, 3))), 'gt has 23 joints, expected 24'),
    (dict(parents=SMPL_PARENTS[:-1]), 'parents has 23 entries, expected 24'),
    (dict(parents=list(SMPL_PARENTS[:-1]) + [99]), r'parents\[23\] = 99 is not -1'),
    (dict(frame_rgb=np.zeros((8, 8, 4), np.uint8)), r'\[H, W, 3\].*\(8, 8, 4\)'),
    (dict(pred=np.full((J, 3), np.nan)), 'non-finite'),
])
def test_render_errors(clip, change, message):
    frames, pred, gt = clip
    args = dict(frame_rgb=frames[0], pred=pred[0], gt=gt[0], parents=SMPL_PARENTS)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        render_pose_frame(**args)


def test_write_pose_video_round_trip(clip, tmp_path):
    frames, pred, gt = clip
    path = write_pose_video(tmp_path / 'sub' / 'clip.mp4', frames, pred, gt, SMPL_PARENTS,
                            fps=5, panel_size=160, title='clip')
    capture = cv2.VideoCapture(path)
    assert capture.isOpened()
    read = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        read.append(image)
    capture.release()
    assert len(read) == T
    assert read[0].shape == (160, 160 + 214, 3)  # 64 x 48 frames scaled to 160 high, even width


def test_write_pose_video_errors(clip, tmp_path):
    frames, pred, gt = clip
    with pytest.raises(ValueError, match='frames has 3 images, expected 4'):
        write_pose_video(tmp_path / 'a.mp4', frames[:3], pred, gt, SMPL_PARENTS)
    with pytest.raises(ValueError, match='gt has 3 frames, pred has 4'):
        write_pose_video(tmp_path / 'a.mp4', frames, pred, gt[:3], SMPL_PARENTS)
    with pytest.raises(ValueError, match=r'\[T, J, 3\].*\(24, 3\)'):
        write_pose_video(tmp_path / 'a.mp4', frames, pred[0], gt, SMPL_PARENTS)

    # a failed call leaves the file that was there and no partial file
    (tmp_path / 'a.mp4').write_bytes(b'kept')
    with pytest.raises(ValueError, match='frames\\[2\\] must be an RGB image'):
        bad = list(frames)
        bad[2] = np.zeros((5, 5, 4), np.uint8)
        write_pose_video(tmp_path / 'a.mp4', bad, pred, gt, SMPL_PARENTS, panel_size=96)
    assert (tmp_path / 'a.mp4').read_bytes() == b'kept'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.mp4']


# --------------------------------------------------------------------------------------------
class _Logger:
    def __init__(self):
        self.records = []

    def info(self, message):
        self.records.append((logging.INFO, message))

    def warning(self, message):
        self.records.append((logging.WARNING, message))


def fake_runner(work_dir, metainfo):
    dataset = SimpleNamespace(metainfo=metainfo)
    return SimpleNamespace(work_dir=str(work_dir), logger=_Logger(),
                           test_dataloader=SimpleNamespace(dataset=dataset))


def pose_sample(pred, gt, img_paths, frame_ids, action):
    sample = BaseDataElement(metainfo=dict(img_paths=img_paths, frame_ids=frame_ids,
                                           action=action))
    sample.pred_instances = InstanceData(keypoints=pred.astype(np.float32))
    sample.gt_instances = InstanceData(lifting_target=gt.astype(np.float32))
    return sample


def test_hook_writes_first_clips_and_skips_samples_without_targets(clip, tmp_path):
    frames, pred, gt = clip
    paths = []
    for t, frame in enumerate(frames):
        paths.append(str(tmp_path / f'f{t}.jpg'))
        cv2.imwrite(paths[-1], cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    # links only (no parents): edges are taken from them
    links = edges_from_parents(SMPL_PARENTS)
    runner = fake_runner(tmp_path / 'work', dict(skeleton_links=links))
    hook = PoseVideoHook('vis', max_clips=2, fps=4)
    hook.before_test(runner)
    no_target = BaseDataElement(metainfo=dict(action='x'))
    no_target.pred_instances = InstanceData(keypoints=pred)
    batch = [no_target, no_target,
             pose_sample(pred, gt, paths, [10, 12, 14, 16], 'subject01_group1_time1'),
             pose_sample(pred, gt, None, None, None),
             pose_sample(pred, gt, paths, [0, 2, 4, 6], 'subject01_group1_time1')]
    hook.after_test_iter(runner, 0, None, batch)
    hook.after_test_iter(runner, 1, None, batch)  # max_clips reached: nothing more
    vis = tmp_path / 'work' / 'vis'
    assert hook.written == [str(vis / 'subject01_group1_time1_10.mp4'), str(vis / 'clip0001.mp4')]
    assert sorted(p.name for p in vis.iterdir()) == ['clip0001.mp4',
                                                     'subject01_group1_time1_10.mp4']
    warnings = [m for level, m in runner.logger.records if level == logging.WARNING]
    assert len([m for m in warnings if 'lifting_target' in m]) == 1, warnings
    assert len([m for m in warnings if 'img_paths' in m]) == 1, warnings


def test_hook_without_3d_outputs_writes_nothing(tmp_path):
    runner = fake_runner(tmp_path, {})
    hook = PoseVideoHook(str(tmp_path / 'vis'))
    hook.before_test(runner)
    sample = BaseDataElement(metainfo=dict(img_paths=['a.jpg']))
    sample.pred_score = np.ones(3)
    hook.after_test_iter(runner, 0, None, [sample, sample])
    hook.after_test(runner)
    assert not (tmp_path / 'vis').exists() and hook.written == []
    assert len([m for level, m in runner.logger.records if level == logging.WARNING]) == 1


# --------------------------------------------------------------------------------------------
def test_tools_test_show_dir_writes_videos(tmp_path):
    pytest.importorskip('mmpose')
    from mmengine.config import Config

    root = tmp_path / 'mmhpsd'
    write_dataset(root, subjects=(1, 3), sequences_per_subject=1, frames_per_sequence=12,
                  img_size=32)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'spikevideoformer_pose_demo.py'))
    work_dir = tmp_path / 'work'
    shrink_pose_config(cfg, root, work_dir, clip_len=T, size=32)
    cfg_path = tmp_path / 'pose_demo_tiny.py'
    cfg.dump(str(cfg_path))

    tools = osp.join(REPO, 'tools')
    run_tool([osp.join(tools, 'train.py'), cfg_path, '--work-dir', work_dir], tmp_path)
    ckpt = (work_dir / 'last_checkpoint').read_text().strip()
    out = run_tool([osp.join(tools, 'test.py'), cfg_path, ckpt, '--work-dir', work_dir,
                    '--show-dir', 'vis'], tmp_path)
    # the test split is subject 1's one action of 12 frames: one clip (T=4, gap 2, stride 8)
    videos = sorted((work_dir / 'vis').glob('*.mp4'))
    assert [v.name for v in videos] == ['subject01_group1_time1_0.mp4'], out
    assert f'pose videos (1) in {work_dir / "vis"}' in out
    capture = cv2.VideoCapture(str(videos[0]))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == T
