"""Video-to-event conversion (mmspike.datasets.synthetic.event_sim,
tools/data/video_to_events.py) and the embedded event dataset
(mmspike.datasets.synthetic.motion_events)."""
import json
import math
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmspike.datasets.synthetic import event_sim, motion_clips, motion_events
from mmspike.datasets.synthetic.event_sim import (background_activity, frame_timestamps_us,
                                        frames_to_log_intensity, simulate_events,
                                        video_frames_to_events)
from mmspike.datasets.events import load_events, save_events

from helpers import REPO  # noqa: E402
TOOL = osp.join(REPO, 'tools', 'data', 'video_to_events.py')


def run_tool(*args, cwd):
    """tools/data/video_to_events.py in a subprocess: (exit status, stdout, stderr)."""
    result = subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                            text=True, cwd=str(cwd))
    return result.returncode, result.stdout, result.stderr


def naive_events(log_frames, times, c_on, c_off, refractory=0.0):
    """Per-pixel reference, one crossing at a time: list of (t, x, y, p), t float."""
    out = []
    _, height, width = log_frames.shape
    for y in range(height):
        for x in range(width):
            ref = log_frames[0, y, x]
            last = -math.inf
            for k in range(len(times) - 1):
                a, b = log_frames[k, y, x], log_frames[k + 1, y, x]
                while True:
                    if b - ref >= c_on[y, x] * (1 - 1e-9):
                        level, polarity = ref + c_on[y, x], 1
                    elif ref - b >= c_off[y, x] * (1 - 1e-9):
                        level, polarity = ref - c_off[y, x], 0
                    else:
                        break
                    frac = min(max((level - a) / (b - a), 0.0), 1.0)
                    t = times[k] + frac * (times[k + 1] - times[k])
                    if t - last >= refractory:
                        out.append((t, x, y, polarity))
                        last = t
                    ref = level
    return out


def as_tuples(events):
    return [(float(t), int(x), int(y), int(p))
            for t, x, y, p in zip(events['t'], events['x'], events['y'], events['p'])]


def assert_same_events(vectorised, reference):
    got = sorted(as_tuples(vectorised))
    want = sorted(reference)
    assert len(got) == len(want), (len(got), len(want))
    got_t, want_t = np.array([e[0] for e in got]), np.array([e[0] for e in want])
    np.testing.assert_allclose(got_t, want_t, rtol=0, atol=1e-6)
    assert [e[1:] for e in got] == [e[1:] for e in want]


def random_log_video(seed, frames=6, height=5, width=7):
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, (frames, height, width)).astype(np.uint8)
    return frames_to_log_intensity(video, eps=0.01)


def test_doubling_with_half_ln2_threshold_gives_exactly_two_on_events():
    log_frames = np.log(np.array([100.0, 200.0]))[:, None, None]
    events = simulate_events(log_frames, np.array([0.0, 1e6]), threshold=np.log(2) / 2)
    assert events['p'].tolist() == [1, 1]
    np.testing.assert_allclose(events['t'], [5e5, 1e6])
    # Through the whole path (8-bit frames, eps = 0): 100 -> 200 at 10 fps.
    frames = np.array([100, 200], np.uint8).reshape(2, 1, 1)
    merged = video_frames_to_events(frames, fps=10, threshold=np.log(2) / 2, eps=0.0)
    assert merged['t'].tolist() == [50000, 100000]
    assert merged['p'].tolist() == [1, 1]
    # Halving: two OFF events; one threshold more than the change: one event.
    halved = video_frames_to_events(frames[::-1], fps=10, threshold=np.log(2) / 2, eps=0.0)
    assert halved['p'].tolist() == [0, 0]
    once = video_frames_to_events(frames, fps=10, threshold=np.log(2) / 1.5, eps=0.0)
    assert once['t'].size == 1


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_naive_per_pixel_reference(seed):
    log_frames = random_log_video(seed)
    times = frame_timestamps_us(len(log_frames), 25)
    events = simulate_events(log_frames, times, threshold=0.15)
    c = np.full(log_frames.shape[1:], 0.15)
    reference = naive_events(log_frames, times, c, c)
    assert len(reference) > 50
    assert_same_events(events, reference)


