"""What the ``tools/test.py --show-dir`` hooks share: output directory, on / off switches (those
of MMPose's and MMSeg's stock ``tools/test.py``), clip budget, one clip per sequence, the walk
over a test iteration's outputs, file names, warnings given once, a summary at the end of the
test."""
from __future__ import annotations

import os.path as osp
import re
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook


class BasePictureHook(Hook):
    """Base of the hooks that draw the first test clips (not registered).

    The runtime bases (``configs/_base_/runtime_mmpose.py``, ``runtime_mmseg.py``) make a
    subclass their ``default_hooks.visualization``, switched off, so that a test writes
    pictures only when asked: MMPose's stock ``tools/test.py --show-dir DIR`` sets ``enable``,
    ``out_dir``, ``show``, ``interval`` (and ``wait_time`` with ``--show``); MMSeg's sets
    ``draw`` (and ``show``, ``wait_time``) and the visualizer's ``save_dir``, which a subclass
    may take as its directory (:meth:`_default_out_dir`); mmspike's ``tools/test.py
    --show-dir`` sets ``enable`` and ``out_dir`` (:func:`mmspike.engine.runner.add_show_hook`).

    Args:
        out_dir (str, optional): output directory; a relative one is taken under the runner's
            ``work_dir``.  Defaults to None: :meth:`_default_out_dir`; without one an enabled
            hook writes nothing and warns once.
        max_clips (int): clips to draw. Defaults to 4.
        enable (bool): draw (MMPose's switch). Defaults to True.
        draw (bool): draw (MMSeg's switch). Defaults to False.  The hook draws when ``enable``
            or ``draw`` is true.
        interval (int): draw from every ``interval``-th test iteration. Defaults to 1.
        show (bool): also show the pictures in a window, where the subclass can. Defaults to
            False.
        wait_time (float): seconds a shown picture stays. Defaults to 0.

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

    def __init__(self, out_dir: Optional[str] = None, max_clips: int = 4, enable: bool = True,
                 draw: bool = False, interval: int = 1, show: bool = False,
                 wait_time: float = 0.):
        name = type(self).__name__
        if out_dir is not None and (not out_dir or not isinstance(out_dir, str)):
            raise ValueError(f'{name}: out_dir must be a non-empty path or None, got '
                             f'{out_dir!r}')
        if isinstance(max_clips, bool) or not isinstance(max_clips, int) or max_clips < 0:
            raise ValueError(f'{name}: max_clips must be an int >= 0, got {max_clips!r}')
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'{name}: interval must be an int >= 1, got {interval!r}')
        if isinstance(wait_time, bool) or not isinstance(wait_time, (int, float)) \
                or wait_time < 0:
            raise ValueError(f'{name}: wait_time must be a number >= 0, got {wait_time!r}')
        self.out_dir = out_dir
        self.max_clips = max_clips
        self.enable = bool(enable)
        self.draw = bool(draw)
        self.interval = interval
        self.show = bool(show)
        self.wait_time = float(wait_time)
        self._reset()

    @property
    def active(self) -> bool:
        """Whether the hook draws: ``enable`` or ``draw``."""
        return self.enable or self.draw

    def _reset(self):
        self.written = []
        self._sequences = set()
        self._warned = set()
        self._directory = None
        self._started = False

    def _warn(self, runner, key, message):
        if key not in self._warned:
            self._warned.add(key)
            runner.logger.warning(f'{type(self).__name__}: {message}')

    def _default_out_dir(self, runner) -> Optional[str]:
        """The directory used when ``out_dir`` is None (here: none)."""
        return None

    def before_test(self, runner) -> None:
        self._reset()
        self._started = True
        if not self.active:
            return
        out_dir = self.out_dir or self._default_out_dir(runner)
        if out_dir:
            self._directory = out_dir if osp.isabs(out_dir) \
                else osp.join(runner.work_dir, out_dir)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.active or not is_main_process() or not outputs \
                or len(self.written) >= self.max_clips or batch_idx % self.interval:
            return
        if not self._started:  # called without before_test
            self.before_test(runner)
        if self._directory is None:
            self._warn(runner, 'no-dir', 'no output directory (give tools/test.py '
                       '--show-dir DIR): nothing written')
            return
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
        if self.active and is_main_process() and self._directory is not None:
            runner.logger.info(f'{type(self).__name__}: {self._summary()}')
