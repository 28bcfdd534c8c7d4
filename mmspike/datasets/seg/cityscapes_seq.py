"""Cityscapes video sequences as clips ending at the annotated frame, for MMSeg.

On-disk layout (Cityscapes' ``leftImg8bit_sequence`` package next to ``gtFine`` converted to
train ids by MMSeg's ``tools/dataset_converters/cityscapes.py``)::

    data_root/leftImg8bit_sequence/<split>/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png
    data_root/gtFine/<split>/<city>/<city>_<seq:06d>_<frame:06d>_gtFine_labelTrainIds.png

Each snippet is 30 frames of which one (frame 19 of the snippet) has a ``gtFine`` mask.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from typing import List

from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from ..clip_sampling import clip_span, positive_int
from .base import BaseSegClipDataset


@DATASETS.register_module()
class CityscapesSeqClipDataset(BaseSegClipDataset):
    """One clip per annotated Cityscapes frame: the clip *ends* at the annotated frame.

    For an annotated frame ``f`` the clip holds frames ``f - (clip_len - 1) * gap, ..., f - gap,
    f`` of the same snippet; only the last has a mask (``seg_map_paths`` is None for the
    others).  The annotated frames are the ``gtFine`` files found under
    ``gtFine/<split>/<city>/``.

    Args:
        data_root (str): the Cityscapes root (holding ``leftImg8bit_sequence`` and ``gtFine``).
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to ``'val'``.
        clip_len (int): frames per clip (T). Defaults to 4.
        gap (int): spacing of the clip's frames. Defaults to 1.
        img_suffix (str): Defaults to ``'_leftImg8bit.png'``.
        seg_map_suffix (str): Defaults to ``'_gtFine_labelTrainIds.png'``.
        reduce_zero_label (bool): Defaults to False (train ids: 0..18, 255 ignored).
        metainfo, pipeline, test_mode, lazy_init, serialize_data, max_refetch, indices,
        filter_cfg, ignore_index, backend_args: as :class:`mmseg.datasets.BaseSegDataset`
        (keyword arguments).

    Each data_info holds the keys of :class:`~mmspike.datasets.seg.VSPWClipDataset`'s items;
    ``video`` is ``<city>_<seq>`` and ``frame_ids`` the frame numbers.

    Errors: ``FileNotFoundError`` for a missing ``gtFine/<split>`` directory, no annotated
    frame, or a clip frame missing from ``leftImg8bit_sequence`` (the message names the file and
    the frames the clip needs); ``ValueError`` for bad arguments, a mask name that does not
    follow ``<city>_<seq>_<frame><seg_map_suffix>``, or a clip that would start before frame 0.
    """

    METAINFO = copy.deepcopy(CityscapesDataset.METAINFO)

    def __init__(self,
                 data_root: str = '',
                 split: str = 'val',
                 clip_len: int = 4,
                 gap: int = 1,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 reduce_zero_label: bool = False,
                 **kwargs):
        self.clip_len = positive_int('clip_len', clip_len)
        self.gap = positive_int('gap', gap)
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got {split!r}')
        self.split = split
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         data_root=data_root, reduce_zero_label=reduce_zero_label, **kwargs)

    def _annotated(self):
        """Sorted (city, seq, frame str, mask path) of every annotated frame of the split."""
        gt_dir = osp.join(self.data_root or '', 'gtFine', self.split)
        if not osp.isdir(gt_dir):
            raise FileNotFoundError(f'Cityscapes annotation directory {gt_dir} not found '
                                    f'(data_root={self.data_root!r}, split={self.split!r})')
        found = []
        for city in sorted(os.listdir(gt_dir)):
            city_dir = osp.join(gt_dir, city)
            if not osp.isdir(city_dir):
                continue
            for name in sorted(os.listdir(city_dir)):
                if not name.endswith(self.seg_map_suffix):
                    continue
                parts = name[:-len(self.seg_map_suffix)].rsplit('_', 2)
                if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
                    raise ValueError(f'Cityscapes mask {osp.join(city_dir, name)} is not named '
                                     f'<city>_<seq>_<frame>{self.seg_map_suffix}')
                found.append((parts[0], parts[1], parts[2], osp.join(city_dir, name)))
        if not found:
            raise FileNotFoundError(f'no *{self.seg_map_suffix} mask under {gt_dir}')
        return found

    def load_data_list(self) -> List[dict]:
        img_dir = osp.join(self.data_root or '', 'leftImg8bit_sequence', self.split)
        span = clip_span(self.clip_len, self.gap)
        data_list = []
        for city, seq, frame_str, mask in self._annotated():
            last = int(frame_str)
            ids = list(range(last - (span - 1), last + 1, self.gap))
            need = (f'clip_len={self.clip_len} x gap={self.gap} needs frames {ids[0]}..{last} '
                    f'(every {self.gap}) of snippet {city}_{seq}')
            if ids[0] < 0:
                raise ValueError(f'Cityscapes mask {mask}: {need}, which starts before frame '
                                 f'0; lower clip_len or gap')
            frames = []
            for i in ids:
                path = osp.join(img_dir, city,
                                f'{city}_{seq}_{i:0{len(frame_str)}d}{self.img_suffix}')
                if not osp.isfile(path):
                    raise FileNotFoundError(f'Cityscapes sequence frame {path} is missing: the '
                                            f'clip of annotated frame {mask} ({need}) is longer '
                                            f'than the available sequence')
                frames.append(path)
            data_list.append(self._info(frames, [None] * (len(ids) - 1) + [mask],
                                        f'{city}_{seq}', ids))
        return data_list
