"""Clip transforms for video segmentation: one geometric operation for every frame and mask."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip('mmseg')

from mmengine.registry import DefaultScope  # noqa: E402
from mmseg.registry import TRANSFORMS  # noqa: E402

import mmspike.datasets.transforms as core  # noqa: E402
from mmspike.datasets.seg import (ClipRandomCrop, ClipRandomFlip, ClipRandomResize,  # noqa: E402
                                  ClipResize, LoadClipFrames, LoadClipSegMaps,
                                  PackClipSegInputs)

T, H, W = 3, 16, 24
OFFSET = 10  # frame t = frame 0 + OFFSET * t: the same geometric operation keeps the offsets


def clip_results(h=H, w=W, with_gt=True):
    """Frames whose channel 0 encodes the label under each pixel (label * 20 + OFFSET * t), so
    frames and masks can be checked to be cut and flipped alike."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=(h, w)).astype(np.uint8)
    labels[0, 0] = 255
    base = np.stack([labels * 20 % 200, rng.integers(0, 150, (h, w)),
                     np.tile(np.arange(w) * 5 % 150, (h, 1))], -1).astype(np.uint8)
    results = dict(img=np.stack([base + OFFSET * t for t in range(T)]), img_shape=(h, w),
                   ori_shape=(h, w), seg_fields=[])
    if with_gt:
        results['gt_seg_map'] = np.stack([labels] * T)
        results['seg_fields'] = ['gt_seg_map']
    return results


def assert_same_op(out, tol=0):
    """Frame t is still frame 0 + OFFSET * t (within ``tol``: OpenCV's fixed-point bilinear
    rounding) and all masks agree."""
    img = out['img'].astype(np.int64)
    for t in range(T):
        assert np.abs(img[t] - img[0] - OFFSET * t).max() <= tol
    if 'gt_seg_map' in out:
        gt = out['gt_seg_map']
        assert all(np.array_equal(gt[t], gt[0]) for t in range(T))


def assert_aligned(out):
    """Nearest-type operations (crop, flip): each mask pixel still sits under its frame pixel."""
    gt, img = out['gt_seg_map'].astype(np.int64), out['img'].astype(np.int64)
    for t in range(T):
        expected = gt[t] * 20 % 200 + OFFSET * t
        assert np.array_equal(img[t, ..., 0][gt[t] != 255], expected[gt[t] != 255])


def test_registered_in_mmseg_and_one_loader_for_all_tasks():
    for name, cls in [('LoadClipFrames', LoadClipFrames), ('LoadClipSegMaps', LoadClipSegMaps),
                      ('ClipResize', ClipResize), ('ClipRandomResize', ClipRandomResize),
                      ('ClipRandomCrop', ClipRandomCrop), ('ClipRandomFlip', ClipRandomFlip),
                      ('PackClipSegInputs', PackClipSegInputs)]:
        assert TRANSFORMS.get(name) is cls
    assert LoadClipFrames is core.LoadClipFrames
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert isinstance(TRANSFORMS.build(dict(type='ClipResize', scale=8)), ClipResize)


# ---------------------------------------------------------------------------------------------
# Loading masks

def write_clip(tmp_path, masks, modes):
    img_paths, seg_paths = [], []
    for t, (mask, mode) in enumerate(zip(masks, modes)):
        img = osp.join(tmp_path, f'{t:08d}.jpg')
        cv2.imwrite(img, np.full((H, W, 3), 50 * t, np.uint8))
        img_paths.append(img)
        if mask is None:
            seg_paths.append(None)
            continue
        path = osp.join(tmp_path, f'{t:08d}.png')
        image = Image.fromarray(mask, mode=mode)
        if mode == 'P':
            image.putpalette([(i * 37) % 256 for i in range(768)])
        image.save(path)
        seg_paths.append(path)
    return dict(img_paths=img_paths, seg_map_paths=seg_paths, seg_fields=[])


def load(results):
    return LoadClipSegMaps()(LoadClipFrames()(results))


