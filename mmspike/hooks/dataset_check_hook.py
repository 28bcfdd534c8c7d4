"""The run check as a hook: :class:`DatasetCheckHook` runs the data checks of
:mod:`mmspike.engine.run_checks` once the runner has built its datasets, model and dataloaders."""
import time

from mmengine.hooks import Hook

from ..engine.run_checks import leaf_datasets, check_dataset_videos, check_train_batch_size
from ..registry import HOOKS


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Check the built datasets and the training batch size before the run starts
    (``before_run``): :func:`check_train_batch_size` for training, then
    :func:`check_dataset_videos` for every dataset the runner has built (train and val when
    training, test when testing).  Each dataset is checked once per hook.

    ``tools/train.py`` and ``tools/test.py`` add it (:func:`check_run_config`); configure it with
    ``dataset_check = dict(probe=False)`` or ``--cfg-options dataset_check.probe=False``.

    Args:
        probe (bool): open every video for its frame count (about 1 ms per small clip); False
            checks existence and size only (huge datasets). Defaults to True.
        max_listed (int): bad entries listed in the error. Defaults to 5.
    """

    priority = 'VERY_HIGH'

    def __init__(self, probe: bool = True, max_listed: int = 5):
        self.probe = bool(probe)
        self.max_listed = int(max_listed)
        self._checked = set()

    def before_run(self, runner) -> None:
        from mmengine.runner import BaseLoop
        loops = [(name, getattr(runner, f'_{name}_loop', None))
                 for name in ('train', 'val', 'test')]
        built = [(name, loop) for name, loop in loops if isinstance(loop, BaseLoop)]
        for name, loop in built:
            if name == 'train':
                check_train_batch_size(runner.model, loop.dataloader)
        for name, loop in built:
            for dataset in leaf_datasets(loop.dataloader.dataset):
                if id(dataset) in self._checked:
                    continue
                start = time.time()
                count = check_dataset_videos(dataset, f'{name}_dataloader', self.probe,
                                             self.max_listed, runner.logger)
                self._checked.add(id(dataset))
                if count:
                    runner.logger.info(f'dataset check ({name}): {count} entries of '
                                       f'{getattr(dataset, "ann_file", "?")} are usable '
                                       f'({time.time() - start:.1f} s)')
