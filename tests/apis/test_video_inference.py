"""inference_video: one prediction per frame for the three tasks, the same predictions as
``tools/test.py`` on the test clips of each demo config (trained 2 iterations on tiny generated
datasets), videos longer and shorter than one window, and its errors."""
import json
import os
import os.path as osp
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (REPO, calibrate_batch_norms, run_tool, shrink_action_config,
                     train_two_iterations, write_mp4)
from mmengine.config import Config

from mmspike.apis import init_model
from mmspike.apis.video_inference import VideoResult, inference_video, sliding_windows

CONFIGS = osp.join(REPO, 'configs')
TEST_TOOL = osp.join(REPO, 'tools', 'test.py')


def random_video(frames, height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), np.uint8)


def without_embedded_data(cfg):
    """No embedded dataset (EmbeddedDatasetHook writes nothing): the tests write their own
    tiny one."""
    cfg.embedded_dataset = None
    return cfg


def dump_predictions(cfg_path, ckpt, work_dir: Path) -> list:
    """Run ``tools/test.py --dump`` and return the dumped predictions (test samples in order)."""
    dump = str(work_dir / 'predictions.pkl')
    run_tool([TEST_TOOL, cfg_path, ckpt, '--work-dir', str(work_dir / 'test'), '--dump', dump],
             cwd=work_dir)
    with open(dump, 'rb') as f:
        return pickle.load(f)


def train_and_dump(cfg, work_dir: Path):
    """Train ``cfg`` 2 iterations in this process (so that its BatchNorms hold data
    statistics and its neurons fire), then run ``tools/test.py --dump`` on the checkpoint;
    returns the model loaded from it, the dumped predictions and the config file."""
    from mmengine.runner import Runner
    train_two_iterations(cfg, work_dir)
    cfg.log_level = 'WARNING'
    Runner.from_cfg(cfg).train()
    cfg_path = str(work_dir / 'config.py')
    cfg.dump(cfg_path)
    ckpt = str(work_dir / 'iter_2.pth')
    return init_model(cfg_path, ckpt), dump_predictions(cfg_path, ckpt, work_dir), cfg_path


