"""mmspike.apis.inference: one inference function per task on the demo configs with random
weights (shapes, agreement with the model run by hand, file input equal to array input), and
the errors for bad input."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from helpers import REPO, calibrate_batch_norms, write_mp4
from mmspike.apis import (init_model, inference_pose, inference_recognizer, inference_segmentor,
                          load_video, resize_and_crop)

CONFIGS = osp.join(REPO, 'configs')


def random_video(frames, height, width, seed=0):
    """uint8 RGB frames [T, H, W, 3]: a gradient with a bright square moving over it."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:height, :width]
    video = []
    for t in range(frames):
        frame = np.stack([(xs * 5 + t * 9) % 256, (ys * 6) % 256,
                          np.full_like(xs, 60 + 10 * t)], -1).astype(np.uint8)
        frame[4 + t:16 + t, 3 + 2 * t:15 + 2 * t] = (255, 240, 30)
        video.append(frame)
    video = np.stack(video)
    noise = rng.integers(0, 20, video.shape)
    return np.clip(video.astype(int) + noise, 0, 255).astype(np.uint8)


# -- action recognition ------------------------------------------------------------------------
@pytest.fixture(scope='module')
def recognizer():
    """svformer_demo.py shrunk to clips of 4 frames of 32 x 32."""
    cfg = Config.fromfile(osp.join(CONFIGS, 'svformer_demo.py'))
    cfg.model.backbone.update(num_frames=4, img_size=32)
    cfg.model.cls_head.update(num_frames=4, feat_size=1)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'SampleFrames':
            step['clip_len'] = 4
        if step['type'] == 'Resize':
            step['scale'] = (32, 32)
    torch.manual_seed(0)
    model = init_model(cfg)
    clips = [torch.from_numpy(random_video(4, 32, 32, seed=s)).permute(3, 0, 1, 2)[None]
             for s in (1, 2)]  # [views=1, 3, T, H, W]; two: the head's BatchNorm sees 1 x 1
    inputs = model.data_preprocessor(dict(inputs=clips, data_samples=None))['inputs']
    return calibrate_batch_norms(model, lambda: model(inputs, mode='tensor', stage='head'))


def test_inference_recognizer_equals_the_model_on_the_clip(recognizer):
    from mmaction.structures import ActionDataSample
    video = random_video(4, 32, 32)
    result = inference_recognizer(recognizer, video, topk=3)
    assert result.num_frames == 4 and result.scores.shape == (8, )
    # 4 frames of 32 x 32: SampleFrames takes all of them in order and Resize keeps them
    inputs = torch.from_numpy(video).permute(3, 0, 1, 2)[None]  # [views=1, 3, T, H, W]
    with torch.no_grad():
        expected = recognizer.test_step(dict(inputs=[inputs],
                                             data_samples=[ActionDataSample()]))[0]
    np.testing.assert_allclose(result.scores, expected.pred_score.numpy(), rtol=1e-5,
                               atol=1e-6)
    order = np.argsort(-result.scores, kind='stable')[:3]
    assert [t['label'] for t in result.topk] == order.tolist() and result.label == order[0]
    from mmspike.datasets.synthetic.motion_clips import CLASSES
    assert [t['name'] for t in result.topk] == [CLASSES[i] for i in order]
    assert [t['score'] for t in result.topk] == pytest.approx(result.scores[order].tolist())


def test_inference_recognizer_samples_and_resizes_like_the_test_pipeline(recognizer, tmp_path):
    video = random_video(9, 40, 48)
    result = inference_recognizer(recognizer, video)
    assert result.num_frames == 9 and len(result.topk) == 5
    # the file and its decoded frames give the same scores
    path = write_mp4(tmp_path / 'clip.mp4', video)
    decoded = load_video(path)
    assert decoded.shape == video.shape and decoded.dtype == np.uint8
    from_file = inference_recognizer(recognizer, path)
    np.testing.assert_array_equal(from_file.scores, inference_recognizer(recognizer,
                                                                         decoded).scores)
    assert from_file.num_frames == 9
    # the scores depend on the frames (a dark video scores otherwise)
    dark = inference_recognizer(recognizer, video // 4)
    assert not np.allclose(dark.scores, result.scores)


def test_inference_recognizer_refuses_a_pipeline_without_decoding(recognizer):
    pipeline = recognizer.cfg.test_dataloader.dataset.pipeline
    recognizer.cfg.test_dataloader.dataset.pipeline = [
        s for s in pipeline if not s['type'].endswith('Decode')]
    try:
        with pytest.raises(ValueError, match=r'one \*Decode step .* found 0 in'):
            inference_recognizer(recognizer, random_video(4, 32, 32))
    finally:
        recognizer.cfg.test_dataloader.dataset.pipeline = pipeline


# -- 3D pose -----------------------------------------------------------------------------------
def calibrated(model, frames):
    """``model`` with the BatchNorm statistics of ``frames`` (so that its random-init neurons
    fire), in eval mode."""
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2)[None]
    inputs = model.data_preprocessor(dict(inputs=clip))['inputs']
    return calibrate_batch_norms(model, lambda: model.extract_feat(inputs))


