"""A dataset of event clips listed in an annotation file (MMAction2)."""
import os.path as osp
from typing import Callable, List, Optional, Union

from mmaction.datasets.base import BaseActionDataset
from mmaction.registry import DATASETS
from mmengine.fileio import list_from_file


@DATASETS.register_module()
class EventClipDataset(BaseActionDataset):
    """Event clips (``.npz`` or ``.aedat`` files, :mod:`mmspike.datasets.events`) with labels.

    The annotation file has one ``relative/path.npz LABEL`` line per clip (an integer label;
    blank lines are skipped), paths relative to ``data_prefix['events']``::

        swipe_left/clip_000.npz 0
        swipe_right/clip_000.npz 1

    Each sample is ``dict(filename=<data_prefix['events']>/<path>, label=LABEL)``; the
    pipeline starts with ``LoadEvents`` (:mod:`mmspike.datasets.transforms.event_transforms`).

    Args:
        ann_file (str): the annotation file.
        pipeline (list[dict | callable]): the data transforms.
        data_prefix (dict): ``dict(events=ROOT)``, the folder the listed paths are relative
            to. Defaults to ``dict(events='')``.
        test_mode (bool): building a validation or test set. Defaults to False.
        delimiter (str, optional): separator of path and label. Defaults to None (any
            whitespace).
        **kwargs: the other arguments of MMAction2's ``BaseActionDataset`` (``data_root``,
            ``num_classes``, ``metainfo``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(events=''),
                 test_mode: bool = False,
                 delimiter: Optional[str] = None,
                 **kwargs) -> None:
        self.delimiter = delimiter
        super().__init__(ann_file, pipeline=pipeline, data_prefix=data_prefix,
                         test_mode=test_mode, modality='Events', **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the annotation file into ``[dict(filename=..., label=...), ...]``."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file '
                                    f'{self.ann_file!r} does not exist')
        root = self.data_prefix.get('events') or ''
        data_list = []
        for number, line in enumerate(list_from_file(self.ann_file), 1):
            if not line.strip():
                continue
            parts = line.strip().split(self.delimiter)
            try:
                if len(parts) != 2:
                    raise ValueError
                path, label = parts[0], int(parts[1])
            except ValueError:
                raise ValueError(f'{self.ann_file} line {number}: expected "relative/path.npz '
                                 f'LABEL" (an integer label), got {line.strip()!r}') from None
            data_list.append(dict(filename=osp.join(root, path), label=label))
        if not data_list:
            raise ValueError(f'{type(self).__name__}: annotation file {self.ann_file!r} lists '
                             f'no clips')
        return data_list
