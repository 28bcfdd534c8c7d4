"""The run check as a hook: :class:`DatasetCheckHook` reads the annotation lists of a run when the
Runner builds it, and checks every file of every dataset the run uses once the Runner has built
them (:mod:`mmspike.engine.run_checks`)."""
import time
from typing import Optional, Sequence

from mmengine.hooks import Hook

from ..engine.run_checks import (CHECK_MODES, FIX_HINT, DataCheckError, check_annotation_lists,
                                 check_train_batch_size, dataset_problems, find_bad_entries,
                                 leaf_datasets, name_sample_errors)
from ..registry import HOOKS
from .embedded_dataset_hook import building_runner

SPLITS = ('train', 'val', 'test')


def head_num_classes(model) -> Optional[int]:
    """``num_classes`` of a built model's classification head (``cls_head``), or None."""
    model = getattr(model, 'module', model)  # DDP / MMDistributedDataParallel
    head = getattr(model, 'cls_head', None)
    value = getattr(head, 'num_classes', None)
    return int(value) if isinstance(value, int) else None


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Check a run's data before its first step; one error lists every problem found.

    * When the Runner builds it (before any dataset is built, so before a reader can fail on a
      bad line or silently change it): the annotation lists of ``splits``, line by line
      (:func:`~mmspike.engine.run_checks.check_annotation_lists`: empty lines, missing,
      non-integer and out-of-range labels, each named with file and line number).
    * ``before_run`` (the Runner has built its datasets, model and dataloaders): the training
      batch size against the model (:func:`~mmspike.engine.run_checks.check_train_batch_size`),
      then every file of every dataset the run uses (train and val when training, test when
      testing) and their labels (:func:`~mmspike.engine.run_checks.find_bad_entries`); and
      errors raised while loading a sample later name its files
      (:func:`~mmspike.engine.run_checks.name_sample_errors`).  The log gives each dataset's
      check time and mode.

    ``tools/train.py`` and ``tools/test.py`` add it (``--check MODE``; ``--check off`` adds
    none); with the stock tools put ``dict(type='DatasetCheckHook')`` in ``custom_hooks``.

    Args:
        mode (str): ``'full'`` decodes every frame of every video, image and mask; ``'quick'``
            opens every video (its packet index) and reads every event file; ``'auto'``: full
            for datasets whose files take at most 2 GiB, else quick. Defaults to ``'auto'``.
        probe (bool): False checks existence and size only (huge datasets). Defaults to True.
        max_listed (int): bad entries listed per dataset. Defaults to 5.
        splits (sequence of str, optional): the splits (``'train'``, ``'val'``, ``'test'``)
            whose annotation lists are read; None: every dataloader of the config. Defaults to
            None.
    """

    priority = 'VERY_HIGH'

    def __init__(self, mode: str = 'auto', probe: bool = True, max_listed: int = 5,
                 splits: Optional[Sequence[str]] = None):
        usable = [m for m in CHECK_MODES if m != 'off']
        if mode not in usable:
            raise ValueError(f'DatasetCheckHook: mode must be one of {usable}, got {mode!r} '
                             f'(leave the hook out, or --check off, for no check)')
        if splits is not None:
            unknown = [s for s in splits if s not in SPLITS]
            if unknown:
                raise ValueError(f'DatasetCheckHook: splits must be among {SPLITS}, got '
                                 f'{list(splits)}')
        self.mode = mode
        self.probe = bool(probe)
        self.max_listed = int(max_listed)
        self.splits = None if splits is None else tuple(splits)
        self._checked = set()
        runner = building_runner()
        if runner is not None:
            check_annotation_lists(runner.cfg, self.splits)

    def before_run(self, runner) -> None:
        from mmengine.runner import BaseLoop
        loops = [(name, getattr(runner, f'_{name}_loop', None)) for name in SPLITS]
        built = [(name, loop) for name, loop in loops if isinstance(loop, BaseLoop)]
        for name, loop in built:
            if name == 'train':
                check_train_batch_size(runner.model, loop.dataloader)
        num_classes = head_num_classes(runner.model)
        reports = []
        for name, loop in built:
            for dataset in leaf_datasets(loop.dataloader.dataset):
                name_sample_errors(dataset)
                if id(dataset) in self._checked:
                    continue
                start = time.time()
                bad, checked, mode = find_bad_entries(
                    dataset, self.mode if self.probe else 'exists', runner.logger, num_classes)
                self._checked.add(id(dataset))
                if bad:
                    reports.append(dataset_problems(dataset, f'{name}_dataloader', bad, checked,
                                                    self.max_listed))
                elif checked:
                    runner.logger.info(
                        f'dataset check ({name}, {mode}): {checked} entries of '
                        f'{getattr(dataset, "ann_file", "") or type(dataset).__name__} are '
                        f'usable ({time.time() - start:.1f} s)')
        if reports:
            raise DataCheckError('\n'.join(reports) + '\n' + FIX_HINT)
