"""Frame-by-frame (streaming) inference (mmspike.apis.streaming): SpikingClsHead's per-step
logits, StreamingRecognizer, make_streamer and stream_video, and tools/stream.py end to end on
small MP4s, with its errors."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmspike.action  # noqa: F401  (registers SpikingClsHead in mmaction's registry)
import mmspike.pose  # noqa: F401  (registers VideoPoseLifter in mmpose's registry)
from helpers import calibrate_batch_norms, run_tool
from mmspike.apis import (JsonFrameWriter, VideoFrames, build_model, frame_size_from_config,
                          load_config, load_weights, make_streamer, preprocess_frame,
                          stream_video)
from mmspike.estimators.action import StreamingRecognizer
from mmspike.heads.action import SpikingClsHead
from mmspike.neurons import reset_neurons

from helpers import REPO  # noqa: E402
TOOL = osp.join(REPO, 'tools', 'stream.py')
POSE_CAUSAL = osp.join(REPO, 'configs', 'spikevideoformer_pose_demo_causal.py')
POSE_JOINT = osp.join(REPO, 'configs', 'spikevideoformer_pose_demo.py')
FRAMES, HEIGHT, WIDTH = 12, 40, 48
CLASSES = ('a', 'b', 'c', 'd', 'e', 'f')

ACTION_CONFIG = f"""
default_scope = 'mmaction'
custom_imports = dict(imports=['mmspike', 'mmspike.action'], allow_failed_imports=False)
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='causal'),
    cls_head=dict(type='SpikingClsHead', num_classes={len(CLASSES)}, in_channels=96,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))
test_pipeline = [dict(type='DecordInit'), dict(type='DecordDecode'),
                 dict(type='Resize', scale=(32, 32), keep_ratio=False),
                 dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]
test_dataloader = dict(dataset=dict(type='VideoDataset', ann_file='', pipeline=test_pipeline,
                                    metainfo=dict(classes={CLASSES!r})))