def test_matches_naive_reference_with_mismatch_and_refractory():
    log_frames = random_log_video(7)
    times = frame_timestamps_us(len(log_frames), 25)
    events = simulate_events(log_frames, times, threshold=0.15, threshold_sigma=0.05,
                             refractory_us=4000.0, seed=3)
    # the thresholds are the first draws of the seed's generator
    c_on, c_off = event_sim._pixel_thresholds(np.random.default_rng(3), log_frames.shape[1:],
                                              0.15, 0.05, 0.01)
    assert not np.allclose(c_on, 0.15) and not np.allclose(c_on, c_off)
    reference = naive_events(log_frames, times, c_on, c_off, refractory=4000.0)
    without = naive_events(log_frames, times, c_on, c_off)
    assert len(reference) < len(without)
    assert_same_events(events, reference)


def test_refractory_period_suppresses_but_reference_moves():
    # four thresholds in one 100 ms segment: crossings at 25, 50, 75, 100 ms
    log_frames = np.array([0.0, 0.8, 0.8]).reshape(3, 1, 1)
    times = np.array([0.0, 1e5, 2e5])
    free = simulate_events(log_frames, times, threshold=0.2)
    np.testing.assert_allclose(free['t'], [25000, 50000, 75000, 100000])
    dead = simulate_events(log_frames, times, threshold=0.2, refractory_us=30000)
    np.testing.assert_allclose(dead['t'], [25000, 75000])
    # the suppressed crossings were consumed: no late events in the constant segment
    assert dead['t'].max() <= 1e5


def test_polarity_follows_the_direction_of_change():
    # a bright bar one pixel wide moves right by one pixel on a dark background
    frames = np.full((2, 1, 5), 40, np.uint8)
    frames[0, 0, 1] = 200
    frames[1, 0, 2] = 200
    events = video_frames_to_events(frames, fps=10, threshold=0.2)
    on = set(events['x'][events['p'] == 1].tolist())
    off = set(events['x'][events['p'] == 0].tolist())
    assert on == {2} and off == {1}
    expected = math.floor((math.log(200 / 255 + 0.01) - math.log(40 / 255 + 0.01)) / 0.2)
    assert (events['p'] == 1).sum() == expected == (events['p'] == 0).sum()


def test_background_activity_rate_and_range():
    rate, height, width, start, end = 5.0, 20, 30, 1000.0, 2001000.0
    noise = background_activity(rate, height, width, start, end, seed=1)
    expected = rate * (end - start) * 1e-6 * height * width
    assert abs(noise['t'].size - expected) < 5 * math.sqrt(expected)
    assert noise['t'].min() >= start and noise['t'].max() < end
    assert abs(noise['p'].mean() - 0.5) < 0.05
    assert background_activity(0.0, height, width, start, end)['t'].size == 0


def test_conversion_is_deterministic_and_seeded():
    frames = motion_clips.render_clip(1, motion_clips.clip_rng(0, 'train', 1, 0), 6, 32)
    options = dict(fps=8, threshold=0.2, threshold_sigma=0.03, noise_rate=2.0,
                   refractory_us=1000)
    first = video_frames_to_events(frames, seed=5, **options)
    again = video_frames_to_events(frames, seed=5, **options)
    other = video_frames_to_events(frames, seed=6, **options)
    for key in ('t', 'x', 'y', 'p'):
        np.testing.assert_array_equal(first[key], again[key])
    assert first['t'].size != other['t'].size or not np.array_equal(first['t'], other['t'])
    assert np.all(np.diff(first['t']) >= 0) and first['t'].dtype == np.int64
    # without noise or mismatch the seed plays no part
    plain = [video_frames_to_events(frames, fps=8, seed=s) for s in (0, 1)]
    np.testing.assert_array_equal(plain[0]['t'], plain[1]['t'])


