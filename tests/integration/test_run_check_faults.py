"""Fault injection for the run check: each broken input below is built in a temporary folder the
way a user would break it, and must be named (file, line or frame, problem) before the first
training step, or, for a test list, fail the test instead of scoring it."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmspike  # noqa: F401
from mmspike.engine.run_checks import (DataCheckError, SampleLoadError, annotation_line_problem,
                                       check_annotation_lists, check_clip_len, decode_video,
                                       find_annotation_problems, find_bad_entries,
                                       name_sample_errors, probe_video)

from helpers import REPO  # noqa: E402
from video_fixtures import random_checkpoint  # noqa: E402

SVFORMER_DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')
CLIP_LEN = 16


def write_video(path, seed=0):
    """A clip of the embedded demo dataset (16 frames of 64 x 64, 'mp4v')."""
    from mmspike.datasets.synthetic import motion_clips
    spec = motion_clips.sample_clip_spec(seed % 8, np.random.default_rng(seed), CLIP_LEN, 64)
    motion_clips.write_video(path, motion_clips.render_frames(spec), fps=8)


def pipeline_decodes(path):
    """Whether MMAction2's DecordInit -> SampleFrames (every frame) -> DecordDecode reads the
    video: the pipeline the demo configs train with (the oracle for 'corrupt')."""
    from mmaction.datasets.transforms import DecordDecode, DecordInit
    results = DecordInit()(dict(filename=str(path), start_index=0, modality='RGB'))
    results['frame_inds'] = np.arange(results['total_frames'])
    try:
        DecordDecode()(results)
    except Exception:
        return False
    return True


def corrupt_inside(good, bad, length=400):
    """Write ``bad``: ``good`` with ``length`` bytes of its video data (inside ``mdat``)
    overwritten, at the first offset where the training pipeline fails to decode the result;
    its header and packet index stay intact."""
    data = good.read_bytes()
    start = data.find(b'mdat') + 8
    end = data.find(b'moov') if data.find(b'moov') > start else len(data)
    noise = np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    for offset in range(start, end - length, 37):
        bad.write_bytes(data[:offset] + noise + data[offset + length:])
        if not pipeline_decodes(bad):
            return offset
    pytest.fail(f'no offset in the video data of {good} made the pipeline fail')


# --- annotation lists -----------------------------------------------------------------------


@pytest.mark.parametrize('kind,line,options,expected', [
    ('video', 'a.mp4 3', {}, None),
    ('video', 'a.mp4 9', dict(num_classes=8), 'label 9 is outside [0, 8)'),
    ('video', 'a.mp4 -1', dict(num_classes=8), 'label -1 is outside [0, 8)'),
    ('video', 'a.mp4 1.5', {}, "label '1.5' is not an integer"),
    ('video', 'a.mp4 cat', {}, "label 'cat' is not an integer"),
    ('video', 'a.mp4', {}, 'has no label (MMAction2 would give it label -1'),
    ('video', '', {}, 'is empty (MMAction2 would read it as one more clip'),
    ('video', '   ', {}, 'is empty'),
    ('video', 'a.mp4  3', {}, "has 3 fields separated by ' ', expected 2: FILE LABEL"),
    ('video', 'a.mp4 1 2', dict(multi_class=True, num_classes=3), None),
    ('video', 'a.mp4 1 3', dict(multi_class=True, num_classes=3), 'label 3 is outside'),
    ('rawframes', 'clip 16 2', dict(num_classes=3), None),
    ('rawframes', 'clip 16', {}, 'has no label'),
    ('rawframes', 'clip x 2', {}, "TOTAL_FRAMES 'x' is not a non-negative integer"),
    ('rawframes', 'clip', {}, 'has 1 field(s), expected FRAME_DIR TOTAL_FRAMES LABEL'),
    ('rawframes', 'clip 0 16 1', dict(with_offset=True), None),
    ('rawframes', 'clip 16 1 2', {}, 'has 2 labels, but the dataset is not multi_class'),
    ('events', 'a.npz 1', dict(delimiter=None), None),
    ('events', '', dict(delimiter=None), None),  # EventClipDataset skips blank lines
    ('events', 'a.npz 11', dict(delimiter=None, num_classes=11), 'label 11 is outside'),
])
def test_annotation_line_rules(kind, line, options, expected):
    problem = annotation_line_problem(line, kind, **options)
    if expected is None:
        assert problem is None, problem
    else:
        assert problem is not None and expected in problem, problem


def list_config(root, lists, num_classes=8):
    """A config dict with VideoDataset loaders on the ``lists`` ({split: text})."""
    cfg = dict(model=dict(cls_head=dict(num_classes=num_classes)))
    for split, text in lists.items():
        (root / f'{split}.txt').write_text(text)
        cfg[f'{split}_dataloader'] = dict(dataset=dict(
            type='VideoDataset', ann_file=str(root / f'{split}.txt'),
            data_prefix=dict(video=str(root))))
    return Config(cfg)


def test_every_list_problem_is_named_with_file_and_line_in_one_error(tmp_path):
    cfg = list_config(tmp_path, dict(
        train='a.mp4 0\nb.mp4 9\nc.mp4 -1\nd.mp4 1.5\ne.mp4 cat\nf.mp4 2\n\n',
        val='a.mp4 1\n',
        test='a.mp4 3\nb.mp4\n'))
    with pytest.raises(DataCheckError) as info:
        check_annotation_lists(cfg)
    message = str(info.value)
    train, test = tmp_path / 'train.txt', tmp_path / 'test.txt'
    assert message.startswith('6 problem(s) in the annotation list(s)'), message
    for number, problem in ((2, 'label 9 is outside [0, 8)'), (3, 'label -1 is outside'),
                            (4, "label '1.5' is not an integer"),
                            (5, "label 'cat' is not an integer"), (7, 'is empty')):
        assert f'train: {train} line {number}' in message and problem in message, message
    assert f"test: {test} line 2 ('b.mp4'): has no label" in message, message
    assert 'val.txt' not in message
    # the splits a run reads: a test run does not stop on the training list, and vice versa
    assert [p[0] for p in find_annotation_problems(cfg, ['test'])] == ['test']
    assert {p[0] for p in find_annotation_problems(cfg, ['train', 'val'])} == {'train'}
    (tmp_path / 'missing').mkdir()
    cfg.val_dataloader.dataset.ann_file = str(tmp_path / 'missing' / 'val.txt')
    assert find_annotation_problems(cfg, ['val']) == [
        ('val', str(tmp_path / 'missing' / 'val.txt'), 0, '', 'does not exist')]


def test_labels_are_checked_against_the_dataset_when_the_model_has_no_head_classes(tmp_path):
    cfg = list_config(tmp_path, dict(train='a.mp4 4\n'))
    cfg.model = dict()
    assert find_annotation_problems(cfg) == []
    cfg.train_dataloader.dataset.num_classes = 4
    assert [p[4] for p in find_annotation_problems(cfg)] == ['label 4 is outside [0, 4)']


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp('run_check_clips')
    for i in range(4):
        write_video(root / f'ok{i}.mp4', seed=i)
    offset = corrupt_inside(root / 'ok0.mp4', root / 'corrupt.mp4')
    return root, offset


def demo_config(path, root, train, val, test=None):
    """The SVFormer demo config on the clips in ``root``, with the given list texts."""
    for split, text in (('train', train), ('val', val), ('test', test or val)):
        (path.parent / f'{split}.txt').write_text(text)
    loaders = ''.join(
        f"{split}_dataloader = dict(_loader, dataset=dict(ann_file="
        f"{str(path.parent / (split + '.txt'))!r}, data_prefix=dict(video={str(root)!r})))\n"
        for split in ('train', 'val', 'test'))
    path.write_text(
        f"_base_ = [{SVFORMER_DEMO!r}]\n"
        f"embedded_dataset = None\n"
        f"_loader = dict(batch_size=2, num_workers=0, persistent_workers=False)\n"
        f"{loaders}"
        f"train_cfg = dict(max_epochs=1)\n"
        f"default_hooks = dict(logger=dict(interval=1))\n")
    return path


def run_tool(tool, *args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', f'{tool}.py')]
                          + [str(a) for a in args], cwd=str(cwd), env=env,
                          capture_output=True, text=True)


def test_train_tool_names_bad_labels_and_blank_lines_before_any_step(clips, tmp_path):
    root, _ = clips
    config = demo_config(tmp_path / 'labels.py', root,
                         train='ok0.mp4 0\nok1.mp4 9\nok2.mp4 cat\nok3.mp4 1\n\n',
                         val='ok0.mp4 0\nok1.mp4 1\n')
    result = run_tool('train', config, '--work-dir', tmp_path / 'work', cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    train = tmp_path / 'train.txt'
    assert 'DataCheckError: 3 problem(s) in the annotation list(s)' in output, output[-3000:]
    assert f"train: {train} line 2 ('ok1.mp4 9'): label 9 is outside [0, 8)" in output
    assert f"train: {train} line 3 ('ok2.mp4 cat'): label 'cat' is not an integer" in output
    assert f'train: {train} line 5: is empty' in output
    assert 'Epoch(train)' not in output and not list((tmp_path / 'work').glob('**/*.pth'))


def test_test_tool_fails_on_a_bad_test_label_instead_of_scoring(clips, tmp_path):
    root, _ = clips
    config = demo_config(tmp_path / 'test_labels.py', root, train='ok0.mp4 0\nok1.mp4 99\n',
                         val='ok0.mp4 0\nok1.mp4 1\n',
                         test='ok0.mp4 0\nok1.mp4 1\nok2.mp4 9\nok3.mp4\n')
    checkpoint = random_checkpoint(str(config), tmp_path / 'random.pth')
    result = run_tool('test', config, checkpoint, '--work-dir', tmp_path / 'work', cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    test = tmp_path / 'test.txt'
    assert f"test: {test} line 3 ('ok2.mp4 9'): label 9 is outside [0, 8)" in output, output[-3000:]
    assert f"test: {test} line 4 ('ok3.mp4'): has no label" in output
    assert 'acc/top1' not in output  # nothing was scored
    assert f'train: {tmp_path / "train.txt"}' not in output  # a test run reads its list only


# --- files ----------------------------------------------------------------------------------


def video_dataset(root, lines, pipeline=None):
    from mmaction.datasets import VideoDataset
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    ann = root / f'list_{abs(hash(lines))}.txt'
    ann.write_text(lines)
    pipeline = pipeline or [dict(type='DecordInit'),
                            dict(type='SampleFrames', clip_len=CLIP_LEN, frame_interval=1,
                                 num_clips=1),
                            dict(type='DecordDecode')]
    return VideoDataset(ann_file=str(ann), data_prefix=dict(video=str(root)), pipeline=pipeline)


def test_corrupt_video_data_behind_a_good_header_is_found_by_the_full_check(clips):
    root, _ = clips
    corrupt = str(root / 'corrupt.mp4')
    assert probe_video(corrupt) == (CLIP_LEN, None)  # opens: the header and index are intact
    frames, problem = decode_video(corrupt)
    assert frames is None and problem.startswith('frame ') and 'cannot be decoded' in problem
    assert 'Error sending packet' in problem, problem  # decord's reason, kept
    dataset = video_dataset(root, 'ok1.mp4 0\ncorrupt.mp4 1\nok2.mp4 0\n')
    bad, checked, mode = find_bad_entries(dataset, 'auto')
    assert mode == 'full' and checked == 3 and bad == [(corrupt, problem)], bad
    assert find_bad_entries(dataset, 'quick')[0] == []  # the header probe cannot see it


def test_a_sample_that_fails_in_a_dataloader_worker_names_its_file(clips):
    """Errors while loading a sample (here decord's, in a worker process) name the file."""
    root, _ = clips
    dataset = video_dataset(root, 'ok1.mp4 0\ncorrupt.mp4 1\n')
    dataset.test_mode = True  # no silent re-draw of another sample
    name_sample_errors(dataset)
    name_sample_errors(dataset)  # idempotent
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=1,
                                         collate_fn=lambda batch: batch)
    with pytest.raises(Exception) as info:
        list(loader)
    message = str(info.value)
    assert 'SampleLoadError' in message and f'filename={root / "corrupt.mp4"}' in message, message
    assert 'VideoDataset sample 1' in message
    with pytest.raises(SampleLoadError, match='corrupt.mp4'):
        dataset[1]