def test_load_masks_palette_grayscale_and_missing(tmp_path):
    mask = np.zeros((H, W), np.uint8)
    mask[:, 8:] = 3
    mask[:, 16:] = 255
    out = load(write_clip(tmp_path, [mask, mask, None], ['P', 'L', None]))
    gt = out['gt_seg_map']
    assert gt.dtype == np.uint8 and gt.shape == (T, H, W)
    assert np.array_equal(gt[0], mask) and np.array_equal(gt[1], mask)  # indices, values
    assert (gt[2] == 255).all()
    assert out['seg_fields'] == ['gt_seg_map']
    assert out['img'].shape == (T, H, W, 3)


def test_load_masks_reduce_zero_label_and_label_map(tmp_path):
    mask = np.array([[0, 1, 2, 124, 255, 7]], np.uint8).repeat(H, 0).repeat(W // 6, 1)
    results = write_clip(tmp_path, [mask] * T, ['P'] * T)
    results.update(reduce_zero_label=True, num_classes=124)
    gt = load(dict(results))['gt_seg_map']
    assert np.array_equal(np.unique(gt[0][0]), [0, 1, 6, 123, 255])
    assert gt[0][0, 0] == 255 and gt[0][0, W // 6] == 0 and gt[0][0, 3 * W // 6] == 123
    results.update(label_map={0: 1, 1: 0, 6: 255}, num_classes=2)
    for key in ('gt_seg_map',):
        results.pop(key, None)
    results['seg_fields'] = []
    with pytest.raises(ValueError, match=r'values \[124\] that are not class ids after '
                                         r'reduce_zero_label .* and label_map: .*\[0, 2\)'):
        load(dict(results))


def test_load_masks_errors(tmp_path):
    mask = np.zeros((H, W), np.uint8)
    small = np.zeros((H, W - 4), np.uint8)
    results = write_clip(tmp_path, [mask, small, mask], ['P'] * 3)
    with pytest.raises(ValueError, match=r'00000001.png is 16 x 20 \(H x W\) but its frame '
                                         r'is 16 x 24'):
        load(dict(results))
    bad = mask.copy()
    bad[0, 0] = 40
    results = write_clip(tmp_path, [mask, bad, mask], ['L'] * 3)
    results['num_classes'] = 19
    with pytest.raises(ValueError, match=r'00000001.png has values \[40\] .*\[0, 19\) or 255'):
        load(dict(results))
    # frames resized first (a test pipeline): masks stay at the original size, and the packer
    # accepts them at that size (evaluation at the original resolution), nothing else
    resized = LoadClipSegMaps()(
        LoadClipFrames(size=(12, 8))(write_clip(tmp_path, [mask] * 3, ['L'] * 3)))
    assert resized['img'].shape == (3, 8, 12, 3) and resized['gt_seg_map'].shape == (3, H, W)
    packed = PackClipSegInputs()(dict(resized))
    assert tuple(packed['data_samples'].gt_sem_seg.data.shape) == (3, H, W)
    resized['gt_seg_map'] = resized['gt_seg_map'][:, :-1]
    with pytest.raises(ValueError, match='matches neither'):
        PackClipSegInputs()(resized)


# ---------------------------------------------------------------------------------------------
# Geometry: one operation per clip

def test_resize_same_for_every_frame_and_nearest_masks():
    out = ClipResize(scale=(48, 40), keep_ratio=True)(clip_results())
    # keep_ratio: long edge 24 -> <= 48, short edge 16 -> <= 40: factor 2
    assert out['img'].shape == (T, 32, 48, 3) and out['gt_seg_map'].shape == (T, 32, 48)
    assert out['img_shape'] == (32, 48) and out['scale_factor'] == (2.0, 2.0)
    assert out['keep_ratio'] is True
    assert_same_op(out)
    assert set(np.unique(out['gt_seg_map'])) <= {0, 1, 2, 3, 4, 255}
    out = ClipResize(scale=(17, 11), keep_ratio=False)(clip_results())
    assert out['img'].shape == (T, 11, 17, 3) and out['img_shape'] == (11, 17)
    assert out['scale_factor'] == (17 / W, 11 / H)
    assert_same_op(out, tol=1)
    assert set(np.unique(out['gt_seg_map'])) <= {0, 1, 2, 3, 4, 255}


def test_random_resize_one_ratio_per_clip():
    np.random.seed(1)
    sizes = set()
    for _ in range(6):
        out = ClipRandomResize(scale=(W, H), ratio_range=(0.5, 2.0))(clip_results())
        assert out['gt_seg_map'].shape == out['img'].shape[:3]
        assert_same_op(out, tol=1)
        assert set(np.unique(out['gt_seg_map'])) <= {0, 1, 2, 3, 4, 255}
        sizes.add(out['img_shape'])
    assert len(sizes) > 1
    with pytest.raises(ValueError, match='ratio_range'):
        ClipRandomResize(scale=8, ratio_range=(2.0, 1.0))


def test_random_crop_one_box_per_clip():
    np.random.seed(0)
    boxes = set()
    for _ in range(8):
        out = ClipRandomCrop(crop_size=(8, 10))(clip_results())
        assert out['img'].shape == (T, 8, 10, 3) and out['img_shape'] == (8, 10)
        assert_same_op(out)
        assert_aligned(out)
        boxes.add(out['img'][0].tobytes())
    assert len(boxes) > 1
    out = ClipRandomCrop(crop_size=64)(clip_results())  # larger than the frames: whole frame
    assert out['img'].shape == (T, H, W, 3)


def test_random_crop_cat_max_ratio_counts_all_frames():
    results = clip_results(h=16, w=32)
    gt = np.zeros((T, 16, 32), np.uint8)
    gt[:, :, 16:] = 1
    results['gt_seg_map'] = gt
    for seed in range(5):
        np.random.seed(seed)
        out = ClipRandomCrop(crop_size=16, cat_max_ratio=0.75)(dict(results))
        _, counts = np.unique(out['gt_seg_map'], return_counts=True)
        assert len(counts) == 2 and counts.max() / counts.sum() < 0.75


def test_random_flip_one_decision_per_clip():
    results = clip_results()
    out = ClipRandomFlip(prob=1.0)(dict(results))
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    assert np.array_equal(out['img'], results['img'][:, :, ::-1])
    assert np.array_equal(out['gt_seg_map'], results['gt_seg_map'][:, :, ::-1])
    assert_aligned(out)
    out = ClipRandomFlip(prob=1.0, direction='vertical')(dict(results))
    assert np.array_equal(out['img'], results['img'][:, ::-1])
    out = ClipRandomFlip(prob=0.0)(dict(results))
    assert out['flip'] is False and out['flip_direction'] is None
    np.random.seed(0)
    seen = set()
    for _ in range(12):
        out = ClipRandomFlip(prob=0.5)(dict(results))
        assert_same_op(out)
        assert_aligned(out)
        seen.add(out['flip'])
    assert seen == {True, False}
    with pytest.raises(ValueError, match='direction'):
        ClipRandomFlip(direction='diagonal')


# ---------------------------------------------------------------------------------------------
# Packing

def test_pack_clip_seg_inputs():
    results = clip_results()
    results.update(img_paths=['a', 'b', 'c'], seg_map_paths=[None, None, 'c.png'], video='v',
                   frame_ids=[1, 2, 3], clip_len=T, reduce_zero_label=False, flip=False,
                   flip_direction=None, scale_factor=(1.0, 1.0), sample_idx=4)
    packed = PackClipSegInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, T, H, W)
    assert torch.equal(inputs[:, 1], torch.from_numpy(results['img'][1]).permute(2, 0, 1))
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (T, H, W)
    assert set(sample.metainfo) == {
        'img_paths', 'seg_map_paths', 'video', 'frame_ids', 'clip_len', 'ori_shape',
        'img_shape', 'pad_shape', 'scale_factor', 'flip', 'flip_direction',
        'reduce_zero_label'}
    assert sample.pad_shape == (H, W) and sample.clip_len == T
    no_gt = PackClipSegInputs()(clip_results(with_gt=False))['data_samples']
    assert 'gt_sem_seg' not in no_gt