def test_format_round_trip(tmp_path):
    frames = motion_clips.render_clip(0, motion_clips.clip_rng(0, 'test', 0, 1), 6, 32)
    events = video_frames_to_events(frames, fps=8, noise_rate=1.0, seed=2)
    path = str(tmp_path / 'clip.npz')
    save_events(path, **events)
    loaded = load_events(path)
    assert (loaded['height'], loaded['width']) == (32, 32)
    for key in ('t', 'x', 'y', 'p'):
        np.testing.assert_array_equal(loaded[key], events[key])
    with np.load(path) as data:  # the agreed on-disk format
        assert data['t'].dtype == np.int64 and data['p'].dtype == np.uint8
        assert data['height'].shape == () and int(data['width']) == 32


def test_bgr_and_rgb_give_the_same_luminance():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    np.testing.assert_allclose(frames_to_log_intensity(rgb),
                               frames_to_log_intensity(rgb[..., ::-1], channel_order='bgr'))
    grey = cv2.cvtColor(rgb[0], cv2.COLOR_RGB2GRAY).astype(np.float64)
    luma = np.exp(frames_to_log_intensity(rgb, eps=1e-2)[0]) * 255 - 2.55
    assert np.abs(luma - grey).max() <= 0.6  # OpenCV rounds to uint8
    with pytest.raises(ValueError, match='at least 2 frames'):
        frames_to_log_intensity(rgb[:1])


def write_mp4(path, frames, fps=8):
    motion_clips.write_video(path, frames, fps)


def test_tool_converts_a_video_like_the_library(tmp_path):
    from mmspike.datasets import event_conversion
    frames = motion_clips.render_clip(3, motion_clips.clip_rng(0, 'val', 3, 0), 8, 32)
    video = tmp_path / 'in' / 'clip.mp4'
    video.parent.mkdir()
    write_mp4(video, frames)
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, TOOL, str(video), '--out-dir', str(out),
                             '--threshold', '0.25', '--noise-rate', '1', '--seed', '4',
                             '--preview', '3'],
                            capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'converted 1 of 1 inputs' in result.stdout
    loaded = load_events(str(out / 'clip.npz'))
    decoded, fps = event_conversion.read_video(str(video))
    assert fps == 8 and decoded.shape == (8, 32, 32, 3)
    expected = video_frames_to_events(decoded, fps=8, threshold=0.25, noise_rate=1.0,
                                      seed=event_conversion.file_seed(4, 'clip.mp4'))
    for key in ('t', 'x', 'y', 'p'):
        np.testing.assert_array_equal(loaded[key], expected[key])
    assert f"{loaded['t'].size} events" in result.stdout
    # --preview: 3 frames over their events; an ON-only or OFF-only pixel is red or blue
    preview = cv2.imread(str(out / 'clip.png'))[..., ::-1]
    assert preview.shape == (64, 96, 3)
    np.testing.assert_array_equal(preview[:32, :32], decoded[1])
    on_only = {'t': np.array([0, 1]), 'x': np.array([0, 1]), 'y': np.array([0, 0]),
               'p': np.array([1, 0], np.uint8)}
    image = event_conversion.event_image(on_only, 0, 2, 1, 3)
    assert image[0].tolist() == [[255, 0, 0], [0, 0, 255], [255, 255, 255]]


