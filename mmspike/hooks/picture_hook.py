"""What the ``tools/test.py --show-dir`` hooks share: output directory, clip budget, one clip
per sequence, warnings given once, a summary at the end of the test."""
from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import Hook


class BasePictureHook(Hook):
    """Base of the hooks that draw the first test clips (not registered).

    Args:
        out_dir (str): output directory; a relative one is taken under the runner's
            ``work_dir``.
        max_clips (int): clips to draw.

    Subclasses draw in ``after_test_iter`` (main process only), append each file they write to
    :attr:`written`, note each sequence drawn in :attr:`_sequences` (one clip per sequence) and
    name what they wrote in :meth:`_summary`.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, max_clips: int):
        name = type(self).__name__
        if not out_dir or not isinstance(out_dir, str):
            raise ValueError(f'{name}: out_dir must be a non-empty path, got {out_dir!r}')
        if isinstance(max_clips, bool) or not isinstance(max_clips, int) or max_clips < 0:
            raise ValueError(f'{name}: max_clips must be an int >= 0, got {max_clips!r}')
        self.out_dir = out_dir
        self.max_clips = max_clips
        self._reset()

    def _reset(self):
        self.written = []
        self._sequences = set()
        self._warned = set()
        self._directory = None

    def _warn(self, runner, key, message):
        if key not in self._warned:
            self._warned.add(key)
            runner.logger.warning(f'{type(self).__name__}: {message}')

    def before_test(self, runner) -> None:
        self._reset()
        self._directory = self.out_dir if osp.isabs(self.out_dir) \
            else osp.join(runner.work_dir, self.out_dir)

    def _summary(self) -> str:
        raise NotImplementedError

    def after_test(self, runner) -> None:
        if is_main_process() and self._directory is not None:
            runner.logger.info(f'{type(self).__name__}: {self._summary()}')