"""



def build_action(cfg):
    from mmaction.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(cfg)


def action_recognizer(num_classes=5):
    return build_action(dict(
        type='Recognizer3D',
        backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='causal'),
        cls_head=dict(type='SpikingClsHead', num_classes=num_classes, in_channels=96),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                               std=[64.0, 64.0, 64.0], format_shape='NCTHW')))


def test_spiking_cls_head_forward_is_the_mean_of_its_steps():
    torch.manual_seed(0)
    head = SpikingClsHead(num_classes=4, in_channels=8).eval()
    x = torch.randn(5, 2, 8, 2, 2) * 3
    whole = head(x)
    reset_neurons(head)  # a new video
    # forward_steps does not reset the neuron: one video fed in pieces gives the same steps
    steps = torch.cat([head.forward_steps(x[t:t + 1]) for t in range(5)])
    assert steps.shape == (5, 2, 4)
    torch.testing.assert_close(steps.mean(0), whole, rtol=1e-6, atol=1e-6)
    # (the state matters: every step on a fresh neuron gives other logits)
    fresh = torch.stack([head(x[t:t + 1]) for t in range(5)])
    assert not torch.allclose(fresh, steps)
    # forward resets it, so it does not depend on what ran before
    torch.testing.assert_close(head(x), whole)
    assert SpikingClsHead.causal


def test_streaming_recognizer_running_prediction_equals_the_clip_of_the_first_t_frames():
    torch.manual_seed(1)
    model = action_recognizer()
    steps = 6
    clips = torch.rand(2, 1, 3, steps, 32, 32) * 255  # [N, views, C, T, H, W] raw pixels
    data = model.data_preprocessor(dict(inputs=list(clips), data_samples=None))
    calibrate_batch_norms(model, lambda: model(data['inputs'], mode='tensor', stage='head'))
    online = StreamingRecognizer(model)
    assert online.causal
    with torch.no_grad():
        with online.streaming():
            running = [online.predict_frame(clips[:, 0, :, t]) for t in range(steps)]
            assert online.num_frames == steps
        for t in range(1, steps + 1):
            inputs = model.data_preprocessor(
                dict(inputs=list(clips[:, :, :, :t]), data_samples=None))['inputs']
            whole = model(inputs, mode='tensor', stage='head')  # [N, num_classes]
            torch.testing.assert_close(running[t - 1], whole, rtol=1e-5, atol=1e-5)
    # the running prediction changes as frames arrive (the neurons fire)
    assert not torch.allclose(running[0], running[-1])
    # the scores are the head's predict scores (average_clips='prob': softmax)
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample() for _ in range(2)]
    with torch.no_grad():
        predicted = model(data['inputs'], samples, mode='predict')
    torch.testing.assert_close(online.scores(running[-1]),
                               torch.stack([p.pred_score for p in predicted]),
                               rtol=1e-5, atol=1e-6)
    # a second video starts afresh
    with online.streaming():
        again = online.predict_frame(clips[:, 0, :, 0])
    torch.testing.assert_close(again, running[0], rtol=1e-5, atol=1e-5)


def test_streaming_recognizer_errors():
    model = build_action(dict(
        type='Recognizer3D',
        backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='joint'),
        cls_head=dict(type='SVFormerHead', num_classes=3, in_channels=96, num_frames=4,
                      feat_size=2))).eval()
    online = StreamingRecognizer(model)
    with pytest.raises(ValueError, match=r"backbone SpikeVideoFormer \(attention='joint'\) is "
                                         r'not causal; the head SVFormerHead is not causal'):
        with online.streaming():
            pass
    causal = StreamingRecognizer(action_recognizer().eval())
    with pytest.raises(RuntimeError, match=r'streaming\(\) context'):
        causal.predict_frame(torch.zeros(1, 3, 32, 32))
    with causal.streaming():
        with pytest.raises(ValueError, match=r'\[N, C, H, W\], got \(1, 3, 2, 32, 32\)'):
            causal.predict_frame(torch.zeros(1, 3, 2, 32, 32))


# -- tools/stream.py ---------------------------------------------------------------------------
def write_video(path, frames=FRAMES, height=HEIGHT, width=WIDTH):
    """A small MP4 of a bright square moving over a gradient."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 8, (width, height))
    assert writer.isOpened()
    ys, xs = np.mgrid[:height, :width]
    for t in range(frames):
        frame = np.stack([(xs * 5 + t * 9) % 256, (ys * 6) % 256,
                          np.full_like(xs, 60 + 10 * t)], -1).astype(np.uint8)
        x0, y0 = 4 + 2 * t, 6 + t
        frame[y0:y0 + 12, x0:x0 + 12] = (255, 240, 30)
        writer.write(frame)
    writer.release()
    return str(path)


def decoded_clip(path, size):
    """The video's frames as the tool preprocesses them: [1, 3, T, size, size] float."""
    frames = [preprocess_frame(bgr, size) for bgr, _ in VideoFrames(path)]
    return torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2)[None].float()


def whole_video_config(cfg):
    """A copy of ``cfg`` whose backbone takes clips of any length (the whole video)."""
    cfg = Config(cfg.to_dict())
    cfg.model.backbone.num_frames = None
    return cfg


def random_checkpoint(cfg, clip, path):
    """Build ``cfg.model`` with random weights, give its BatchNorms the statistics of ``clip``
    (so that the neurons fire), save it to ``path``."""
    torch.manual_seed(0)
    model = build_model(whole_video_config(cfg))
    if hasattr(model, 'cls_head'):
        inputs = model.data_preprocessor(dict(inputs=[clip], data_samples=None))['inputs']
        calibrate_batch_norms(model, lambda: model(inputs, mode='tensor', stage='head'))
    else:
        inputs = model.data_preprocessor(dict(inputs=clip))['inputs']
        calibrate_batch_norms(model, lambda: model.extract_feat(inputs))
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def whole_clip_outputs(cfg, checkpoint, clip):
    """The model's whole-clip forward on ``clip`` [1, 3, T, H, W]: action: the logits of the
    first t frames for every t, [T, num_classes]; pose: the joints of every frame, [T, J, 3]."""
    model = build_model(whole_video_config(cfg))
    load_weights(model, checkpoint)
    model.eval()
    with torch.no_grad():
        if hasattr(model, 'cls_head'):
            rows = []
            for t in range(1, clip.shape[2] + 1):
                inputs = model.data_preprocessor(
                    dict(inputs=[clip[:, :, :t]], data_samples=None))['inputs']
                rows.append(model(inputs, mode='tensor', stage='head')[0])
            return torch.stack(rows)
        inputs = model.data_preprocessor(dict(inputs=clip))['inputs']
        return model.head.forward(model.extract_feat(inputs))[0]


