"""What the clip segmentation datasets share: :class:`BaseSegClipDataset`."""
from __future__ import annotations

from typing import List, Optional, Sequence

from mmseg.datasets import BaseSegDataset


class BaseSegClipDataset(BaseSegDataset):
    """Base of the datasets of video clips with per-frame masks (not registered).

    A subclass lists its clips in ``load_data_list``, one :meth:`_info` per clip; the frames
    and masks are named there, so no ``data_prefix`` is used.

    A class list given in ``metainfo`` selects and reorders classes as in MMSeg (it must be a
    subset of ``METAINFO['classes']``; a ``label_map`` maps the masks, the other classes become
    255).  A different label set written in the same layout (e.g. the generated demo data) says
    so explicitly with ``metainfo=dict(classes=..., own_classes=True)``: its mask values are
    then used as they are (no ``label_map``), and a palette is generated when none of the right
    length is given.  Guessing from the names would be silently wrong for a label set whose
    names all happen to be ours.

    Args:
        **kwargs: as :class:`mmseg.datasets.BaseSegDataset` (``ann_file``, ``img_suffix``,
            ``seg_map_suffix``, ``metainfo``, ``data_root``, ``filter_cfg``, ``indices``,
            ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``,
            ``ignore_index``, ``reduce_zero_label``, ``backend_args``), but ``data_prefix``.
    """

    #: the values ``split`` may take
    SPLITS = ('train', 'val', 'test')

    def __init__(self, **kwargs):
        super().__init__(data_prefix=dict(), **kwargs)

    def get_label_map(self, new_classes: Optional[Sequence] = None):
        # an instance method (MMSeg's is a classmethod): BaseSegDataset calls it on the
        # instance once the metainfo is loaded, and own_classes lives in the metainfo.
        if self._metainfo.get('own_classes', False):
            return None
        try:
            return super().get_label_map(new_classes)
        except ValueError as error:
            raise ValueError(f'{type(self).__name__}: {error}; for a label set of your own '
                             f'(not a selection of these classes) pass metainfo=dict('
                             f'classes=..., own_classes=True)') from error

    def _update_palette(self) -> list:
        classes = self._metainfo.get('classes', [])
        if self.label_map is None and len(self._metainfo.get('palette', [])) != len(classes):
            self._metainfo['palette'] = []  # an own label set: generate one
        return super()._update_palette()

    def _info(self, img_paths: Sequence[str], seg_map_paths: Sequence[Optional[str]],
              video: str, frame_ids: Sequence[int]) -> dict:
        """One data_info: ``img_paths`` (T str), ``seg_map_paths`` (T str, or None for a frame
        without a mask), ``video``, ``frame_ids`` (T int), ``clip_len`` (T),
        ``reduce_zero_label``, ``num_classes`` (``len(metainfo['classes'])``), ``label_map``
        and ``seg_fields`` ([])."""
        return dict(img_paths=list(img_paths), seg_map_paths=list(seg_map_paths),
                    video=video, frame_ids=[int(i) for i in frame_ids],
                    clip_len=len(img_paths), reduce_zero_label=self.reduce_zero_label,
                    num_classes=len(self._metainfo['classes']), label_map=self.label_map,
                    seg_fields=[])

    def load_data_list(self) -> List[dict]:
        raise NotImplementedError