def test_labels_of_built_datasets_are_checked_against_num_classes(clips):
    root, _ = clips
    dataset = video_dataset(root, 'ok1.mp4 0\nok2.mp4 7\nok3.mp4\n')
    bad, _, _ = find_bad_entries(dataset, 'exists', num_classes=7)
    assert bad == [(f'filename={root / "ok2.mp4"}', 'label 7 is outside [0, 7)'),
                   (f'filename={root / "ok3.mp4"}',
                    'label -1 is outside [0, 7) (no label in the list)')], bad


def test_one_report_lists_the_problems_of_every_split(clips, tmp_path):
    """Through the Runner (the hook at before_run): a corrupt training video and a missing
    validation video, both in one error, before any step."""
    from mmengine.runner import Runner

    from mmspike.engine.runner import load_run_config
    import argparse
    root, _ = clips
    config = demo_config(tmp_path / 'files.py', root, train='ok0.mp4 0\ncorrupt.mp4 1\n',
                         val='ok1.mp4 0\ngone.mp4 1\n')
    args = argparse.Namespace(config=str(config), cfg_options=None, launcher='none',
                              work_dir=str(tmp_path / 'work'), local_rank=0, check=None)
    cfg = load_run_config(args, splits=('train', 'val'))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(DataCheckError) as info:
        runner.train()
    message = str(info.value)
    assert 'train_dataloader: 1 problem(s) in the 2 videos' in message, message
    assert f'{root / "corrupt.mp4"}: frame ' in message
    assert 'val_dataloader: 1 problem(s) in the 2 videos' in message
    assert f'{root / "gone.mp4"}: does not exist' in message
    assert runner.iter == 0


