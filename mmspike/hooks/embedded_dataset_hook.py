"""Write a config's embedded demo dataset when a Runner registers its hooks, so that the stock
``tools/train.py`` and ``tools/test.py`` of MMAction2, MMPose and MMSeg find the data."""
from __future__ import annotations

import sys
from typing import Optional

from mmengine.hooks import Hook

from ..registry import HOOKS


def building_runner():
    """The mmengine ``Runner`` (or ``FlexibleRunner``) whose code called this function, found
    among the calling frames (the ``self`` of ``Runner.register_hook``), or None."""
    from mmengine.runner import FlexibleRunner, Runner
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get('self')
        if isinstance(owner, (Runner, FlexibleRunner)):
            return owner
        frame = frame.f_back
    return None


@HOOKS.register_module()
class EmbeddedDatasetHook(Hook):
    """Write the embedded demo dataset of a config when the Runner builds this hook.

    mmengine's Runner (0.10.7) builds the datasets inside ``train()``, ``val()`` and
    ``test()``, when it builds their loops, before it calls any hook (``before_run`` comes
    after), so no hook stage runs early enough.  It registers its hooks at the end of
    ``__init__``, after ``setup_env`` has initialised the process group of a distributed launch
    and before any dataset is built.  So this hook writes the dataset in its ``__init__``,
    through :func:`mmspike.datasets.synthetic.prepare_embedded_dataset`: under a distributed
    launch local rank 0 writes while the other processes wait at a collective; a dataset
    already written with the same arguments is reused (``meta.json`` matches), so a run whose
    tool wrote it first (mmspike's ``tools/train.py`` and ``tools/test.py``) only checks it.

    ``configs/_base_/default_runtime.py`` puts it in every config's ``default_hooks``
    (``embedded_dataset``) without arguments; it then writes the ``embedded_dataset`` of the
    config of the Runner that builds it, as that config stands when the Runner is built (so
    ``--cfg-options`` and configs that set ``embedded_dataset = None`` are followed); a config
    without ``embedded_dataset`` writes nothing.

    Args:
        dataset (dict, optional): the dataset to write, as a config's ``embedded_dataset``:
            ``dict(root=..., generator='motion_clips' | 'motion_events' | 'pose_clips' |
            'seg_clips', **arguments of its write_dataset)``. Defaults to None: the
            ``embedded_dataset`` of the building Runner's config (none outside a Runner).

    Attributes:
        dataset (dict | None): what was written or reused (None: nothing to write).
        meta (dict | None): the generator's meta data of it (None on ranks other than local
            rank 0 and when nothing was written).
    """

    def __init__(self, dataset: Optional[dict] = None):
        from ..datasets.synthetic import prepare_embedded_dataset

        if dataset is None:
            runner = building_runner()
            cfg = getattr(runner, 'cfg', None) if runner is not None else None
            dataset = cfg.get('embedded_dataset', None) if cfg is not None else None
        if dataset is not None and not isinstance(dataset, dict):
            raise TypeError(f'EmbeddedDatasetHook: dataset must be a dict (a config\'s '
                            f'embedded_dataset) or None, got {type(dataset).__name__}')
        self.dataset = dict(dataset) if dataset else None
        self.meta = prepare_embedded_dataset(dict(embedded_dataset=self.dataset)) \
            if self.dataset else None
