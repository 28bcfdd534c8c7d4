"""Clip transforms for 3D pose from video frames (MMPose registry)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData
from mmpose.registry import TRANSFORMS
from mmpose.structures import PoseDataSample

from ...layers.temporal import positive_pair
from .clip_transforms import LoadClipFrames, clip_frames, clip_tensor, transform_repr


# one clip loader for every task (mmspike.datasets.transforms); registered here for MMPose
TRANSFORMS.register_module(module=LoadClipFrames)


def _size(size) -> Optional[Tuple[int, int]]:
    """None, int or (w, h) -> None or (w, h)."""
    return positive_pair(size, 'size', '(w, h)')


@TRANSFORMS.register_module()
class CropClipToBox(BaseTransform):
    """Crop every frame of a clip to the same square box around the person, then resize.

    The top-down step of image pose estimators (MMPose's ``GetBBoxCenterScale`` +
    ``TopdownAffine``) done once per clip, so the frames stay aligned (the person's motion in
    the frame is kept).  The box is ``results['bbox']`` ``[x1, y1, x2, y2]`` in pixels of the
    frames as loaded (the datasets give the union of the clip's 2D joints or boxes), enlarged
    about its centre to a square of ``padding`` times its longer side.  Pixels outside the
    frame are filled with ``fill``.  3D targets (root-relative, camera coordinates) do not
    change.

    Required keys: ``img`` ([T, H, W, 3]), ``bbox``.  Modified: ``img`` ([T, h, w, 3]),
    ``img_shape``.  Added: ``crop_box`` (the square ``[x1, y1, x2, y2]`` that was cut).

    Args:
        size (int | tuple[int, int]): output (w, h), or one int for square crops.
        padding (float): the square's side over the box's longer side. Defaults to 1.25.
        fill (int): value of pixels outside the frame. Defaults to 0.
    """

    def __init__(self, size: Union[int, Sequence[int]], padding: float = 1.25, fill: int = 0):
        self.size = _size(size)
        if self.size is None:
            raise ValueError('CropClipToBox needs an output size')
        if not padding >= 1.0:
            raise ValueError(f'CropClipToBox: padding must be >= 1, got {padding}')
        self.padding = float(padding)
        self.fill = int(fill)

    def transform(self, results: dict) -> dict:
        if 'img' not in results or 'bbox' not in results:
            raise KeyError(f'CropClipToBox needs "img" and "bbox" (a dataset that gives clip '
                           f'boxes, after LoadClipFrames); got keys {sorted(results)}')
        clip = np.asarray(results['img'])
        box = np.asarray(results['bbox'], dtype=np.float64).reshape(-1)
        height, width = clip.shape[1:3]
        where = results.get('img_paths', ['?'])[0]
        if box.shape != (4, ) or not np.all(np.isfinite(box)) or box[2] <= box[0] \
                or box[3] <= box[1]:
            raise ValueError(f'CropClipToBox: bbox must be a finite [x1, y1, x2, y2] with x2 > '
                             f'x1 and y2 > y1, got {box.tolist()} (clip starting at {where})')
        if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
            raise ValueError(f'CropClipToBox: bbox {box.tolist()} lies outside the {width} x '
                             f'{height} frames of the clip starting at {where} (are the 2D '
                             f'joints in pixels of these frames?)')
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = self.padding * max(box[2] - box[0], box[3] - box[1])
        out_w, out_h = self.size
        side = int(np.ceil(side))
        x0, y0 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
        # pad so the square lies inside, cut it, then resize (area interpolation when shrinking)
        pad = [max(0, -y0), max(0, y0 + side - height), max(0, -x0), max(0, x0 + side - width)]
        shrink = side > max(out_w, out_h)
        crops = []
        for frame in clip:
            if any(pad):
                frame = cv2.copyMakeBorder(frame, *pad, cv2.BORDER_CONSTANT,
                                           value=(self.fill, ) * 3)
            square = frame[y0 + pad[0]:y0 + pad[0] + side, x0 + pad[2]:x0 + pad[2] + side]
            crops.append(cv2.resize(square, (out_w, out_h),
                                    interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
        results['img'] = np.stack(crops)
        results['img_shape'] = (out_h, out_w)
        results['crop_box'] = np.array([x0, y0, x0 + side, y0 + side])
        return results

    def __repr__(self):
        return transform_repr(self, 'size', 'padding', 'fill')


@TRANSFORMS.register_module()
class PackClipPoseInputs(BaseTransform):
    """Pack a clip and its 3D pose targets for a model, like MMPose's ``PackPoseInputs``.

    ``inputs``: uint8 tensor [3, T, H, W] (channels first, then time), so a batch is the
    ``[N, C, T, H, W]`` layout of mmspike's backbones.

    ``data_samples``: a :class:`mmpose.structures.PoseDataSample` whose ``gt_instances``
    (InstanceData, numpy values as ``PackPoseInputs`` leaves them) hold ``lifting_target``
    [T, 24, 3], ``lifting_target_visible`` [T, 24] and ``lifting_target_root`` [T, 1, 3]
    (and ``joints3d`` [T, 24, 3] when present).  The clip's frames are the instance dimension:
    one instance per frame, so InstanceData's length is T.  This is the layout MMPose's
    lifting metrics read (``SimpleMPJPE`` takes ``lifting_target`` [T, K, D] and predictions
    ``pred_instances.keypoints`` [T, K, D]).  Any ``lifting_target_label`` /
    ``lifting_target_weight`` in the results go to ``gt_instance_labels`` as tensors, as in
    ``PackPoseInputs``.  ``meta_keys`` present in the results become the sample's metainfo.

    Required keys: ``img`` ([T, H, W, 3] array or list of HWC frames), ``lifting_target``.
    """

    instance_keys = ('lifting_target', 'lifting_target_visible', 'lifting_target_root',
                     'joints3d')
    label_keys = ('lifting_target_label', 'lifting_target_weight')

    def __init__(self, meta_keys: Sequence[str] = (
            'sample_idx', 'action', 'subject', 'frame_ids', 'img_paths', 'clip_len', 'gap',
            'img_shape', 'ori_shape')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__, channels=3)
        inputs = clip_tensor(clip)

        data_sample = PoseDataSample()
        gt_instances = InstanceData()
        for key in self.instance_keys:
            if key in results:
                gt_instances.set_field(np.asarray(results[key]), key)
        data_sample.gt_instances = gt_instances
        labels = InstanceData()
        for key in self.label_keys:
            if key in results:
                labels.set_field(np.asarray(results[key]), key)
        data_sample.gt_instance_labels = labels.to_tensor()
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta.setdefault('clip_len', clip.shape[0])
        data_sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self):
        return transform_repr(self, 'meta_keys')
