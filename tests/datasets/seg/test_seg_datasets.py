"""VSPWClipDataset and CityscapesSeqClipDataset on tiny trees written in the real layouts."""
import os
import os.path as osp
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from mmengine.registry import DefaultScope  # noqa: E402
from mmseg.datasets import CityscapesDataset  # noqa: E402
from mmseg.registry import DATASETS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import mmspike.datasets.seg  # noqa: E402,F401
from mmspike.datasets.seg import (CityscapesSeqClipDataset, VSPWClipDataset,  # noqa: E402
                                  VSPW_CLASSES)

from seg_fixtures import (CITY, STEP, H, W, mask_values, write_cityscapes,  # noqa: E402
                          write_palette_png, write_vspw)

DATA_INFO_KEYS = {'img_paths', 'seg_map_paths', 'video', 'frame_ids', 'clip_len',
                  'reduce_zero_label', 'num_classes', 'label_map', 'seg_fields', 'sample_idx'}
PIPELINE = [dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
            dict(type='PackClipSegInputs')]


@pytest.fixture
def vspw_root(tmp_path):
    return write_vspw(tmp_path / 'VSPW_480p')


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Pipelines of datasets made directly (not through the registry) are built in MMSeg's
    scope, as under a Runner with ``default_scope='mmseg'``."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(cfg)


# ---------------------------------------------------------------------------------------------
# VSPW: data lists

def test_vspw_whole_videos_by_default(vspw_root):
    dataset = build(dict(type='VSPWClipDataset', data_root=vspw_root, split='train'))
    assert type(dataset) is VSPWClipDataset
    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    assert set(info) == DATA_INFO_KEYS
    assert info['video'] == 'video_a' and info['clip_len'] == 7
    assert info['frame_ids'] == [t * STEP for t in range(7)]
    assert info['img_paths'][2] == osp.join(vspw_root, 'data', 'video_a', 'origin',
                                            '00000006.jpg')
    assert info['seg_map_paths'][2] == osp.join(vspw_root, 'data', 'video_a', 'mask',
                                                '00000006.png')
    assert info['reduce_zero_label'] is True and info['num_classes'] == 124
    assert info['label_map'] is None and info['seg_fields'] == []
    assert dataset.metainfo['classes'] == VSPW_CLASSES and len(dataset.metainfo['palette']) == 124
    val = build(dict(type='VSPWClipDataset', data_root=vspw_root, split='val', gap=2))
    assert [val[0]['video'] for _ in range(1)] == ['video_c']
    assert val.get_data_info(0)['frame_ids'] == [0, 6, 12]