@pytest.fixture(scope='module')
def pose_model():
    torch.manual_seed(0)
    model = init_model(osp.join(CONFIGS, 'spikevideoformer_pose_demo.py'))
    return calibrated(model, random_video(8, 64, 64, seed=1))


def test_inference_pose_joints_of_every_frame(pose_model):
    video = random_video(10, 40, 48)
    result = inference_pose(pose_model, video)
    assert result.size == 64 and result.unit_scale == 1000
    assert result.joints.shape == (10, 24, 3) and result.joints.dtype == np.float32
    # clips of the backbone's 8 frames: 0-8, then 2-10 for the last two frames
    assert result.windows == [(0, 8), (2, 10)]
    clip = torch.from_numpy(np.stack([resize_and_crop(f, 64) for f in video]))
    clip = clip.permute(3, 0, 1, 2)[None]
    with torch.no_grad():
        outs = []
        for start in (0, 2):
            inputs = pose_model.data_preprocessor(
                dict(inputs=clip[:, :, start:start + 8]))['inputs']
            outs.append(pose_model.head.forward(pose_model.extract_feat(inputs))[0].numpy())
    np.testing.assert_allclose(result.joints[:2], outs[0][:2], rtol=1e-5, atol=1e-6)
    # frames 2-7 are in both clips: the mean of the two
    np.testing.assert_allclose(result.joints[2:8], (outs[0][2:] + outs[1][:6]) / 2, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(result.joints[8:], outs[1][6:], rtol=1e-5, atol=1e-6)
    assert not np.allclose(outs[0][2:], outs[1][:6])  # the windows see different frames


def test_inference_pose_errors(pose_model, recognizer, tmp_path):
    short = inference_pose(pose_model, random_video(5, 64, 64))  # padded with its last frame
    assert short.joints.shape == (5, 24, 3) and short.windows == [(0, 5)]
    with pytest.raises(TypeError, match=r'inference_pose takes a VideoPoseLifter .*, got '
                                        r'Recognizer3D'):
        inference_pose(recognizer, random_video(8, 64, 64))
    with pytest.raises(TypeError, match='inference_recognizer takes a BaseRecognizer'):
        inference_recognizer(pose_model, random_video(8, 64, 64))
    with pytest.raises(ValueError, match=r'array \[T, H, W, 3\] \(RGB uint8\), got an array of '
                                         r'shape \(8, 64, 64\)'):
        inference_pose(pose_model, np.zeros((8, 64, 64), np.uint8))
    missing = str(tmp_path / 'missing.mp4')
    with pytest.raises(FileNotFoundError, match=f'video {missing!r} does not exist'):
        inference_pose(pose_model, missing)


# -- segmentation ------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def segmentor():
    torch.manual_seed(0)
    model = init_model(osp.join(CONFIGS, 'spikevideoformer_seg_demo.py'))
    return calibrated(model, random_video(8, 48, 48, seed=1))


def test_inference_segmentor_class_map_of_every_frame(segmentor):
    from mmseg.structures import SegDataSample
    video = random_video(8, 40, 48)
    result = inference_segmentor(segmentor, video)
    assert result.class_maps.shape == (8, 40, 48) and result.class_maps.dtype == np.int64
    assert result.classes == ['sky', 'ground', 'ball', 'box', 'kite', 'bar']
    assert result.class_maps.min() >= 0 and result.class_maps.max() < 6
    assert len(np.unique(result.class_maps)) > 1
    clip = torch.from_numpy(video).permute(3, 0, 1, 2)  # [3, T, H, W] uint8
    sample = SegDataSample(metainfo=dict(ori_shape=(40, 48), img_shape=(40, 48)))
    with torch.no_grad():
        expected = segmentor.test_step(dict(inputs=[clip], data_samples=[sample]))[0]
    np.testing.assert_array_equal(result.class_maps, expected.pred_sem_seg.data.numpy())


def test_inference_segmentor_errors(segmentor):
    short = inference_segmentor(segmentor, random_video(6, 32, 32))  # padded
    assert short.class_maps.shape == (6, 32, 32)
    with pytest.raises(TypeError, match='inference_segmentor takes a VideoEncoderDecoder'):
        inference_segmentor(torch.nn.Linear(2, 2), random_video(8, 32, 32))