def calibrate_and_dump(cfg, work_dir: Path, scope: str):
    """A random-init model of ``cfg`` whose BatchNorms hold the statistics of the first test
    clip (its neurons fire: the predictions depend on the input), saved as a checkpoint; then
    ``tools/test.py --dump`` on it.  Returns the model, the predictions, the config file and
    the test dataset."""
    from mmengine.registry import DATASETS
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg.work_dir = str(work_dir)
    cfg_path = str(work_dir / 'config.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_model(cfg_path)
    with DATASETS.switch_scope_and_registry(scope) as registry:
        dataset = registry.build(Config.fromfile(cfg_path).test_dataloader.dataset)
    clip = dataset[0]['inputs'][None, :, :model.backbone.num_frames]  # one window
    inputs = model.data_preprocessor(dict(inputs=clip))['inputs']
    calibrate_batch_norms(model, lambda: model.extract_feat(inputs))
    ckpt = str(work_dir / 'calibrated.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return model, dump_predictions(cfg_path, ckpt, work_dir), cfg_path, dataset


def test_sliding_windows():
    assert sliding_windows(10, 4, 2) == [0, 2, 4, 6]
    assert sliding_windows(11, 4, 3) == [0, 3, 6, 7]  # the last one ends at the last frame
    assert sliding_windows(3, 4, 2) == [0]
    with pytest.raises(ValueError, match='span and stride must be >= 1, got 4 and 0'):
        sliding_windows(10, 4, 0)


# -- action ------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def action_run(tmp_path_factory):
    from mmspike.datasets.synthetic.motion_clips import write_dataset
    root = tmp_path_factory.mktemp('action')
    clips = str(root / 'clips')
    write_dataset(clips, train_per_class=1, val_per_class=1, test_per_class=1, num_frames=8,
                  size=32, seed=0)
    cfg = Config.fromfile(osp.join(CONFIGS, 'svformer_demo.py'))
    without_embedded_data(shrink_action_config(cfg, clips, 8, 32))
    from mmspike.datasets.synthetic.motion_clips import CLASSES
    cfg.class_names = list(CLASSES)  # the embedded dataset's, which names them otherwise
    model, predictions, cfg_path = train_and_dump(cfg, root / 'work')
    names = [line.split()[0] for line in
             Path(clips, 'motion_clips_test_list_videos.txt').read_text().splitlines()]
    return model, predictions, [osp.join(clips, 'videos', name) for name in names]


def test_action_video_scores_equal_the_test_tool(action_run):
    model, predictions, videos = action_run
    assert len(predictions) == len(videos) == 8
    labels = []
    for video, expected in zip(videos, predictions):
        result = inference_video(model, video, energy=False)
        np.testing.assert_allclose(result.scores, expected['pred_score'].numpy(), rtol=1e-5,
                                   atol=1e-6)
        labels.append(int(result.scores.argmax()))
    assert len(set(labels)) > 1 or np.ptp([p['pred_score'].numpy() for p in predictions]) > 0


def test_action_running_label_of_every_frame(action_run):
    model = action_run[0]
    frames = random_video(3 * 8 + 5, 40, 48)
    result = inference_video(model, frames, stride=4)
    assert result.task == 'action' and result.num_frames == 29
    assert result.frame_labels.shape == (29, ) and result.frame_scores.shape == (29, )
    # windows of 8 frames every 4 frames, the last one ending at the last frame
    starts = [0, 4, 8, 12, 16, 20, 21]
    assert result.windows == [list(range(s, s + 8)) for s in starts]
    assert result.window_scores.shape == (7, 8)
    # frame t: the label of the last window that ended at or before it
    ends = np.array([s + 7 for s in starts])
    for t in range(29):
        w = max(int(np.searchsorted(ends, t, side='right')) - 1, 0)
        assert result.frame_labels[t] == result.window_scores[w].argmax()
        assert result.frame_scores[t] == result.window_scores[w].max()
    # every window equals the model on that clip (the test pipeline: resize to 32 x 32)
    from mmspike.apis import inference_recognizer
    clip = inference_recognizer(model, frames[20:28])
    np.testing.assert_allclose(result.window_scores[5], clip.scores, rtol=1e-5, atol=1e-6)
    assert np.all(result.energy_mj > 0) and np.isfinite(result.energy_mj).all()
    data = json.loads(json.dumps(result.to_dict()))
    assert len(data['frames']) == 29 and data['frames'][3]['name'] == \
        result.class_names[result.frame_labels[3]]
    assert data['energy_mj'] == pytest.approx(result.energy_mj.sum())
    sample = result.to_data_samples()[0]
    assert sample.pred_label.item() == int(result.scores.argmax())


def test_action_short_video_and_mp4(action_run, tmp_path):
    model = action_run[0]
    frames = random_video(5, 32, 32, seed=2)
    result = inference_video(model, write_mp4(tmp_path / 'short.mp4', frames), energy=False)
    assert result.num_frames == 5 and result.fps == pytest.approx(8)
    assert result.windows == [[0, 1, 2, 3, 4]]  # one window, the last frame repeated
    assert np.isnan(result.energy_mj).all() and result.to_dict()['energy_mj'] is None


# -- pose --------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def pose_run(tmp_path_factory):
    from mmspike.datasets.synthetic.pose_clips import write_dataset
    root = tmp_path_factory.mktemp('pose')
    write_dataset(root / 'data', subjects=(1, 2, 3), sequences_per_subject=1,
                  frames_per_sequence=24, img_size=64)
    cfg = without_embedded_data(
        Config.fromfile(osp.join(CONFIGS, 'spikevideoformer_pose_demo.py')))
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = str(root / 'data')
    cfg.model.backbone.zero_init_residual = False  # blocks that see the input
    return calibrate_and_dump(cfg, root / 'work', 'mmpose')


def test_pose_joints_equal_the_test_tool_on_its_clips(pose_run):
    model, predictions, cfg_path, dataset = pose_run
    assert len(dataset) == len(predictions) >= 2
    for index, expected in enumerate(predictions):
        # the clip's frames as the test pipeline cut them (the box of its 2D joints)
        frames = dataset[index]['inputs'].permute(1, 2, 3, 0).numpy()
        result = inference_video(model, frames, frame_gap=1, energy=False)
        assert result.windows == [list(range(8))]
        np.testing.assert_allclose(result.joints, expected['pred_instances']['keypoints'],
                                   rtol=1e-5, atol=1e-6)
    assert not np.allclose(predictions[0]['pred_instances']['keypoints'],
                           predictions[-1]['pred_instances']['keypoints'])


def test_pose_one_pose_per_frame_of_a_long_video(pose_run):
    model = pose_run[0]
    frames = random_video(3 * 8 + 5, 48, 80)
    result = inference_video(model, frames)
    assert result.task == 'pose' and result.joints.shape == (29, 24, 3)
    assert result.parents is not None and len(result.parents) == 24
    # two streams (even and odd frames: the test dataset's gap 2), clips of 8 every 4
    even, odd = list(range(0, 29, 2)), list(range(1, 29, 2))
    assert result.windows[0] == even[:8] and result.windows[1] == even[4:12]
    assert [w for w in result.windows if w[0] % 2] [0] == odd[:8]
    assert all(i in sum(result.windows, []) for i in range(29))
    # a frame in one clip only gets that clip's joints
    with torch.no_grad():
        from mmspike.apis.video_inference import _pose_frames
        from mmspike.neurons import reset_neurons
        clip = _pose_frames(frames, 64)[:, :, even[:8]]
        reset_neurons(model)
        inputs = model.data_preprocessor(dict(inputs=clip))['inputs']
        expected = model.head.forward(model.extract_feat(inputs))[0].numpy()
    np.testing.assert_allclose(result.joints[[0, 2, 4, 6]], expected[:4], rtol=1e-5, atol=1e-6)
    assert np.all(result.energy_mj > 0)
    frame = json.loads(json.dumps(result.frame_dict(7)))
    assert np.allclose(frame['joints'], result.joints[7], atol=1e-5)
    samples = result.to_data_samples()
    assert len(samples) == 29 and samples[3].pred_instances.keypoints.shape == (1, 24, 3)


def test_pose_short_video(pose_run):
    result = inference_video(pose_run[0], random_video(3, 64, 64), frame_gap=1, energy=False)
    assert result.joints.shape == (3, 24, 3) and result.windows == [[0, 1, 2]]


# -- segmentation ------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def seg_run(tmp_path_factory):
    from mmspike.datasets.synthetic.seg_clips import write_dataset
    root = tmp_path_factory.mktemp('seg')
    write_dataset(root / 'data', train_videos=2, val_videos=1, test_videos=2,
                  frames_per_video=12, img_size=48)
    cfg = without_embedded_data(
        Config.fromfile(osp.join(CONFIGS, 'spikevideoformer_seg_demo.py')))
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = str(root / 'data')
    return calibrate_and_dump(cfg, root / 'work', 'mmseg')


def test_seg_class_maps_equal_the_test_tool(seg_run):
    model, predictions, cfg_path, dataset = seg_run
    assert len(dataset) == len(predictions) == 2
    for index, expected in enumerate(predictions):
        frames = dataset[index]['inputs'].permute(1, 2, 3, 0).numpy()
        result = inference_video(model, frames, energy=False)
        assert result.class_maps.shape == (12, 48, 48)
        np.testing.assert_array_equal(result.class_maps, expected['pred_sem_seg']['data'])
        # windows of 8 every 4: 0-7, then 4-11
        assert result.windows == [list(range(0, 8)), list(range(4, 12))]
        assert len(np.unique(result.class_maps)) > 1  # the maps depend on the pixels


def test_seg_one_map_per_frame_and_short_video(seg_run):
    model = seg_run[0]
    result = inference_video(model, random_video(3 * 8 + 5, 40, 56))
    assert result.class_maps.shape == (29, 40, 56) and result.palette is not None
    assert result.class_names == ['sky', 'ground', 'ball', 'box', 'kite', 'bar']
    assert np.all(result.energy_mj > 0)
    # frames read by two windows are charged twice
    reads = np.bincount(np.concatenate(result.windows), minlength=29)
    per_read = result.energy_mj / reads
    assert np.ptp(per_read[reads > 0]) < 0.5 * per_read.max()
    frame = result.frame_dict(0)
    assert sum(frame['class_fractions'].values()) == pytest.approx(1.0, abs=1e-4)
    assert len(result.to_data_samples()) == 29
    short = inference_video(model, random_video(3, 40, 40), energy=False)
    assert short.class_maps.shape == (3, 40, 40)


# -- inputs and errors -------------------------------------------------------------------------
def test_frame_folder_and_errors(action_run, tmp_path):
    import cv2
    model = action_run[0]
    frames = random_video(6, 32, 32, seed=3)
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{i:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (folder / 'notes.txt').write_text('not a frame')
    from_folder = inference_video(model, str(folder), energy=False)
    from_array = inference_video(model, frames, energy=False)
    np.testing.assert_array_equal(from_folder.scores, from_array.scores)
    (folder / '00009.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='cannot decode frame .*00009.png'):
        inference_video(model, str(folder))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='holds no image'):
        inference_video(model, str(empty))
    with pytest.raises(TypeError, match='inference_video runs MMAction2 recognizers, '
                                        'VideoPoseLifter and VideoEncoderDecoder models; got '
                                        'Linear'):
        inference_video(torch.nn.Linear(2, 2), frames)
    with pytest.raises(ValueError, match='stride must be a positive int, got 0'):
        inference_video(model, frames, stride=0)
    with pytest.raises(ValueError, match='frame_gap is for pose models, got a action model'):
        inference_video(model, frames, frame_gap=2)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        inference_video(model, os.path.join(tmp_path, 'missing.mp4'))
    with pytest.raises(ValueError, match=r'task must be one of'):
        VideoResult(task='depth', num_frames=1, energy_mj=np.zeros(1))
