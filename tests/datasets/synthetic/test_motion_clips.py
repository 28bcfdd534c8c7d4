import json

import numpy as np
import pytest

from mmspike.datasets.synthetic.motion_clips import (CLASSES, REVERSED_CLASS, SPLITS, clip_rng,
                                           list_file_name, render_clip, render_empty_frame,
                                           render_frames, sample_clip_spec, write_dataset)

decord = pytest.importorskip('decord')

SMALL = dict(train_per_class=2, val_per_class=1, test_per_class=1, num_frames=8, size=32)


def label_of(name):
    return CLASSES.index(name)


def reversed_label(label):
    return label_of(REVERSED_CLASS[CLASSES[label]])


def decode(path):
    reader = decord.VideoReader(str(path))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def decode_split(root, split):
    lines = (root / list_file_name(split)).read_text().splitlines()
    return np.stack([decode(root / 'videos' / line.split()[0]) for line in lines])


# A hand-made motion estimator: the object is wherever a frame differs from the empty background.

def object_masks(frames, empty_frame):
    difference = np.abs(frames.astype(np.int16) - empty_frame.astype(np.int16)).sum(axis=-1)
    return difference > 40


def centroids(masks):
    ys, xs = np.indices(masks.shape[1:])
    area = masks.sum(axis=(1, 2))
    return np.stack([(masks * xs).sum(axis=(1, 2)) / area,
                     (masks * ys).sum(axis=(1, 2)) / area], axis=1)


def slope(values):
    return np.polyfit(np.arange(len(values)), values, 1)[0]


def motion_statistics(frames, empty_frame):
    masks = object_masks(frames, empty_frame)
    with np.errstate(divide='ignore', invalid='ignore'):  # a faded-out object has no mask
        track = centroids(masks)
        log_area = np.log(masks.sum(axis=(1, 2)))
    return {'dx': slope(track[:, 0]), 'dy': slope(track[:, 1]),
            'area': slope(log_area) if np.isfinite(log_area).all() else np.nan,
            'contrast': slope(contrast(frames, empty_frame))}


def contrast(frames, empty_frame):
    """Mean absolute difference from the empty background, per frame."""
    return np.abs(frames.astype(np.float32) - empty_frame.astype(np.float32)).mean(axis=(1, 2, 3))


EXPECTED_MOTION = {
    'move_left': ('dx', -1), 'move_right': ('dx', 1), 'move_up': ('dy', -1),
    'move_down': ('dy', 1), 'fade_in': ('contrast', 1), 'fade_out': ('contrast', -1),
    'grow': ('area', 1), 'shrink': ('area', -1),
}


def test_class_table():
    assert CLASSES == ('move_left', 'move_right', 'move_up', 'move_down',
                       'fade_in', 'fade_out', 'grow', 'shrink')
    assert set(REVERSED_CLASS) == set(CLASSES)
    for name, reverse in REVERSED_CLASS.items():
        assert reverse != name
        assert REVERSED_CLASS[reverse] == name


@pytest.mark.parametrize('label', range(len(CLASSES)))
def test_every_class_renders_a_moving_clip(label):
    clip = render_clip(label, np.random.default_rng(label))
    assert clip.shape == (16, 64, 64, 3)
    assert clip.dtype == np.uint8
    assert np.abs(clip[0].astype(int) - clip[-1]).mean() > 1.0


def test_other_lengths_and_sizes():
    clip = render_clip(0, np.random.default_rng(0), num_frames=5, size=40)
    assert clip.shape == (5, 40, 40, 3)


def test_rendering_is_deterministic():
    first = render_clip(4, np.random.default_rng(123))
    again = render_clip(4, np.random.default_rng(123))
    other = render_clip(4, np.random.default_rng(124))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize('label', range(len(CLASSES)))
def test_time_reversal_is_exactly_the_reversed_class(label):
    for seed in range(3):
        clip = render_clip(label, np.random.default_rng(seed), num_frames=9, size=32)
        counterpart = render_clip(reversed_label(label), np.random.default_rng(seed),
                                  num_frames=9, size=32)
        assert np.array_equal(clip[::-1], counterpart)


@pytest.mark.parametrize('name', CLASSES)
def test_estimated_motion_flips_under_time_reversal(name):
    statistic, sign = EXPECTED_MOTION[name]
    reverse_statistic, reverse_sign = EXPECTED_MOTION[REVERSED_CLASS[name]]
    for seed in range(4):
        spec = sample_clip_spec(label_of(name), np.random.default_rng(1000 + seed))
        frames, empty_frame = render_frames(spec), render_empty_frame(spec)
        forward = motion_statistics(frames, empty_frame)
        backward = motion_statistics(frames[::-1], empty_frame)
        assert np.sign(forward[statistic]) == sign, (seed, forward)
        assert np.sign(backward[reverse_statistic]) == reverse_sign, (seed, backward)
        if statistic in ('dx', 'dy'):
            other_axis = 'dy' if statistic == 'dx' else 'dx'
            assert abs(forward[statistic]) > 3 * abs(forward[other_axis]), (seed, forward)


def object_x_positions(name, seeds, frame_index):
    positions = []
    for seed in seeds:
        spec = sample_clip_spec(label_of(name), np.random.default_rng(seed))
        masks = object_masks(render_frames(spec), render_empty_frame(spec))
        positions.append(centroids(masks)[frame_index, 0])
    return np.array(positions)


