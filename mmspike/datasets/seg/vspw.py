"""VSPW (Video Scene Parsing in the Wild) as clips of frames with per-frame masks, for MMSeg.

On-disk layout (the VSPW release's, which the demo generator
:mod:`mmspike.datasets.synthetic.seg_clips` also writes)::

    data_root/{train,val,test}.txt                  one video id per line
    data_root/data/<video>/origin/<stem>.jpg        frames, in the order of their stems
    data_root/data/<video>/mask/<stem>.png          masks (palette PNG), same stem as the frame

Mask values: 0 is "others" and 255 is not labelled; 1..124 are the 124 classes.  The official
evaluation ignores both 0 and 255, which is MMSeg's ``reduce_zero_label=True``: labels
become ``0..123`` and 255 is the ignore index.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import List, Optional

from mmseg.registry import DATASETS

from ..clip_sampling import clip_positions, clip_spacing, clip_span, positive_int
from ..synthetic import MAKE_DEMO_DATASET_HINT
from .base import BaseSegClipDataset

# The 124 VSPW classes, in the order of their mask values 1..124 (0 is "others", ignored).  The
# names are those of the VSPW release's label list (label_num_dic_final.json), as used by the
# VSPW baselines (e.g. the CFFM code's VSPW dataset).
VSPW_CLASSES = (
    'wall', 'ceiling', 'door', 'stair', 'ladder', 'escalator', 'Playground_slide',
    'handrail_or_fence', 'window', 'rail', 'goal', 'pillar', 'pole', 'floor', 'ground', 'grass',
    'sand', 'athletic_field', 'road', 'path', 'crosswalk', 'building', 'house', 'bridge',
    'tower', 'windmill', 'well_or_well_lid', 'other_construction', 'sky', 'mountain', 'stone',
    'wood', 'ice', 'snowfield', 'grandstand', 'sea', 'river', 'lake', 'waterfall', 'water',
    'billboard_or_Bulletin_Board', 'sculpture', 'pipeline', 'flag', 'parasol_or_umbrella',
    'cushion_or_carpet', 'tent', 'roadblock', 'car', 'bus', 'truck', 'bicycle', 'motorcycle',
    'wheeled_machine', 'ship_or_boat', 'raft', 'airplane', 'tyre', 'traffic_light', 'lamp',
    'person', 'cat', 'dog', 'horse', 'cattle', 'other_animal', 'tree', 'flower', 'other_plant',
    'toy', 'ball_net', 'backboard', 'skateboard', 'bat', 'ball',
    'cupboard_or_showcase_or_storage_rack', 'box', 'traveling_case_or_trolley_case', 'basket',
    'bag_or_package', 'trash_can', 'cage', 'plate', 'tub_or_bowl_or_pot', 'bottle_or_cup',
    'barrel', 'fishbowl', 'bed', 'pillow', 'table_or_desk', 'chair_or_seat', 'bench', 'sofa',
    'shelf', 'bathtub', 'gun', 'commode', 'roaster', 'other_machine', 'refrigerator',
    'washing_machine', 'Microwave_oven', 'fan', 'curtain', 'textiles', 'clothes',
    'painting_or_poster', 'mirror', 'flower_pot_or_vase', 'clock', 'book', 'tool', 'blackboard',
    'tissue', 'screen_or_television', 'computer', 'printer', 'Mobile_phone', 'keyboard',
    'other_electronic_product', 'fruit', 'food', 'instrument', 'train')


def indexed_palette(num: int, first: int = 1) -> List[List[int]]:
    """``num`` distinct RGB colours for indices ``first, first + 1, ...`` (< 256): the bits of
    each index are spread over the high bits of R, G and B in turn (a palette-PNG colour map)."""
    palette = []
    for index in range(first, first + num):
        rgb, value = [0, 0, 0], index
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << bit
            value >>= 3
        palette.append(rgb)
    return palette


VSPW_PALETTE = indexed_palette(len(VSPW_CLASSES))


@DATASETS.register_module()
class VSPWClipDataset(BaseSegClipDataset):
    """VSPW videos cut into clips of frames, each frame with its mask.

    Each video listed in the split file is cut into clips of ``clip_len`` frames taken every
    ``gap``-th frame, with clip starts ``stride`` frames apart.  Frames are counted as positions
    in the video's frames sorted by file stem, so a clip holds the frames at positions ``s, s +
    gap, ..., s + (clip_len - 1) * gap`` and needs ``(clip_len - 1) * gap + 1`` frames (its
    span).  ``clip_len=None`` gives one item per video: its frames ``0, gap, 2 * gap, ...``.

    Args:
        data_root (str): the VSPW root (holding the split files and ``data/``).
        split (str): ``'train'``, ``'val'`` or ``'test'``: reads ``data_root/<split>.txt``.
            Defaults to ``'train'``.  Ignored when ``ann_file`` is given.
        ann_file (str): a split file (one video id per line), relative to ``data_root`` or
            absolute. Defaults to '' (use ``split``).
        clip_len (int, optional): frames per clip (T); None: one item per whole video.
            Defaults to None.
        gap (int): spacing of a clip's frames. Defaults to 1.
        stride (int, optional): frames between consecutive clip starts. Defaults to
            ``clip_len * gap`` (non-overlapping clips continuing the same spacing).
        reduce_zero_label (bool): mask value 0 ("others") -> 255, ``k`` -> ``k - 1`` (done by
            :class:`~mmspike.datasets.seg.LoadClipSegMaps`). Defaults to True (VSPW's protocol:
            124 classes, ignore 255).
        skip_short_videos (bool): skip videos shorter than one clip's span, with one warning
            giving their number, instead of raising. Defaults to False.
        require_masks (bool): every frame must have a mask; with False a frame without one
            gets ``None`` in ``seg_map_paths`` (e.g. a split released without masks).
            Defaults to True.
        img_suffix (str): frame extension. Defaults to '.jpg'.
        seg_map_suffix (str): mask extension. Defaults to '.png'.
        metainfo, pipeline, test_mode, lazy_init, serialize_data, max_refetch, indices,
        filter_cfg, ignore_index, backend_args: as :class:`mmseg.datasets.BaseSegDataset`
        (keyword arguments).

    Each data_info holds ``img_paths`` (T str), ``seg_map_paths`` (T str, or None for a frame
    without a mask), ``video``, ``frame_ids`` (T int: the stems as numbers when every stem of
    the video is a number, else the positions), ``clip_len`` (T), ``reduce_zero_label``,
    ``num_classes`` (``len(metainfo['classes'])``), ``label_map``, ``seg_fields`` ([]), and,
    from :meth:`get_data_info`, ``sample_idx``.

    Errors: ``FileNotFoundError`` for a missing ``data_root`` or split file, a listed video
    without an ``origin/`` directory, or a frame without a mask of the same stem (with
    ``require_masks``); ``ValueError`` for bad arguments, an empty split file, a video without
    frames, a video shorter than one clip's span (unless ``skip_short_videos``) or no clip at
    all.
    """

    METAINFO = dict(classes=VSPW_CLASSES, palette=VSPW_PALETTE)

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 ann_file: str = '',
                 clip_len: Optional[int] = None,
                 gap: int = 1,
                 stride: Optional[int] = None,
                 reduce_zero_label: bool = True,
                 skip_short_videos: bool = False,
                 require_masks: bool = True,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs):
        if clip_len is None:  # whole videos: no clip length, hence no default stride
            self.clip_len, self.gap = None, positive_int('gap', gap)
            self.stride = None if stride is None else positive_int('stride', stride)
        else:
            self.clip_len, self.gap, self.stride = clip_spacing(clip_len, gap, stride)
        if not ann_file:
            if split not in self.SPLITS:
                raise ValueError(f'split must be one of {self.SPLITS} (or give ann_file), '
                                 f'got {split!r}')
            ann_file = f'{split}.txt'
        self.split = split
        self.skip_short_videos = bool(skip_short_videos)
        self.require_masks = bool(require_masks)
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         data_root=data_root, reduce_zero_label=reduce_zero_label, **kwargs)

    def _video_ids(self) -> List[str]:
        if not self.data_root or not osp.isdir(self.data_root):
            raise FileNotFoundError(f'VSPW data_root {self.data_root!r} is not a directory\n'
                                    f'{MAKE_DEMO_DATASET_HINT}')
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'VSPW split file {self.ann_file} not found (split='
                                    f'{self.split!r}; expected data_root/<split>.txt listing '
                                    f'one video id per line)\n{MAKE_DEMO_DATASET_HINT}')
        with open(self.ann_file) as f:
            videos = [line.strip() for line in f if line.strip()]
        if not videos:
            raise ValueError(f'VSPW split file {self.ann_file} lists no video')
        return videos

    def _video_frames(self, video: str):
        """(frame paths, mask paths or None, frame ids) of ``video``, in stem order."""
        video_dir = osp.join(self.data_root, 'data', video)
        origin = osp.join(video_dir, 'origin')
        if not osp.isdir(origin):
            raise FileNotFoundError(f'VSPW video {video!r} listed in {self.ann_file} has no '
                                    f'frame directory {origin}')
        stems = sorted(name[:-len(self.img_suffix)] for name in os.listdir(origin)
                       if name.endswith(self.img_suffix))
        if not stems:
            raise ValueError(f'VSPW video {video!r} has no frames (*{self.img_suffix}) in '
                             f'{origin}')
        frames, masks = [], []
        for stem in stems:
            frame = osp.join(origin, stem + self.img_suffix)
            mask = osp.join(video_dir, 'mask', stem + self.seg_map_suffix)
            if not osp.isfile(mask):
                if self.require_masks:
                    raise FileNotFoundError(f'VSPW frame {frame} has no mask {mask} (pass '
                                            f'require_masks=False for frames without masks)')
                mask = None
            frames.append(frame)
            masks.append(mask)
        ids = [int(s) for s in stems] if all(s.isdigit() for s in stems) else range(len(stems))
        return frames, masks, list(ids)

    def load_data_list(self) -> List[dict]:
        videos = self._video_ids()
        data_list, short = [], []
        for video in videos:
            frames, masks, ids = self._video_frames(video)
            if self.clip_len is None:
                clips = [list(range(0, len(frames), self.gap))]
            else:
                clips = clip_positions(len(frames), self.clip_len, self.gap, self.stride)
            if not clips:
                span = clip_span(self.clip_len, self.gap)
                if not self.skip_short_videos:
                    raise ValueError(
                        f'VSPW video {video!r} has {len(frames)} frames but clip_len='
                        f'{self.clip_len} x gap={self.gap} needs {span} ((clip_len - 1) * gap '
                        f'+ 1); lower clip_len/gap or pass skip_short_videos=True')
                short.append(f'{video} ({len(frames)} frames)')
            for clip in clips:
                data_list.append(self._info([frames[i] for i in clip], [masks[i] for i in clip],
                                            video, [ids[i] for i in clip]))
        if short:
            need = (f'clip_len={self.clip_len} x gap={self.gap} needs '
                    f'{clip_span(self.clip_len, self.gap)} frames')
            if not data_list:
                raise ValueError(f'no video of {self.ann_file} is long enough for one clip: '
                                 f'{need}; found {", ".join(short)}')
            shown = ', '.join(short[:5]) + (', ...' if len(short) > 5 else '')
            warnings.warn(f'{type(self).__name__}: skipped {len(short)} of {len(videos)} '
                          f'videos shorter than one clip ({need}): {shown}')
        return data_list
