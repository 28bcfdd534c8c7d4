"""mmspike.apis.inferencers: the video inferencers on mmengine's BaseInferencer, run on short
generated clips with random-weight checkpoints of the three demo configs (predictions equal to
inference_video, the annotated MP4 and the JSON written per video, data samples), and their
errors."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import REPO
from mmspike.apis.inferencers import (VideoActionInferencer, VideoInferencer,
                                      VideoPoseInferencer, VideoSegInferencer, video_names,
                                      write_json)
from mmspike.apis.video_inference import inference_video
from video_fixtures import DEMO_CONFIGS, moving_square, write_clip

INFERENCERS = dict(action=VideoActionInferencer, pose=VideoPoseInferencer,
                   seg=VideoSegInferencer)
#: clip lengths: the action clip spans two windows of the model's 16 frames, the pose and
#: segmentation clips more than one clip of 8
FRAMES = dict(action=18, pose=10, seg=10)


def frame_count(path):
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count


@pytest.mark.parametrize('task', ['action', 'pose', 'seg'])
def test_inferencer_writes_the_video_and_json_of_inference_video(task, demo_checkpoints, tmp_path):
    clip = write_clip(tmp_path / 'walk.mp4', FRAMES[task])
    inferencer = INFERENCERS[task](DEMO_CONFIGS[task], demo_checkpoints[task], device='cpu')
    assert inferencer.model_task == task and not inferencer.model.training
    out = inferencer(clip, out_dir=str(tmp_path / 'out'), energy=False, return_vis=True,
                     panel_size=96)
    prediction = out['predictions'][0]
    expected = inference_video(inferencer.model, clip, energy=False).to_dict()
    assert prediction == dict(input=clip, **expected)
    assert prediction['task'] == task and len(prediction['frames']) == FRAMES[task]
    # <out_dir>/<name>.mp4 and .json, nothing else
    assert sorted(os.listdir(tmp_path / 'out')) == ['walk.json', 'walk.mp4']
    with open(tmp_path / 'out' / 'walk.json') as file:
        assert json.load(file) == json.loads(json.dumps(prediction))
    vis = out['visualization'][0]
    assert vis.dtype == np.uint8 and vis.ndim == 4 and len(vis) == FRAMES[task]
    assert frame_count(tmp_path / 'out' / 'walk.mp4') == FRAMES[task]
    capture = cv2.VideoCapture(str(tmp_path / 'out' / 'walk.mp4'))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == vis[0].shape


def test_pose_inferencer_lists_arrays_max_frames_and_data_samples(demo_checkpoints, tmp_path):
    from mmpose.structures import PoseDataSample
    inferencer = VideoPoseInferencer(DEMO_CONFIGS['pose'], demo_checkpoints['pose'], device='cpu')
    frames = moving_square(9)
    folder = tmp_path / 'frames'
    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{index:04d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out = inferencer([frames, str(folder)], max_frames=7, energy=True)
    array, from_folder = out['predictions']
    assert out['visualization'] == []
    assert array['input'] is None and from_folder['input'] == str(folder)
    assert array['num_frames'] == from_folder['num_frames'] == 7
    np.testing.assert_allclose([f['joints'] for f in array['frames']],
                               [f['joints'] for f in from_folder['frames']], atol=1e-6)
    assert array['energy_mj'] > 0 and all(f['energy_mj'] > 0 for f in array['frames'])
    samples = inferencer(frames, return_datasamples=True, energy=False)['predictions'][0]
    assert len(samples) == 9 and all(isinstance(s, PoseDataSample) for s in samples)
    assert samples[0].pred_instances.keypoints.shape == (1, 24, 3)


def test_video_inferencer_takes_any_task_and_errors(demo_checkpoints, tmp_path):
    inferencer = VideoInferencer(DEMO_CONFIGS['seg'], demo_checkpoints['seg'], device='cpu')
    assert inferencer.model_task == 'seg'
    with pytest.raises(TypeError, match="VideoPoseInferencer runs 'pose' models; the config "
                       r"builds a VideoEncoderDecoder \('seg'\): use VideoSegInferencer"):
        VideoPoseInferencer(DEMO_CONFIGS['seg'], demo_checkpoints['seg'])
    with pytest.raises(FileNotFoundError, match="config file 'nothing.py' does not exist"):
        VideoSegInferencer('nothing.py')
    with pytest.raises(FileNotFoundError, match="checkpoint 'nothing.pth' does not exist"):
        VideoSegInferencer(DEMO_CONFIGS['seg'], 'nothing.pth')
    with pytest.raises(ValueError, match='checkpoint .* does not fit|shape'):
        VideoSegInferencer(DEMO_CONFIGS['seg'], demo_checkpoints['pose'])
    with pytest.raises(FileNotFoundError, match='video .*missing.mp4.* does not exist'):
        inferencer(str(tmp_path / 'missing.mp4'))
    with pytest.raises(ValueError, match='unknown argument'):
        inferencer(moving_square(4), colour='red')


def test_video_names_and_json_writer(tmp_path):
    clip = write_clip(tmp_path / 'a.mp4', 2)
    other = tmp_path / 'b'
    other.mkdir()
    (other / 'a.mp4').write_bytes(open(clip, 'rb').read())
    frames = moving_square(2)
    assert video_names([clip, str(other / 'a.mp4'), frames, str(other) + '/']) == \
        ['a', 'a_1', 'video_2', 'b']
    path = tmp_path / 'out.json'
    path.write_text('old')
    with pytest.raises(ValueError):
        write_json(str(path), dict(frames=[dict(score=float('nan'))]))
    assert path.read_text() == 'old' and not (tmp_path / 'out.json.part').exists()
    write_json(str(path), dict(task='pose', frames=[dict(frame=0), dict(frame=1)]))
    assert json.loads(path.read_text()) == dict(task='pose', frames=[dict(frame=0),
                                                                     dict(frame=1)])


def test_importing_the_inferencers_imports_no_task_codebase():
    code = ('import sys, mmspike.apis.inferencers; '
            'print(sorted({m.split(".")[0] for m in sys.modules} & '
            '{"mmaction", "mmpose", "mmseg", "mmdet"}))')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


def test_mmaction2_inferencer_runs_an_mmspike_config(demo_checkpoints, tmp_path):
    """MMAction2's own ActionRecogInferencer takes an mmspike config and checkpoint: its
    prediction equals inference_video's scores of the whole video."""
    from mmaction.apis.inferencers import ActionRecogInferencer

    from mmspike.apis import init_model
    video = write_clip(tmp_path / 'clip.mp4', 20)
    inferencer = ActionRecogInferencer(model=DEMO_CONFIGS['action'],
                                       weights=demo_checkpoints['action'], device='cpu')
    prediction = inferencer(video)['predictions'][0]
    model = init_model(DEMO_CONFIGS['action'], demo_checkpoints['action'])
    expected = inference_video(model, video, energy=False).scores
    np.testing.assert_allclose(prediction['pred_scores'], expected, rtol=1e-4, atol=1e-6)
    assert prediction['pred_labels'] == [int(np.argmax(expected))]