@pytest.fixture(scope='module')
def action_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('stream_action')
    cfg_path = root / 'tiny_causal_action.py'
    cfg_path.write_text(ACTION_CONFIG)
    video = write_video(root / 'clip.mp4')
    cfg = load_config(str(cfg_path))
    ckpt = random_checkpoint(cfg, decoded_clip(video, 32), root / 'random.pth')
    return str(cfg_path), ckpt, video


def run_stream_tool(args, cwd):
    """tools/stream.py in a subprocess: (return code, stdout, stderr)."""
    result = subprocess.run([sys.executable, TOOL] + [str(a) for a in args], capture_output=True,
                            text=True, cwd=str(cwd))
    return result.returncode, result.stdout, result.stderr


def test_stream_tool_action_end_to_end(action_setup, tmp_path):
    cfg_path, ckpt, video = action_setup
    out = tmp_path / 'frames.json'
    printed = run_tool([TOOL, cfg_path, ckpt, video, '--json', str(out), '--every', '5',
                        '--cfg-options', 'model.cls_head.average_clips=score'], tmp_path)
    result = json.loads(out.read_text())
    assert result['summary']['size'] == 32  # from the test pipeline's Resize
    frames = result['frames']
    assert [f['frame'] for f in frames] == list(range(FRAMES))
    cfg = load_config(cfg_path)
    expected = whole_clip_outputs(cfg, ckpt, decoded_clip(video, 32))
    online = torch.tensor([f['cls_score'] for f in frames])
    torch.testing.assert_close(online, expected, rtol=1e-5, atol=1e-5)
    top = frames[-1]['top5']
    assert len(top) == 5 and all(t['name'] in CLASSES for t in top)
    # average_clips='score' (--cfg-options): the scores are the running logits
    assert top[0]['label'] == int(expected[-1].argmax())
    assert abs(top[0]['score'] - float(expected[-1].max())) < 1e-5
    assert result['summary']['top5'] == top
    assert all(f['energy_mj'] > 0 for f in frames)
    assert 0 < result['summary']['firing_rate'] < 1
    assert 'frame 5/12' in printed and 'frame 10/12' in printed
    for words in ('prediction after 12 frames (top-5, score): ', 'mJ/frame', 'firing rate',
                  'frames/s in model calls', 'including decoding', 'peak RSS',
                  'growth while streaming'):
        assert words in printed, words


def test_stream_video_pose_equals_the_whole_clip(tmp_path):
    """The shipped causal pose demo config, 64 x 64 frames, random weights, through
    make_streamer and stream_video."""
    video = write_video(tmp_path / 'clip.mp4')
    cfg = load_config(POSE_CAUSAL)
    assert frame_size_from_config(cfg) == 64  # CropClipToBox(size=64) of the test pipeline
    clip = decoded_clip(video, 64)
    ckpt = random_checkpoint(cfg, clip, tmp_path / 'random.pth')
    model = build_model(cfg)
    streamer = make_streamer(model)
    assert streamer.task == 'pose' and streamer.online is model
    load_weights(model, ckpt)
    model.eval()
    out = tmp_path / 'joints.json'
    writer = JsonFrameWriter(str(out))
    seen = []
    summary = stream_video(streamer, VideoFrames(video, max_frames=10), 64, writer=writer,
                           on_frame=seen.append)
    assert not out.exists()  # the file appears when the writer is closed
    writer.close(summary)
    written = json.loads(out.read_text())
    assert written['frames'][3]['joints'] == seen[3]['joints'].tolist()
    assert len(written['frames']) == 10 and written['summary']['frames'] == 10
    assert summary['frames'] == 10 and summary['joints_shape'] == (24, 3)
    assert summary['energy_counted'] is False and 'energy_mj_per_frame' not in summary
    assert [record['frame'] for record in seen] == list(range(10))
    joints = torch.tensor(np.stack([record['joints'] for record in seen]))
    expected = whole_clip_outputs(cfg, ckpt, clip)
    torch.testing.assert_close(joints, expected[:10], rtol=1e-5, atol=1e-5)
    moves = [record['displacement'] for record in seen[1:]]
    assert 'displacement' not in seen[0]
    assert summary['mean_joint_displacement'] == pytest.approx(np.mean(moves))
    assert np.mean(moves) > 0