def test_check_option_sets_the_mode_or_removes_the_check(tmp_path):
    import argparse

    from mmspike.engine.runner import load_run_config

    def hooks(check):
        args = argparse.Namespace(config=SVFORMER_DEMO, cfg_options=None, launcher='none',
                                  work_dir=str(tmp_path), local_rank=0, check=check)
        cfg = load_run_config(args, splits=('test', ))
        return [h for h in cfg.get('custom_hooks', []) if h['type'] == 'DatasetCheckHook']

    assert hooks(None) == [dict(type='DatasetCheckHook', splits=['test'])]
    assert hooks('quick') == [dict(type='DatasetCheckHook', mode='quick', splits=['test'])]
    assert hooks('off') == []
    from mmspike.hooks import DatasetCheckHook
    with pytest.raises(ValueError, match="mode must be one of .*got 'fast'"):
        DatasetCheckHook(mode='fast')


def test_event_frames_of_any_split_must_match_the_model(tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'svformer_demo_events.py'))
    check_clip_len(cfg)  # as shipped: every split integrates 16 frames
    for step in cfg.val_dataloader.dataset.pipeline:
        if step['type'] == 'IntegrateEvents':
            step['num_frames'] = 8
    with pytest.raises(DataCheckError) as info:
        check_clip_len(cfg)
    assert 'val_dataloader: pipeline step IntegrateEvents num_frames=8' in str(info.value)
    assert 'train_dataloader' not in str(info.value)


