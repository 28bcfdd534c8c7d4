"""Write colour-overlaid predicted vs ground-truth frames of test clips (video segmentation)."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional

import cv2
import numpy as np

from ...registry import HOOKS
from ..picture_hook import BasePictureHook


@HOOKS.register_module()
class SegClipVisualizationHook(BasePictureHook):
    """During ``runner.test()``, draw the ground truth and the prediction of every ``frame_step``-th
    frame of the first test clip of each of the first ``max_clips`` videos, through the
    runner's visualizer (MMSeg's ``SegLocalVisualizer``: class colours over the frame, ground
    truth left, prediction right).

    Files: ``out_dir/<video>_<first frame id>/<frame id>.png`` (one per drawn frame, as MMSeg's
    ``--show-dir`` writes one per image) and ``out_dir/<video>_<first frame id>.jpg``, the
    drawn frames stacked top to bottom, to look at a clip at once.  Reads each output data
    sample's ``pred_sem_seg`` ``[T, H, W]``, ``gt_sem_seg`` ``[T, H, W]`` (optional) and its
    metainfo ``img_paths``, ``frame_ids`` and ``video``, as
    :class:`~mmspike.estimators.seg.VideoEncoderDecoder` and ``PackClipSegInputs`` produce
    them.  Class names and colours come from the test dataset's metainfo.  Only the main
    process writes.

    ``configs/_base_/runtime_mmseg.py`` makes it the ``default_hooks.visualization``, switched
    off (``enable=False``, ``draw=False``): mmspike's ``tools/test.py --show-dir DIR`` switches
    it on with ``enable`` and sets ``out_dir``; MMSeg's stock ``tools/test.py --show-dir DIR``
    sets ``draw`` and the visualizer's ``save_dir`` to DIR, which is then the output directory
    (:meth:`_default_out_dir`); with ``show`` (MMSeg's ``--show``) every drawn frame is also
    shown by the visualizer for ``wait_time`` seconds.

    Args:
        out_dir (str, optional): output directory; a relative one is taken under the runner's
            ``work_dir``. Defaults to None: the ``save_dir`` of the config's ``visualizer``
            when it names one (nothing written, with a warning, when it does not).
        max_clips (int): clips to draw. Defaults to 4.
        frame_step (int): draw every ``frame_step``-th frame of a clip. Defaults to 1.
        max_frames (int): at most this many frames per clip. Defaults to 8.
        **kwargs: ``enable``, ``draw``, ``interval``, ``show``, ``wait_time``: see
            :class:`~mmspike.hooks.BasePictureHook`.
    """

    def __init__(self, out_dir: Optional[str] = None, max_clips: int = 4, frame_step: int = 1,
                 max_frames: int = 8, **kwargs):
        super().__init__(out_dir, max_clips, **kwargs)
        for key, value in (('frame_step', frame_step), ('max_frames', max_frames)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{type(self).__name__}: {key} must be an int >= 1, got '
                                 f'{value!r}')
        self.frame_step = frame_step
        self.max_frames = max_frames

    def _default_out_dir(self, runner) -> Optional[str]:
        """The ``save_dir`` of the config's ``visualizer`` (MMSeg's ``--show-dir``), if any."""
        cfg = getattr(runner, 'cfg', None) or {}
        visualizer = cfg.get('visualizer', None) or {}
        return visualizer.get('save_dir', None) if isinstance(visualizer, dict) else None

    def before_test(self, runner) -> None:
        super().before_test(runner)
        if not self.active:
            return
        meta = getattr(runner.test_dataloader.dataset, 'metainfo', None) or {}
        visualizer = runner.visualizer
        if hasattr(visualizer, 'set_dataset_meta') and meta.get('classes') is not None:
            visualizer.set_dataset_meta(classes=meta['classes'], palette=meta.get('palette'),
                                        dataset_name=type(runner.test_dataloader.dataset)
                                        .__name__)

    def _can_draw(self, runner) -> bool:
        visualizer = runner.visualizer
        if not hasattr(visualizer, 'add_datasample') or \
                not getattr(visualizer, 'dataset_meta', None):
            self._warn(runner, 'visualizer', 'the runner\'s visualizer is not MMSeg\'s '
                       'SegLocalVisualizer with class names (configs/_base_/runtime_mmseg.py '
                       'sets it): nothing drawn')
            return False
        return True

    def _draw_sample(self, runner, sample) -> None:
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample

        if 'pred_sem_seg' not in sample:
            self._warn(runner, 'no-pred', 'test outputs without pred_sem_seg (not a '
                       'segmentation model?): skipped')
            return
        meta = sample.metainfo
        if self._drawn_before(meta):
            return
        pred = sample.pred_sem_seg.data
        pred = pred if pred.dim() == 3 else pred[None]
        gt = sample.gt_sem_seg.data if 'gt_sem_seg' in sample else None
        paths = meta.get('img_paths') or []
        if len(paths) != pred.shape[0]:
            self._warn(runner, 'paths', f'{len(paths)} img_paths for {pred.shape[0]} '
                       f'predicted frames: clip skipped')
            return
        frame_ids = meta.get('frame_ids') or list(range(pred.shape[0]))
        stem = self._stem(meta, len(self.written))
        clip_dir = osp.join(self._directory, stem)
        os.makedirs(clip_dir, exist_ok=True)
        drawn = []
        visualizer = runner.visualizer
        for t in list(range(0, pred.shape[0], self.frame_step))[:self.max_frames]:
            image = cv2.imread(str(paths[t]), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f'{type(self).__name__}: cannot read frame {paths[t]}')
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            frame = SegDataSample(pred_sem_seg=PixelData(data=pred[t:t + 1].cpu()))
            if gt is not None and gt.dim() == 3:
                frame.gt_sem_seg = PixelData(data=gt[t:t + 1].cpu())
            out_file = osp.join(clip_dir, f'{int(frame_ids[t]):08d}.png')
            visualizer.add_datasample(f'{stem}/{int(frame_ids[t])}', image, frame,
                                      draw_gt=True, draw_pred=True, with_labels=False,
                                      show=self.show, wait_time=self.wait_time,
                                      out_file=out_file)
            drawn.append(cv2.imread(out_file, cv2.IMREAD_COLOR))
        strip = osp.join(self._directory, f'{stem}.jpg')
        cv2.imwrite(strip, np.concatenate(drawn, axis=0))
        self._record(runner, strip, meta, what=f'{strip} and {clip_dir}/')

    def _summary(self) -> str:
        return (f'{len(self.written)} clip(s) in {self._directory} (ground truth left, '
                f'prediction right)')