def test_make_streamer_refuses_models_that_are_not_causal():
    pose = build_model(load_config(POSE_JOINT))
    with pytest.raises(ValueError, match=r"VideoPoseLifter is not causal, so it cannot run "
                                         r"frame by frame: the backbone SpikeVideoFormer "
                                         r"\(attention='joint'\) is not causal; use e\.g\. "
                                         r"SpikeVideoFormer attention='causal', no neck and "
                                         r'SpikeTemporalRegressionHead'):
        make_streamer(pose)
    joint = Config.fromstring(ACTION_CONFIG.replace("attention='causal'", "attention='joint'"),
                              '.py')
    with pytest.raises(ValueError, match=r"Recognizer3D is not causal, so it cannot run frame "
                                         r"by frame: the backbone SpikeVideoFormer "
                                         r"\(attention='joint'\) is not causal; .*SpikingClsHead"):
        make_streamer(build_model(joint))
    with pytest.raises(TypeError, match='MMAction2 recognizers .* and VideoPoseLifter models; '
                                        'got Linear'):
        make_streamer(torch.nn.Linear(2, 2))


def test_stream_inputs_errors(action_setup, tmp_path):
    cfg_path, ckpt, video = action_setup
    model = build_model(load_config(cfg_path))
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match=f'checkpoint {missing!r} does not exist'):
        load_weights(model, missing)
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(ValueError, match=f'cannot read video {str(broken)!r}'):
        VideoFrames(str(broken))
    with pytest.raises(FileNotFoundError, match='video .*nothing.mp4.* does not exist'):
        VideoFrames(str(tmp_path / 'nothing.mp4'))
    no_size = Config.fromstring(ACTION_CONFIG.replace('scale=(32, 32)', 'scale=(48, 32)'), '.py')
    assert frame_size_from_config(no_size, model) is None
    frames = VideoFrames(video)
    assert len(list(frames)) == FRAMES
    with pytest.raises(RuntimeError, match='already read'):
        next(iter(frames))


def test_stream_tool_errors(action_setup, tmp_path):
    """The command line prints the message (no traceback) and exits with status 1; the model's
    causality is checked before its checkpoint is read."""
    cfg_path, ckpt, video = action_setup
    dummy = tmp_path / 'unused.pth'
    dummy.write_bytes(b'')
    joint = tmp_path / 'joint_action.py'
    joint.write_text(ACTION_CONFIG.replace("attention='causal'", "attention='joint'"))
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    no_size = tmp_path / 'no_size.py'
    no_size.write_text(ACTION_CONFIG.replace('scale=(32, 32)', 'scale=(48, 32)'))
    for args, message in (
            ([joint, dummy, tmp_path / 'never_read.mp4'],
             "Recognizer3D is not causal, so it cannot run frame by frame: the backbone "
             "SpikeVideoFormer (attention='joint') is not causal"),
            ([cfg_path, ckpt, broken], f'cannot read video {str(broken)!r}'),
            ([no_size, ckpt, video], 'cannot tell the frame size from')):
        code, _, err = run_stream_tool(args, tmp_path)
        assert code == 1, err[-3000:]
        assert f'tools/stream.py: error: {message}' in err, err[-3000:]
        assert 'Traceback' not in err