# --- pose and segmentation files ------------------------------------------------------------


@pytest.fixture
def mmhpsd_root(tmp_path):
    pytest.importorskip('mmpose', reason='the pose datasets need MMPose')
    from mmspike.datasets.synthetic.pose_clips import write_dataset
    root = tmp_path / 'mmhpsd'
    write_dataset(root, subjects=(1, 3), sequences_per_subject=1, frames_per_sequence=6,
                  img_size=16)
    return root


def mmhpsd_dataset(root, split='test'):
    from mmspike.datasets.pose import MMHPSDClipDataset
    return MMHPSDClipDataset(data_root=str(root), split=split, clip_len=2, pipeline=[])


@pytest.mark.parametrize('key', ['joints3d', 'joints2d'])
def test_nan_pose_targets_are_named_when_the_dataset_is_built(mmhpsd_root, key):
    pose = next(iter(sorted(mmhpsd_root.glob('mmhpsd_events/subject01_*/poses/pose_0002.npz'))))
    with np.load(pose) as arrays:
        content = {name: np.array(arrays[name]) for name in arrays.files}
    assert key in content, sorted(content)
    content[key][5, 1] = np.nan if key == 'joints3d' else np.inf
    np.savez(pose, **content)
    with pytest.raises(ValueError) as info:
        mmhpsd_dataset(mmhpsd_root)
    assert f'{pose}: {key} holds 1 NaN/Inf value(s)' in str(info.value), info.value
    assert '(the first at index (5, 1)' in str(info.value)


def test_a_corrupt_frame_of_a_pose_clip_is_found_by_the_full_check(mmhpsd_root):
    dataset = mmhpsd_dataset(mmhpsd_root)
    frame = dataset.get_data_info(0)['img_paths'][1]
    assert find_bad_entries(dataset, 'full')[0] == []
    data = open(frame, 'rb').read()
    with open(frame, 'wb') as f:
        f.write(data[:20] + b'\0' * (len(data) - 20))  # JPEG header kept, image data zeroed
    bad, _, mode = find_bad_entries(dataset, 'auto')
    assert mode == 'full' and [path for path, _ in bad] == [frame], bad
    assert 'cannot be decoded as an image' in bad[0][1]
    assert find_bad_entries(dataset, 'quick')[0] == []  # quick checks frames exist only


def test_a_corrupt_validation_mask_is_found_by_the_full_check(tmp_path):
    pytest.importorskip('mmseg', reason='the segmentation datasets need MMSeg')
    from seg_fixtures import write_vspw

    from mmspike.datasets.seg import VSPWClipDataset
    root = write_vspw(tmp_path / 'vspw')
    dataset = VSPWClipDataset(root, split='val', clip_len=2)
    assert find_bad_entries(dataset, 'full')[0] == []
    mask = next(path for path in dataset.get_data_info(0)['seg_map_paths'] if path)
    with open(mask, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + b'garbage' * 10)
    bad, _, _ = find_bad_entries(dataset, 'full')
    assert [path for path, _ in bad] == [mask], bad
    assert bad[0][1].startswith('cannot be decoded as a mask'), bad