def test_first_frame_of_one_direction_looks_like_last_frame_of_the_other():
    # Positions at a known frame index do hint at the direction (an object moving left starts on
    # the right), but the frames as a set are the same for both directions: the first frame of
    # one is distributed like the last frame of the other.  Shuffling frames removes the hint.
    left_first = object_x_positions('move_left', range(0, 30), 0)
    right_last = object_x_positions('move_right', range(30, 60), -1)
    assert abs(left_first.mean() - right_last.mean()) < 4
    assert abs(np.median(left_first) - np.median(right_last)) < 6


def test_size_alone_does_not_reveal_grow_or_shrink():
    def first_frame_areas(name, seeds):
        areas = []
        for seed in seeds:
            spec = sample_clip_spec(label_of(name), np.random.default_rng(seed))
            areas.append(object_masks(render_frames(spec)[:1], render_empty_frame(spec)).sum())
        return np.array(areas)

    grow, shrink = first_frame_areas('grow', range(20)), first_frame_areas('shrink', range(20, 40))
    assert grow.max() > shrink.min()


def test_write_dataset_layout_and_decoding(tmp_path):
    root = tmp_path / 'motion_clips'
    meta = write_dataset(root, seed=3, **SMALL)
    assert json.loads((root / 'meta.json').read_text()) == meta
    assert meta['seed'] == 3 and meta['num_frames'] == 8 and meta['size'] == 32
    assert meta['generator_version'] >= 1
    assert (root / 'classes.txt').read_text().split() == list(CLASSES)
    for split in SPLITS:
        per_class = SMALL[f'{split}_per_class']
        lines = (root / list_file_name(split)).read_text().splitlines()
        assert len(lines) == per_class * len(CLASSES) == meta['counts'][split]
        labels = [int(line.split()[1]) for line in lines]
        assert np.bincount(labels).tolist() == [per_class] * len(CLASSES)
        for index, line in enumerate(lines):
            relative, label = line.split()
            name = CLASSES[int(label)]
            assert relative == f'{name}/{name}_{split}_{index % per_class:04d}.mp4'
            frames = decode(root / 'videos' / relative)
            assert frames.shape == (8, 32, 32, 3)
    first = decode(root / 'videos' / 'grow' / 'grow_train_0001.mp4')
    rendered = render_clip(label_of('grow'), clip_rng(3, 'train', label_of('grow'), 1), 8, 32)
    assert np.abs(first.astype(int) - rendered).mean() < 10


def test_write_dataset_is_deterministic_and_splits_are_independent(tmp_path):
    one = tmp_path / 'one'
    write_dataset(one, seed=5, **SMALL)
    write_dataset(tmp_path / 'two', seed=5, **SMALL)
    write_dataset(tmp_path / 'more_test', seed=5, **{**SMALL, 'test_per_class': 2})
    write_dataset(tmp_path / 'other_seed', seed=6, **SMALL)
    for split in SPLITS:
        assert np.array_equal(decode_split(one, split), decode_split(tmp_path / 'two', split))
    assert np.array_equal(decode_split(one, 'train'), decode_split(tmp_path / 'more_test', 'train'))
    assert not np.array_equal(decode_split(one, 'train'),
                              decode_split(tmp_path / 'other_seed', 'train'))


def test_write_dataset_reuses_or_replaces(tmp_path, capsys):
    root = tmp_path / 'motion_clips'
    write_dataset(root, **SMALL)
    video = root / 'videos' / 'move_up' / 'move_up_train_0000.mp4'
    stamp = video.stat().st_mtime_ns
    capsys.readouterr()

    write_dataset(root, **SMALL)
    assert 'reusing' in capsys.readouterr().out
    assert video.stat().st_mtime_ns == stamp

    meta = write_dataset(root, **{**SMALL, 'train_per_class': 3})
    assert 'reusing' not in capsys.readouterr().out
    assert meta['train_per_class'] == 3
    assert len((root / list_file_name('train')).read_text().splitlines()) == 3 * len(CLASSES)
    assert sorted(path.name for path in tmp_path.iterdir()) == ['motion_clips']

    video.unlink()
    write_dataset(root, **{**SMALL, 'train_per_class': 3})
    assert 'reusing' not in capsys.readouterr().out
    assert video.is_file()


def test_write_dataset_refuses_to_replace_foreign_directory(tmp_path):
    (tmp_path / 'notes.txt').write_text('not a dataset')
    with pytest.raises(FileExistsError):
        write_dataset(tmp_path, **SMALL)
    assert (tmp_path / 'notes.txt').is_file()


@pytest.mark.parametrize('arguments, named', [
    (dict(size=8), 'size'),
    (dict(size=33), 'size'),
    (dict(num_frames=3), 'num_frames'),
    (dict(train_per_class=0), 'train_per_class'),
    (dict(val_per_class=-1), 'val_per_class'),
    (dict(test_per_class=0), 'test_per_class'),
    (dict(seed=-1), 'seed'),
    (dict(fps=0), 'fps'),
])
def test_write_dataset_rejects_bad_arguments(tmp_path, arguments, named):
    with pytest.raises(ValueError, match=named):
        write_dataset(tmp_path / 'never', **{**SMALL, **arguments})
    assert not (tmp_path / 'never').exists()


@pytest.mark.parametrize('arguments, named', [
    (dict(label=len(CLASSES)), 'label'),
    (dict(label=-1), 'label'),
    (dict(size=15), 'size'),
    (dict(num_frames=3), 'num_frames'),
])
def test_render_clip_rejects_bad_arguments(arguments, named):
    call = {'label': 0, 'rng': np.random.default_rng(0), **arguments}
    with pytest.raises(ValueError, match=named):
        render_clip(**call)
