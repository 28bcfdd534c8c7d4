"""mmspike.datasets.synthetic.seg_clips: VSPW layout, masks vs pixels, motion, determinism,
idempotence."""
import json
import re

import cv2
import numpy as np
import pytest
from helpers import all_files

from mmspike.datasets.synthetic.seg_clips import (CLASSES, PALETTE, THING_CLASSES, object_masks,
                                        render_frame, render_video, sample_video, write_dataset)

# 5 videos (3 train, 1 val, 1 test) of 6 frames at 32 x 32.
SMALL = dict(train_videos=3, val_videos=1, test_videos=1, frames_per_video=6, img_size=32,
             seed=0)
SPLIT_IDS = {'train': ['video_00000', 'video_00001', 'video_00002'], 'val': ['video_00003'],
             'test': ['video_00004']}
NUM_CLASSES = len(CLASSES)
SKY, GROUND, BALL, BOX, KITE, BAR = range(1, NUM_CLASSES + 1)
FRAME_STEM = re.compile(r'^\d{8}$')


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp('seg') / 'small'
    return root, write_dataset(root, **SMALL)


def read_video(root, video, frames):
    images = [cv2.imread(str(root / f'data/{video}/origin/{i:08d}.jpg')) for i in range(frames)]
    masks = [cv2.imread(str(root / f'data/{video}/mask/{i:08d}.png'), cv2.IMREAD_UNCHANGED)
             for i in range(frames)]
    return np.stack(images)[..., ::-1], np.stack(masks)  # RGB


def hue_of(rgb):
    """Hue in degrees of one RGB colour (OpenCV's 8-bit HSV halves it)."""
    pixel = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(1, 1, 3)
    return 2.0 * float(cv2.cvtColor(pixel, cv2.COLOR_RGB2HSV)[0, 0, 0])


