"""What the ``tools/test.py --show-dir`` hooks share: output directory, clip budget, one clip
per sequence, the walk over a test iteration's outputs, file names, warnings given once, a
summary at the end of the test."""
from __future__ import annotations

import os.path as osp
import re

from mmengine.dist import is_main_process
from mmengine.hooks import Hook


class BasePictureHook(Hook):
    """Base of the hooks that draw the first test clips (not registered).

    Args:
        out_dir (str): output directory; a relative one is taken under the runner's
            ``work_dir``.
        max_clips (int): clips to draw.

    :meth:`after_test_iter` (main process only) hands each output data sample to
    :meth:`_draw_sample` until ``max_clips`` files are written.  A subclass draws a sample
    there, skips one of a sequence already drawn (:meth:`_drawn_before`: one clip per
    sequence, the sequence named by the metainfo key :attr:`sequence_key`), names its file
    with :meth:`_stem`, records what it wrote with :meth:`_record`, and names all it wrote in
    :meth:`_summary`; :meth:`_can_draw` may refuse a whole iteration (with a warning).
    """

    priority = 'LOW'
    #: the metainfo key naming the sequence a clip comes from (one clip drawn per sequence)
    sequence_key = 'video'

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

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not is_main_process() or not outputs or len(self.written) >= self.max_clips:
            return
        if self._directory is None:  # called without before_test
            self.before_test(runner)
        if not self._can_draw(runner):
            return
        for sample in outputs:
            if len(self.written) >= self.max_clips:
                break
            self._draw_sample(runner, sample)

    def _can_draw(self, runner) -> bool:
        """Whether this runner's outputs can be drawn at all (else warn and return False)."""
        return True

    def _draw_sample(self, runner, sample) -> None:
        """Draw one output data sample, or skip it (with a warning given once)."""
        raise NotImplementedError

    def _drawn_before(self, meta: dict) -> bool:
        """Whether a clip of the sequence of ``meta`` (a sample's metainfo) is drawn already."""
        sequence = meta.get(self.sequence_key)
        return sequence is not None and sequence in self._sequences

    def _stem(self, meta: dict, index: int) -> str:
        """``<sequence>_<first frame id>`` of a sample's metainfo (``clip<index>`` without a
        sequence), with characters other than letters, digits, ``.`` and ``-`` made ``_``."""
        sequence = meta.get(self.sequence_key)
        frame_ids = meta.get('frame_ids')
        stem = str(sequence) if sequence is not None else f'clip{index:04d}'
        if frame_ids is not None and len(frame_ids):
            stem += f'_{int(frame_ids[0])}'
        return re.sub(r'[^\w.-]+', '_', stem)

    def _record(self, runner, path: str, meta: dict, what: str = '') -> None:
        """Note the file ``path`` written for the sample of metainfo ``meta`` and log it
        (``what``: how to name it in the log; the path by default)."""
        self.written.append(path)
        sequence = meta.get(self.sequence_key)
        if sequence is not None:
            self._sequences.add(sequence)
        runner.logger.info(f'{type(self).__name__}: wrote {what or path}')

    def _summary(self) -> str:
        raise NotImplementedError

    def after_test(self, runner) -> None:
        if is_main_process() and self._directory is not None:
            runner.logger.info(f'{type(self).__name__}: {self._summary()}')