@pytest.mark.parametrize('clip_len, gap, stride, expected', [
    # video_a: 7 frames, video_b: 5 frames; span = (clip_len - 1) * gap + 1
    (2, 1, None, {'video_a': [[0, 1], [2, 3], [4, 5]], 'video_b': [[0, 1], [2, 3]]}),
    (2, 2, None, {'video_a': [[0, 2], [4, 6]], 'video_b': [[0, 2]]}),
    (3, 2, 1, {'video_a': [[0, 2, 4], [1, 3, 5], [2, 4, 6]], 'video_b': [[0, 2, 4]]}),
    (5, 1, 2, {'video_a': [[0, 1, 2, 3, 4], [2, 3, 4, 5, 6]], 'video_b': [[0, 1, 2, 3, 4]]}),
])
def test_vspw_clip_positions(vspw_root, clip_len, gap, stride, expected):
    dataset = VSPWClipDataset(vspw_root, split='train', clip_len=clip_len, gap=gap,
                              stride=stride)
    found = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert info['clip_len'] == clip_len == len(info['img_paths'])
        assert len(info['seg_map_paths']) == clip_len
        found.setdefault(info['video'], []).append([f // STEP for f in info['frame_ids']])
    assert found == expected


def test_vspw_ann_file_and_bad_arguments(vspw_root):
    dataset = VSPWClipDataset(vspw_root, ann_file='val.txt', clip_len=2)
    assert {dataset[i]['video'] for i in range(len(dataset))} == {'video_c'}
    with pytest.raises(ValueError, match='split must be one of'):
        VSPWClipDataset(vspw_root, split='training')
    for bad in (dict(clip_len=0), dict(gap=-1), dict(clip_len=2, stride=0),
                dict(clip_len=True)):
        with pytest.raises(ValueError, match='positive integer'):
            VSPWClipDataset(vspw_root, **bad)


# ---------------------------------------------------------------------------------------------
# VSPW: a full pipeline item

def test_vspw_pipeline_item(vspw_root):
    dataset = build(dict(type='VSPWClipDataset', data_root=vspw_root, split='train',
                         clip_len=3, gap=2, pipeline=PIPELINE))
    item = dataset[0]
    inputs, sample = item['inputs'], item['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 3, H, W)
    assert inputs[0].float().mean() > 150 > inputs[2].float().mean() + 100  # RGB: red first
    assert isinstance(sample, SegDataSample)
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (3, H, W)
    for k, t in enumerate((0, 2, 4)):  # reduce_zero_label: 0 -> 255, k -> k - 1, 255 stays
        raw = torch.from_numpy(mask_values(t).astype(np.int64))
        expected = torch.where(raw == 0, 255, torch.where(raw == 255, 255, raw - 1))
        assert torch.equal(gt[k], expected)
    assert set(torch.unique(gt).tolist()) <= set(range(124)) | {255}
    assert sample.video == 'video_a' and sample.frame_ids == [0, 6, 12]
    assert sample.clip_len == 3 and sample.reduce_zero_label is True
    assert tuple(sample.ori_shape) == tuple(sample.img_shape) == tuple(sample.pad_shape) == (H, W)
    assert len(sample.img_paths) == len(sample.seg_map_paths) == 3


def test_vspw_custom_label_sets(vspw_root):
    # a label set of its own, said explicitly: masks as they are, a generated palette
    own = VSPWClipDataset(vspw_root, split='train', reduce_zero_label=False,
                          metainfo=dict(classes=[f'c{i}' for i in range(126)],
                                        own_classes=True))
    assert own.label_map is None and len(own.metainfo['palette']) == 126
    assert own.get_data_info(0)['num_classes'] == 126
    # ... even when its names are all VSPW names (no silent remapping)
    same_names = VSPWClipDataset(vspw_root, split='train', clip_len=1, pipeline=PIPELINE,
                                 metainfo=dict(classes=('ceiling', 'wall'), own_classes=True))
    assert same_names.label_map is None
    # without own_classes, names that are not VSPW's are an error that says what to do
    with pytest.raises(ValueError, match='own_classes=True'):
        VSPWClipDataset(vspw_root, split='train', metainfo=dict(classes=('c0', 'c1')))
    # a selection of VSPW classes: MMSeg's label_map
    chosen = VSPWClipDataset(vspw_root, split='train', clip_len=1, pipeline=PIPELINE,
                             metainfo=dict(classes=('ceiling', 'wall')))
    info = chosen.get_data_info(0)
    assert info['num_classes'] == 2 and info['label_map'][0] == 1 and info['label_map'][1] == 0
    gt = chosen[0]['data_samples'].gt_sem_seg.data[0]
    assert set(torch.unique(gt).tolist()) == {1, 255}  # wall (raw 1) -> 1, the rest ignored


# ---------------------------------------------------------------------------------------------
# VSPW: errors

def test_vspw_short_videos(vspw_root):
    with pytest.raises(ValueError, match=r"'video_b' has 5 frames but clip_len=3 x gap=3 "
                                         r'needs 7'):
        VSPWClipDataset(vspw_root, split='train', clip_len=3, gap=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dataset = VSPWClipDataset(vspw_root, split='train', clip_len=3, gap=3,
                                  skip_short_videos=True)
    messages = [str(w.message) for w in caught if 'skipped' in str(w.message)]
    assert len(messages) == 1 and 'skipped 1 of 2 videos' in messages[0]
    assert 'video_b (5 frames)' in messages[0]
    assert [dataset[i]['video'] for i in range(len(dataset))] == ['video_a']
    with pytest.raises(ValueError, match='no video of .* is long enough'):
        VSPWClipDataset(vspw_root, split='train', clip_len=8, skip_short_videos=True)


def test_vspw_missing_files(vspw_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='split file .*test.txt not found'):
        VSPWClipDataset(vspw_root, split='test')
    with pytest.raises(FileNotFoundError, match='not a directory') as error:
        VSPWClipDataset(str(tmp_path / 'nowhere'), split='train')
    # one more line: the command that writes a demo config's embedded dataset
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and 'python tools/make_demo_dataset.py CONFIG' in lines[1], lines
    mask = osp.join(vspw_root, 'data', 'video_b', 'mask', '00000006.png')
    os.remove(mask)
    frame = osp.join(vspw_root, 'data', 'video_b', 'origin', '00000006.jpg')
    with pytest.raises(FileNotFoundError, match=f'frame {frame} has no mask'):
        VSPWClipDataset(vspw_root, split='train')
    lenient = VSPWClipDataset(vspw_root, split='train', require_masks=False,
                              pipeline=PIPELINE)
    info = lenient.get_data_info(1)
    assert info['seg_map_paths'][2] is None and info['seg_map_paths'][1] is not None
    gt = lenient[1]['data_samples'].gt_sem_seg.data
    assert (gt[2] == 255).all() and not (gt[1] == 255).all()
    with open(osp.join(vspw_root, 'test.txt'), 'w') as f:
        f.write('video_a\nvideo_x\n')
    with pytest.raises(FileNotFoundError, match="'video_x' listed in .* has no frame dir"):
        VSPWClipDataset(vspw_root, split='test')
    os.makedirs(osp.join(vspw_root, 'data', 'video_x', 'origin'))
    with pytest.raises(ValueError, match="'video_x' has no frames"):
        VSPWClipDataset(vspw_root, split='test')
    open(osp.join(vspw_root, 'test.txt'), 'w').close()
    with pytest.raises(ValueError, match='lists no video'):
        VSPWClipDataset(vspw_root, split='test')


def test_vspw_bad_masks(vspw_root):
    dataset = VSPWClipDataset(vspw_root, split='val', clip_len=2, pipeline=PIPELINE)
    mask = osp.join(vspw_root, 'data', 'video_c', 'mask', '00000003.png')
    write_palette_png(mask, np.ones((H, W - 2), np.uint8))
    with pytest.raises(ValueError, match=f'mask {mask} is 16 x 22 .* its frame is 16 x 24'):
        dataset[0]
    values = mask_values(1)
    values[0, :3] = [125, 130, 130]
    write_palette_png(mask, values)
    with pytest.raises(ValueError, match=rf'mask {mask} has values \[125, 130\] .*'
                                         r'\[0, 124\) or 255'):
        dataset[0]


# ---------------------------------------------------------------------------------------------
# Cityscapes sequences

@pytest.fixture
def city_root(tmp_path):
    return write_cityscapes(tmp_path / 'cityscapes')


def test_cityscapes_clip_ends_at_the_annotated_frame(city_root):
    dataset = build(dict(type='CityscapesSeqClipDataset', data_root=city_root, split='val',
                         clip_len=4, gap=3))
    assert type(dataset) is CityscapesSeqClipDataset and len(dataset) == 2
    assert dataset.metainfo['classes'] == CityscapesDataset.METAINFO['classes']
    for i, seq in enumerate((0, 1)):
        info = dataset.get_data_info(i)
        assert set(info) == DATA_INFO_KEYS
        assert info['video'] == f'{CITY}_{seq:06d}' and info['frame_ids'] == [10, 13, 16, 19]
        assert info['img_paths'][0] == osp.join(
            city_root, 'leftImg8bit_sequence', 'val', CITY,
            f'{CITY}_{seq:06d}_000010_leftImg8bit.png')
        assert info['seg_map_paths'][:3] == [None] * 3
        assert info['seg_map_paths'][3] == osp.join(
            city_root, 'gtFine', 'val', CITY, f'{CITY}_{seq:06d}_000019_gtFine_labelTrainIds.png')
        assert info['reduce_zero_label'] is False and info['num_classes'] == 19
    single = CityscapesSeqClipDataset(city_root, clip_len=1)
    assert single.get_data_info(1)['frame_ids'] == [19]


def test_cityscapes_pipeline_item(city_root):
    dataset = CityscapesSeqClipDataset(city_root, split='val', clip_len=3, gap=2,
                                       pipeline=PIPELINE)
    item = dataset[1]
    assert item['inputs'].shape == (3, 3, H, W)
    gt = item['data_samples'].gt_sem_seg.data
    assert gt.shape == (3, H, W)
    assert (gt[:2] == 255).all()  # frames 15 and 17: no annotation
    assert set(torch.unique(gt[2]).tolist()) == {1, 18, 255}
    assert item['data_samples'].frame_ids == [15, 17, 19]


def test_cityscapes_errors(city_root, tmp_path):
    missing = osp.join(city_root, 'leftImg8bit_sequence', 'val', CITY,
                       f'{CITY}_000000_000009_leftImg8bit.png')
    with pytest.raises(FileNotFoundError, match=rf'{missing} is missing: .*clip_len=11 x '
                                                r'gap=1 needs frames 9\.\.19'):
        CityscapesSeqClipDataset(city_root, clip_len=11)
    with pytest.raises(ValueError, match='starts before frame 0'):
        CityscapesSeqClipDataset(city_root, clip_len=3, gap=10)
    with pytest.raises(FileNotFoundError, match='gtFine/train not found'):
        CityscapesSeqClipDataset(city_root, split='train')
    with pytest.raises(ValueError, match='split must be one of'):
        CityscapesSeqClipDataset(city_root, split='validation')


def test_vspw_training_pipeline(vspw_root):
    pipeline = [dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
                dict(type='ClipRandomResize', scale=(48, 32), ratio_range=(0.5, 1.5)),
                dict(type='ClipRandomCrop', crop_size=(12, 12), cat_max_ratio=0.75),
                dict(type='ClipRandomFlip', prob=0.5), dict(type='PackClipSegInputs')]
    dataset = build(dict(type='VSPWClipDataset', data_root=vspw_root, split='train',
                         clip_len=4, pipeline=pipeline))
    np.random.seed(0)
    for i in range(len(dataset)):
        item = dataset[i]
        assert item['inputs'].shape == (3, 4, 12, 12)
        sample = item['data_samples']
        assert sample.gt_sem_seg.data.shape == (4, 12, 12)
        assert set(torch.unique(sample.gt_sem_seg.data).tolist()) <= set(range(124)) | {255}
        assert sample.img_shape == (12, 12) and isinstance(sample.flip, bool)