def hue_distance(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


# ---------------------------------------------------------------------------------- layout

def test_layout_is_exactly_vspw(small):
    root, meta = small
    expected = ['meta.json', 'test.txt', 'train.txt', 'val.txt']
    for videos in SPLIT_IDS.values():
        for video in videos:
            expected += [f'data/{video}/origin/{i:08d}.jpg' for i in range(6)]
            expected += [f'data/{video}/mask/{i:08d}.png' for i in range(6)]
    assert all_files(root) == sorted(expected)
    assert json.loads((root / 'meta.json').read_text()) == meta
    for split, videos in SPLIT_IDS.items():
        assert (root / f'{split}.txt').read_text().splitlines() == videos
    listed = sum(((root / f'{split}.txt').read_text().split() for split in SPLIT_IDS), [])
    assert len(set(listed)) == len(listed) == 5  # disjoint splits
    assert sorted(p.name for p in (root / 'data').iterdir()) == sorted(listed)
    for video in listed:
        stems = sorted(p.stem for p in (root / f'data/{video}/origin').iterdir())
        assert all(FRAME_STEM.match(stem) for stem in stems)
        assert stems == sorted(p.stem for p in (root / f'data/{video}/mask').iterdir())


def test_meta_names_classes_palette_and_counts(small):
    _, meta = small
    assert meta['generator'] == 'mmspike.seg_clips'
    assert meta['classes'] == list(CLASSES) == ['sky', 'ground', 'ball', 'box', 'kite', 'bar']
    assert meta['palette'] == PALETTE and len(PALETTE) == NUM_CLASSES
    assert all(len(colour) == 3 and all(0 <= c <= 255 for c in colour) for colour in PALETTE)
    assert len({tuple(colour) for colour in PALETTE}) == NUM_CLASSES
    assert meta['mask_values']['0'] == 'others' and meta['mask_values']['255'] == 'ignore'
    assert meta['mask_values']['3'] == 'ball' and meta['reduce_zero_label'] is True
    assert meta['counts'] == {'videos': 5, 'frames': 30, 'train': 3, 'val': 1, 'test': 1}
    for key, value in SMALL.items():
        assert meta[key] == value


def test_files_are_3_channel_jpegs_and_8_bit_masks(small):
    root, _ = small
    for videos in SPLIT_IDS.values():
        for video in videos:
            images, masks = read_video(root, video, 6)
            assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
            assert masks.shape == (6, 32, 32) and masks.dtype == np.uint8
            assert set(np.unique(masks)) <= set(range(NUM_CLASSES + 1)) | {255}
            assert {SKY, GROUND} <= set(np.unique(masks))


def test_written_files_are_the_rendered_video(small):
    root, _ = small
    frames, masks = render_video(0, 4, 6, 32)
    images, written = read_video(root, 'video_00004', 6)
    np.testing.assert_array_equal(written, masks)  # PNG is lossless
    assert np.abs(images.astype(int) - frames).mean() < 10  # JPEG is not (4:2:0 chroma)


# ---------------------------------------------------------------------------- pixels, masks

def class_mean_colours(videos, frames=6, size=32):
    """Mean RGB of the pixels of each mask value over some rendered videos (eroded masks, so
    anti-aliased edges do not count)."""
    sums = np.zeros((NUM_CLASSES + 1, 3))
    counts = np.zeros(NUM_CLASSES + 1)
    for index in videos:
        images, masks = render_video(1, index, frames, size)
        for image, mask in zip(images, masks):
            for value in np.unique(mask):
                inner = cv2.erode((mask == value).astype(np.uint8), np.ones((3, 3), np.uint8))
                sums[value] += image[inner > 0].sum(axis=0)
                counts[value] += inner.sum()
    return sums / np.maximum(counts, 1)[:, None], counts


def test_each_class_has_its_colour_family():
    means, counts = class_mean_colours(range(12))
    assert (counts[1:] > 0).all()
    hues = {value: hue_of(means[value]) for value in (SKY, GROUND, BALL, BOX, KITE)}
    expected = {SKY: 212, GROUND: 100, BALL: 0, BOX: 43, KITE: 295}
    for value, hue in hues.items():
        assert hue_distance(hue, expected[value]) < 20, (CLASSES[value - 1], hue)
    bar = means[BAR]
    assert bar.max() - bar.min() < 15 and bar.mean() < 120  # grey, darker than the sky
    assert means[SKY].mean() > means[GROUND].mean() + 50
    for a in range(1, NUM_CLASSES + 1):
        for b in range(a + 1, NUM_CLASSES + 1):
            assert np.abs(means[a] - means[b]).sum() > 80, (CLASSES[a - 1], CLASSES[b - 1])


def test_masks_follow_what_is_drawn():
    spec = sample_video(0, 2, 4, 48)
    image, mask = render_frame(spec, 3)
    # A class's pixels are near the colours of the objects of that class.
    for obj in spec.objects:
        inner = cv2.erode((mask == obj.label).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if obj.label in THING_CLASSES and inner.sum() > 4:
            mean = image[inner].mean(axis=0)
            near = np.abs(obj.colours - mean).sum(axis=1).min()
            assert near < 130, CLASSES[obj.label - 1]
    # The mask is the front-most object's label wherever objects cover the pixel.
    covers = object_masks(spec, 3)
    expected = spec.background_labels[::spec.supersampling, ::spec.supersampling].copy()
    for obj, cover in zip(spec.objects, covers):
        expected[cover] = obj.label
    assert (expected == mask).mean() > 0.97


def test_things_move_and_occlude():
    occluded = 0
    for index in range(8):
        spec = sample_video(0, index, 6, 32)
        _, first = render_frame(spec, 0)
        _, last = render_frame(spec, 5)
        things = [obj.label for obj in spec.objects if obj.label in THING_CLASSES]
        assert 2 <= len(things) <= 4 and len(set(things)) == len(things)
        for label in things:
            assert ((first == label) != (last == label)).any(), (index, label)
        for frame in range(6):
            _, mask = render_frame(spec, frame)
            covers = object_masks(spec, frame)
            for back in range(len(covers)):
                for front in range(back + 1, len(covers)):
                    overlap = covers[back] & covers[front] & ~covers[front + 1:].any(axis=0)
                    if overlap.sum() >= 2:
                        occluded += 1
                        assert (mask[overlap] == spec.objects[front].label).mean() > 0.9
    assert occluded > 0


def test_others_distractor_appears_with_mask_value_0():
    with_others = [index for index in range(10)
                   if any(obj.label == 0 for obj in sample_video(0, index, 2, 32).objects)]
    assert 0 < len(with_others) < 10
    _, masks = render_video(0, with_others[0], 2, 32)
    assert (masks == 0).any()


def test_scene_does_not_depend_on_size_or_length():
    short, longer = sample_video(3, 7, 4, 32), sample_video(3, 7, 9, 64)
    assert [o.label for o in short.objects] == [o.label for o in longer.objects]
    for a, b in zip(short.objects, longer.objects):
        np.testing.assert_array_equal(a.centres, b.centres[:4])
        np.testing.assert_array_equal(a.colours, b.colours)
    assert short.horizon == longer.horizon


# ---------------------------------------------------------------------------- determinism

def test_same_seed_same_files_other_seed_differs(small, tmp_path):
    root, _ = small
    again = tmp_path / 'again'
    write_dataset(again, **SMALL)
    assert all_files(again) == all_files(root)
    for path in all_files(root):
        assert (again / path).read_bytes() == (root / path).read_bytes(), path
    other = tmp_path / 'other'
    write_dataset(other, **{**SMALL, 'seed': 1})
    for video in sum(SPLIT_IDS.values(), []):
        for kind, ext in (('origin', 'jpg'), ('mask', 'png')):
            path = f'data/{video}/{kind}/00000000.{ext}'
            assert (other / path).read_bytes() != (root / path).read_bytes()


# ---------------------------------------------------------------------------- idempotence

def test_second_call_rewrites_nothing_and_changed_arguments_regenerate(tmp_path):
    root = tmp_path / 'seg'
    args = dict(SMALL, train_videos=1, frames_per_video=3)
    meta = write_dataset(root, **args)
    stamps = {path: (root / path).stat().st_mtime_ns for path in all_files(root)}
    assert write_dataset(root, **args) == meta
    assert {path: (root / path).stat().st_mtime_ns for path in all_files(root)} == stamps

    changed = write_dataset(root, **dict(args, frames_per_video=2))
    assert changed['frames_per_video'] == 2 and changed != meta
    assert json.loads((root / 'meta.json').read_text()) == changed
    assert (root / 'data/video_00000/mask/00000001.png').is_file()
    assert not (root / 'data/video_00000/mask/00000002.png').is_file()
    assert len(all_files(root)) == 4 + 3 * 2 * 2
    assert not list(tmp_path.glob('seg.*'))  # no staging or retired directories left

    (root / 'data/video_00001/origin/00000001.jpg').unlink()  # incomplete: rebuild
    write_dataset(root, **dict(args, frames_per_video=2))
    assert len(all_files(root)) == 4 + 3 * 2 * 2


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    root = tmp_path / 'foreign'
    root.mkdir()
    (root / 'precious.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='refusing'):
        write_dataset(root, **SMALL)
    assert (root / 'precious.txt').read_text() == 'keep me'
    assert all_files(root) == ['precious.txt']


# ------------------------------------------------------------------------------ arguments

@pytest.mark.parametrize('changes, message', [
    (dict(train_videos=0), 'train_videos must be >= 1, got 0'),
    (dict(val_videos=0), 'val_videos must be >= 1, got 0'),
    (dict(test_videos=-2), 'test_videos must be >= 1, got -2'),
    (dict(train_videos=2.0), 'train_videos must be an integer, got 2.0'),
    (dict(train_videos=99_999), r'train_videos \+ val_videos \+ test_videos must be <= 100000'),
    (dict(frames_per_video=1), 'frames_per_video must be >= 2, got 1'),
    (dict(img_size=15), 'img_size must be >= 16, got 15'),
    (dict(img_size=4096), 'img_size must be <= 2048, got 4096'),
    (dict(img_size='32'), "img_size must be an integer, got '32'"),
    (dict(seed=-1), 'seed must be >= 0, got -1'),
    (dict(seed=True), 'seed must be an integer, got True'),
])
def test_bad_arguments_raise_clear_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path / 'bad', **{**SMALL, **changes})
    assert not (tmp_path / 'bad').exists()


def test_configs_generate_it_through_prepare_embedded_dataset(tmp_path):
    from mmengine import Config

    from mmspike.datasets.synthetic import GENERATORS, prepare_embedded_dataset
    assert 'seg_clips' in GENERATORS
    root = tmp_path / 'vspw'
    cfg = Config(dict(embedded_dataset=dict(root=str(root), generator='seg_clips',
                                            train_videos=1, val_videos=1, test_videos=1,
                                            frames_per_video=2, img_size=16)))
    meta = prepare_embedded_dataset(cfg)
    assert meta is not None and meta['img_size'] == 16
    assert json.loads((root / 'meta.json').read_text()) == meta
    assert (root / 'data/video_00002/mask/00000001.png').is_file()