def test_tool_converts_an_annotated_folder_into_an_event_list(tmp_path):
    root = tmp_path / 'videos'
    lines = []
    for label in (0, 5):
        relative = motion_clips.video_relative_path('train', label, 0)
        (root / osp.dirname(relative)).mkdir(parents=True)
        frames = motion_clips.render_clip(label, motion_clips.clip_rng(0, 'train', label, 0),
                                          6, 32)
        write_mp4(root / relative, frames)
        lines.append(f'{relative} {label}')
    ann = tmp_path / 'motion_clips_train_list_videos.txt'
    ann.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'events'
    status, _, err = run_tool(root, '--out-dir', out, '--ann-file', ann, cwd=tmp_path)
    assert status == 0, err[-2000:]
    listed = (out / 'motion_clips_train_list_events.txt').read_text().splitlines()
    assert listed == [line.replace('.mp4', '.npz') for line in lines]
    for line in listed:
        assert load_events(str(out / line.split()[0]))['width'] == 32


def test_tool_names_unreadable_and_empty_videos(tmp_path):
    good = tmp_path / 'good.npy'
    np.save(good, np.stack([np.full((4, 4), 50, np.uint8), np.full((4, 4), 150, np.uint8)]))
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'this is not a video' * 10)
    single = tmp_path / 'single.npy'
    np.save(single, np.zeros((1, 4, 4), np.uint8))
    out = tmp_path / 'out'
    status, _, err = run_tool(good, empty, junk, single, '--out-dir', out, '--fps', 10,
                              cwd=tmp_path)
    assert status == 1
    assert 'empty.mp4: empty file' in err
    assert 'junk.mp4: OpenCV cannot open it' in err or 'junk.mp4: 0 decodable' in err
    assert 'single.npy: 1 decodable frame(s)' in err
    assert load_events(str(out / 'good.npz'))['t'].size > 0  # the good input still converted
    # a frame array without --fps is refused by name
    status, _, err = run_tool(good, '--out-dir', out, cwd=tmp_path)
    assert status == 1 and 'give --fps' in err


TINY = dict(train_per_class=1, val_per_class=1, test_per_class=1, num_frames=6, size=32,
            seed=0, threshold=0.2)


def test_motion_events_dataset_layout_and_reuse(tmp_path, capsys):
    root = tmp_path / 'motion_events'
    meta = motion_events.write_dataset(root, **TINY)
    assert meta['counts'] == {'train': 8, 'val': 8, 'test': 8}
    saved = json.loads((root / 'meta.json').read_text())
    assert saved == meta and saved['threshold'] == 0.2
    lines = (root / 'motion_events_test_list.txt').read_text().splitlines()
    assert len(lines) == 8
    relative, label = lines[3].split()
    assert relative == motion_events.event_relative_path('test', 3, 0) and label == '3'
    loaded = load_events(str(root / 'events' / relative), allow_empty=True)
    expected = motion_events.clip_events(0, 'test', 3, 0, 6, 32, 8, threshold=0.2)
    for key in ('t', 'x', 'y', 'p'):
        np.testing.assert_array_equal(loaded[key], expected[key])
    # the clip is the motion clip of the same key: its events are those of its frames
    frames = motion_clips.render_clip(3, motion_clips.clip_rng(0, 'test', 3, 0), 6, 32)
    np.testing.assert_array_equal(
        video_frames_to_events(frames, fps=8, threshold=0.2)['t'], loaded['t'])
    capsys.readouterr()
    motion_events.write_dataset(root, **TINY)
    assert 'reusing' in capsys.readouterr().out
    motion_events.write_dataset(root, **dict(TINY, threshold=0.3))
    assert json.loads((root / 'meta.json').read_text())['threshold'] == 0.3
    with pytest.raises(ValueError, match='threshold must be > 0'):
        motion_events.write_dataset(tmp_path / 'bad', **dict(TINY, threshold=0))


