"""VideoIoUMetric: MMSeg's IoU metrics of clip-level (video) segmentation plus VSPW's video
consistency mVC_n."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

from ..functional.segmentation import video_consistency


def _lookup(sample, path):
    """``sample[path[0]][path[1]]...`` for dicts and mmengine data elements alike."""
    node = sample
    for depth, key in enumerate(path):
        if not (isinstance(node, (Mapping, BaseDataElement)) and key in node):
            where = 'data_sample' + ''.join(f"['{k}']" for k in path[:depth + 1])
            have = (sorted(node.keys()) if isinstance(node, (Mapping, BaseDataElement))
                    else type(node).__name__)
            raise KeyError(f'VideoIoUMetric needs {where}; found keys {have}')
        node = node[key] if isinstance(node, Mapping) else getattr(node, key)
    return node


def _as_clip(x, name) -> torch.Tensor:
    """Label maps ``[T, H, W]`` from ``[T, H, W]`` or ``[H, W]`` (one frame)."""
    x = torch.as_tensor(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f'{name} must be label maps [T, H, W] (or [H, W]) of one clip; got '
                         f'shape {tuple(x.shape)}')
    return x


@METRICS.register_module()
class VideoIoUMetric(IoUMetric):
    """MMSeg's :class:`IoUMetric` for video segmentation, one data sample per clip, plus the
    video consistency ``mVC_n`` of VSPW.

    Each data sample (a dict, as mmengine's ``Evaluator`` passes after ``to_dict()``, or a
    ``SegDataSample``) is one clip or video: ``['pred_sem_seg']['data']`` and
    ``['gt_sem_seg']['data']`` are label maps ``[T, H, W]`` (``[H, W]`` is one frame).
    ``process`` keeps one result per sample (``BaseMetric.evaluate`` keeps ``len(dataset)``
    results): the IoU areas of all ``T`` frames together (``ignore_index`` pixels, e.g. frames
    without annotation filled with it, drop out as in :class:`IoUMetric`) and, per window length
    ``n``, the sum and number of the window accuracies of
    :func:`mmspike.evaluation.functional.video_consistency`.

    Reported: what :class:`IoUMetric` reports from the summed areas (``aAcc``, ``mIoU``,
    ``mAcc``, ... with ``iou_metrics``; percent, 2 decimals) and ``mVC_<n>`` for every ``n`` in
    ``vc_lengths`` (percent, 2 decimals): the mean accuracy over all windows of all clips (each
    window weighs the same).  Windows follow VSPW's official ``VC_perclip.py`` (``n``
    consecutive frames, starts ``0 .. T-n-1``, raw label comparison, windows without a stable
    ground-truth pixel skipped); in addition, a window holding a frame whose ground truth is
    ``ignore_index`` everywhere (an unannotated frame) is skipped -- on VSPW, where every frame
    is annotated, this changes nothing.  A length without any window (every clip shorter than
    ``n + 1`` frames, or sparsely annotated clips such as Cityscapes sequences) is left out of
    the results with a logged warning, never reported as a number.

    Args:
        ignore_index, iou_metrics, nan_to_num, beta, collect_device, prefix: as
            :class:`IoUMetric`.
        vc_lengths (Sequence[int]): window lengths ``n`` of ``mVC_n``; default (8, 16).
        output_dir, format_only: not supported (a sample is a whole clip, and IoUMetric writes
            one PNG per sample named after its ``img_path``); anything but the defaults raises
            NotImplementedError.
    """

    def __init__(self,
                 ignore_index: int = 255,
                 iou_metrics: List[str] = ['mIoU'],
                 nan_to_num: Optional[int] = None,
                 beta: int = 1,
                 collect_device: str = 'cpu',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 prefix: Optional[str] = None,
                 vc_lengths: Sequence[int] = (8, 16),
                 **kwargs) -> None:
        if output_dir is not None or format_only:
            raise NotImplementedError(
                'VideoIoUMetric does not support output_dir / format_only (got output_dir='
                f'{output_dir!r}, format_only={format_only!r}): its samples are whole clips '
                '[T, H, W], and writing per-frame prediction PNGs is not implemented; use '
                "IoUMetric on per-frame samples to format results for a test server")
        super().__init__(ignore_index=ignore_index, iou_metrics=iou_metrics,
                         nan_to_num=nan_to_num, beta=beta, collect_device=collect_device,
                         output_dir=None, format_only=False, prefix=prefix, **kwargs)
        lengths = []
        for n in vc_lengths:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
                raise ValueError(f'vc_lengths must be integers >= 2; got {tuple(vc_lengths)}')
            if int(n) not in lengths:
                lengths.append(int(n))
        self.vc_lengths = tuple(lengths)

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Append one result per sample (clip): ``dict(areas=(intersect, union, pred_area,
        label_area), vc={n: (sum of window accuracies, number of windows)}, frames=T)``."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = _as_clip(_lookup(sample, ('pred_sem_seg', 'data')),
                            "prediction data_sample['pred_sem_seg']['data']")
            label = _as_clip(_lookup(sample, ('gt_sem_seg', 'data')),
                             "ground truth data_sample['gt_sem_seg']['data']")
            if pred.shape != label.shape:
                raise ValueError(
                    f'prediction and ground truth of a clip differ in shape: expected the ground '
                    f"truth's {tuple(label.shape)} [T, H, W], got prediction shape "
                    f'{tuple(pred.shape)}')
            label = label.to(pred)
            areas = tuple(area.cpu() for area in self.intersect_and_union(
                pred, label, num_classes, self.ignore_index))
            pred_np = pred.detach().cpu().long().numpy()
            label_np = label.detach().cpu().long().numpy()
            annotated = (label_np != self.ignore_index).reshape(label_np.shape[0], -1).any(1)
            vc = {}
            for n in self.vc_lengths:
                accs = video_consistency(pred_np, label_np, n, annotated=annotated)
                vc[n] = (float(accs.sum()), int(accs.size))
            self.results.append(dict(areas=areas, vc=vc, frames=int(label_np.shape[0])))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """IoUMetric's metrics from the clips' summed areas, plus ``mVC_<n>``."""
        metrics = super().compute_metrics([r['areas'] for r in results])
        missing = []
        for n in self.vc_lengths:
            total = sum(r['vc'][n][0] for r in results)
            count = sum(r['vc'][n][1] for r in results)
            if count:
                metrics[f'mVC_{n}'] = float(np.round(100.0 * total / count, 2))
            else:
                missing.append(n)
        if missing:
            frames = [r['frames'] for r in results]
            span = f'{min(frames)}..{max(frames)}' if frames else 'none'
            print_log(
                f"VideoIoUMetric: {', '.join(f'mVC_{n}' for n in missing)} not reported: no "
                f'window to evaluate in any of the {len(results)} clips (clip lengths {span} '
                f'frames). A window of mVC_n is n consecutive annotated frames of a clip of '
                f'at least n + 1 frames with some pixels whose ground truth stays the same; '
                f'without one the metric is left out rather than reported as a number',
                logger='current', level=logging.WARNING)
        return metrics
