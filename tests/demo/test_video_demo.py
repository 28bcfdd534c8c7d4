"""``demo/video_demo.py`` on short generated clips with random-weight checkpoints of the three
demo configs (annotated MP4, per-frame JSON, summary), and its one-line errors (exit code 2,
nothing already written lost)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest

from helpers import REPO
from video_fixtures import DEMO_CONFIGS, random_checkpoint, write_clip

DEMO = osp.join(REPO, 'demo', 'video_demo.py')
#: clip lengths: longer than one window of the model (16 frames for action, 8 otherwise)
FRAMES = dict(action=18, pose=10, seg=10)


@pytest.fixture(scope='module')
def demo():
    """The script as a module (run by path, as users do)."""
    spec = importlib.util.spec_from_file_location('video_demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


@pytest.mark.parametrize('task', ['action', 'pose', 'seg'])
def test_demo_writes_the_annotated_video_and_json(task, demo, demo_checkpoints, tmp_path, capsys):
    clip = write_clip(tmp_path / 'clip.mp4', FRAMES[task], fps=6)
    out_file, out_json = tmp_path / 'out' / 'clip.mp4', tmp_path / 'out' / 'clip.json'
    energy = ['--energy-model', 'memory'] if task == 'pose' else ['--no-energy']
    result = demo.main([DEMO_CONFIGS[task], demo_checkpoints[task], clip, '--out-file',
                        str(out_file), '--out-json', str(out_json)] + energy)
    printed = capsys.readouterr().out
    frames, fps = read_video(out_file)
    assert result.task == task and len(frames) == FRAMES[task] and fps == pytest.approx(6)
    assert frames[0].shape[0] >= 240  # small frames are enlarged for the text
    with open(out_json) as file:
        data = json.load(file)
    assert data['task'] == task and data['num_frames'] == FRAMES[task]
    assert data['input'] == osp.abspath(clip) and data['checkpoint'] == demo_checkpoints[task]
    assert [f['frame'] for f in data['frames']] == list(range(FRAMES[task]))
    assert sorted(os.listdir(tmp_path / 'out')) == ['clip.json', 'clip.mp4']
    lines = printed.splitlines()
    assert f'--- {FRAMES[task]} frames (6 fps), task {task} ---' in lines
    assert f'annotated video: {out_file}' in lines and f'per-frame results: {out_json}' in lines
    if task == 'pose':
        assert data['energy_mj'] > 0 and all(f['energy_mj'] > 0 for f in data['frames'])
        assert data['energy_model'] == 'memory'
        assert any(line.startswith('energy (memory model): ') and 'mJ per frame' in line
                   for line in lines)
        assert len(data['frames'][0]['joints']) == 24
    else:
        assert data['energy_mj'] is None and 'energy: not counted (--no-energy)' in lines
    if task == 'action':
        best = data['video'][0]
        assert any(line.startswith(f'video: {best["name"]} ') for line in lines)


def test_demo_max_frames_without_json(demo, demo_checkpoints, tmp_path, capsys):
    clip = write_clip(tmp_path / 'clip.mp4', 12)
    out_file = tmp_path / 'seg.mp4'
    result = demo.main([DEMO_CONFIGS['seg'], demo_checkpoints['seg'], clip, '--out-file',
                        str(out_file), '--no-energy', '--max-frames', '9', '--alpha', '0.8'])
    assert result.num_frames == 9 and len(read_video(out_file)[0]) == 9
    assert sorted(os.listdir(tmp_path)) == ['clip.mp4', 'seg.mp4']
    assert 'per-frame results' not in capsys.readouterr().out


def run_failing(demo, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        demo.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and err.startswith('demo/video_demo.py: error: '), err
    return err


def test_demo_errors_are_one_line_and_keep_what_was_written(demo, demo_checkpoints, tmp_path,
                                                            capsys):
    clip = write_clip(tmp_path / 'clip.mp4', 4)
    out = tmp_path / 'out.mp4'
    out.write_bytes(b'an earlier result')
    config, checkpoint = DEMO_CONFIGS['pose'], demo_checkpoints['pose']
    tail = ['--out-file', out, '--out-json', tmp_path / 'out.json', '--no-energy']
    err = run_failing(demo, capsys, ['missing.py', checkpoint, clip] + tail)
    assert "config file 'missing.py' does not exist" in err
    err = run_failing(demo, capsys, [config, 'missing.pth', clip] + tail)
    assert "checkpoint 'missing.pth' does not exist" in err
    err = run_failing(demo, capsys, [config, checkpoint, tmp_path / 'missing.mp4'] + tail)
    assert 'missing.mp4' in err and 'does not exist' in err
    broken = tmp_path / 'broken.mp4'
    broken.write_text('not a video')
    err = run_failing(demo, capsys, [config, checkpoint, broken] + tail)
    assert 'cannot read video' in err and 'broken.mp4' in err
    err = run_failing(demo, capsys, [config, checkpoint, clip, '--out-file', clip])
    assert 'is the VIDEO file' in err
    err = run_failing(demo, capsys, [config, demo_checkpoints['seg'], clip] + tail)
    assert 'does not fit' in err or 'shape' in err
    # a model of no supported task: a bare backbone
    backbone = tmp_path / 'backbone.py'
    backbone.write_text("custom_imports = dict(imports=['mmspike'], allow_failed_imports=False)\n"
                        "model = dict(type='SVFormer', arch='tiny', num_frames=4, img_size=32)\n")
    weights = random_checkpoint(str(backbone), tmp_path / 'backbone.pth')
    err = run_failing(demo, capsys, [backbone, weights, clip] + tail)
    assert 'runs MMAction2 recognizers, VideoPoseLifter and VideoEncoderDecoder' in err
    assert 'SVFormer' in err
    assert out.read_bytes() == b'an earlier result'
    assert sorted(os.listdir(tmp_path)) == ['backbone.pth', 'backbone.py', 'broken.mp4',
                                            'clip.mp4', 'out.mp4']


def test_demo_exit_code_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, DEMO, 'missing.py', 'missing.pth', 'clip.mp4',
                             '--out-file', str(tmp_path / 'out.mp4')], cwd=str(tmp_path),
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == ("demo/video_demo.py: error: config file 'missing.py' "
                                     "does not exist")
    result = subprocess.run([sys.executable, DEMO, 'a.py', 'b.pth', 'c.mp4', '--out-file',
                             'out.gif'], cwd=str(tmp_path), capture_output=True, text=True)
    assert result.returncode == 2 and "--out-file must be an .mp4 file, got 'out.gif'" in \
        result.stderr