def test_embedded_dataset_generator_and_demo_config_pipeline(tmp_path):
    from mmengine.config import Config

    import mmspike.action  # noqa: F401  (registers EventClipDataset)
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    from mmspike.datasets.synthetic import prepare_embedded_dataset
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'svformer_demo_events.py'))
    assert cfg.embedded_dataset.generator == 'motion_events'
    assert cfg.model.backbone.in_channels == 2
    root = str(tmp_path / 'motion_events')
    cfg.embedded_dataset = dict(cfg.embedded_dataset, root=root, **TINY)
    prepare_embedded_dataset(cfg)
    assert osp.isfile(osp.join(root, 'meta.json'))
    init_default_scope('mmaction')
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.ann_file = osp.join(root, 'motion_events_test_list.txt')
    dataset_cfg.data_prefix = dict(events=osp.join(root, 'events'))
    dataset = DATASETS.build(dataset_cfg)
    sample = dataset[5]
    assert tuple(sample['inputs'].shape) == (1, 2, 16, 32, 32)
    assert sample['data_samples'].gt_label.item() == 5
    # binary frames: the integrated event counts capped at 1
    from mmspike.datasets.events import integrate_events
    largest = 0
    for index in range(len(dataset)):
        events = load_events(dataset.get_data_info(index)['filename'], allow_empty=True)
        counts = integrate_events(events, 16, 'number')
        largest = max(largest, counts.max())
        np.testing.assert_array_equal(dataset[index]['inputs'][0].numpy(),
                                      np.minimum(counts, 1).transpose(1, 0, 2, 3))
    assert largest > 1


def test_clip_event_counts():
    from mmspike.datasets import ClipEventCounts
    imgs = np.array([0, 1, 2, 7], np.float32).reshape(4, 1, 1, 1) * np.ones((4, 2, 3, 3))
    out = ClipEventCounts()(dict(imgs=imgs))['imgs']
    assert out.dtype == np.float32 and out[:, 0, 0, 0].tolist() == [0, 1, 1, 1]
    as_list = ClipEventCounts(max_count=2)(dict(imgs=list(imgs)))['imgs']
    assert as_list[:, 1, 2, 2].tolist() == [0, 1, 2, 2]
    with pytest.raises(ValueError, match='max_count must be > 0, got 0'):
        ClipEventCounts(max_count=0)


def test_fading_objects_are_lit_and_the_other_classes_are_the_motion_clips():
    """Fades: only ON events for fade_in, only OFF for fade_out (the object is brighter than the
    background everywhere); every other class renders exactly the motion clip of its key."""
    for label, name in enumerate(motion_events.CLASSES):
        frames = motion_events.clip_frames(0, 'train', label, 2, 6, 32)
        original = motion_clips.render_clip(label, motion_clips.clip_rng(0, 'train', label, 2),
                                            6, 32)
        if name not in ('fade_in', 'fade_out'):
            np.testing.assert_array_equal(frames, original)
            continue
        assert not np.array_equal(frames, original)
        events = motion_events.clip_events(0, 'train', label, 2, 6, 32, threshold=0.1)
        assert events['t'].size > 100
        assert set(np.unique(events['p']).tolist()) == ({1} if name == 'fade_in' else {0})
    spec = motion_clips.sample_clip_spec(4, motion_clips.clip_rng(0, 'val', 4, 0), 6, 32)
    lit = motion_events.luminous_fade(spec)
    assert lit.background.max() <= 127.5 < 160.0 <= lit.sprite_rgb.min()
    np.testing.assert_allclose(lit.background, spec.background * 0.5)


def test_shuffle_control_goes_before_the_event_format_step():
    from mmengine.config import Config
    from mmspike.engine.runner import insert_shuffle_frames
    pipeline = list(Config.fromfile(
        osp.join(REPO, 'configs', 'svformer_demo_events.py')).test_dataloader.dataset.pipeline)
    insert_shuffle_frames(pipeline)
    types = [step['type'] for step in pipeline]
    assert types.index('ShuffleFrames') + 1 == types.index('FormatEventShape')
    assert types.index('ShuffleFrames') > types.index('ClipEventCounts')
    with pytest.raises(ValueError, match='needs a FormatShape or FormatEventShape step'):
        insert_shuffle_frames([dict(type='LoadEvents')])
