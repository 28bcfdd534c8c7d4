"""Inference on a whole video, one function per task, for a model from :func:`init_model`:

* :func:`inference_recognizer` (MMAction2 recognizers): class scores and the top-k classes;
* :func:`inference_pose` (:class:`~mmspike.estimators.pose.VideoPoseLifter`): root-relative
  3D joints of every frame;
* :func:`inference_segmentor` (:class:`~mmspike.estimators.seg.VideoEncoderDecoder`): a class
  map per frame.

Each takes a video file or its frames ``[T, H, W, 3]`` (RGB uint8) and prepares them as the
config's test pipeline does (see each function).  The task classes are looked up only among
the modules already imported (a model of a task was built by importing that task's adapter),
so importing this module imports no codebase.
"""
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from .model import config_scope
from .video import VideoType, load_video

TOPK = 5


# -- what the config says ----------------------------------------------------------------------
def _square(value) -> Optional[int]:
    """``S`` for an int ``S`` or a pair ``(S, S)`` of positive ints; else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) if value > 0 else None
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]) if value[0] == value[1] and value[0] > 0 else None
    return None


def config_test_pipelines(cfg: Config) -> List[list]:
    """The test pipelines of a config, innermost dataset first: those of
    ``test_dataloader.dataset`` (else ``val_dataloader``) and its wrapped datasets, then
    ``test_pipeline``."""
    pipelines = []
    loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
    dataset = loader.get('dataset', None) if loader else None
    while isinstance(dataset, dict):
        if dataset.get('pipeline'):
            pipelines.append(list(dataset['pipeline']))
        dataset = dataset.get('dataset', None)
    if cfg.get('test_pipeline', None):
        pipelines.append(list(cfg.test_pipeline))
    return pipelines



def _replace_frame_source(pipeline: list, is_source: Callable[[str], bool],
                          make_source: Callable[[dict], dict], is_dropped: Callable[[str], bool],
                          requirement: str, caller: str) -> list:
    """``pipeline`` with its one step that reads frames (``is_source(type name)``) replaced by
    ``make_source(step)`` and the steps ``is_dropped(type name)`` left out; a pipeline without
    exactly one such step raises a ValueError that says ``requirement``."""
    steps, found = [], 0
    for step in pipeline:
        name = _type_name(step)
        if is_source(name):
            steps.append(make_source(step))
            found += 1
        elif not is_dropped(name):
            steps.append(step)
    if found != 1:
        raise ValueError(f'the test pipeline of the config must {requirement} for {caller}, '
                         f'found {found} in {[_type_name(s) for s in pipeline]}')
    return steps


def first_test_pipeline(cfg) -> list:
    """The config's first test pipeline (:func:`config_test_pipelines`); a config without one
    raises a ValueError."""
    pipelines = config_test_pipelines(cfg)
    if not pipelines:
        raise ValueError('the config has no test pipeline (test_dataloader.dataset.pipeline or '
                         'test_pipeline)')
    return pipelines[0]

def frame_size_from_config(cfg: Config, model: Optional[nn.Module] = None) -> Optional[int]:
    """The square input size of the config: the last step of the test pipeline with a square
    ``crop_size``, ``size`` or ``scale`` (e.g. ``Resize(scale=(64, 64))``, ``CenterCrop(224)``,
    ``CropClipToBox(size=64)``), else the backbone's ``img_size``; None if neither gives one.

    Args:
        cfg (Config): the config.
        model (nn.Module, optional): the model built from it (for the backbone's
            ``img_size``).
    """
    for pipeline in config_test_pipelines(cfg):
        size = None
        for step in pipeline:
            if not isinstance(step, dict):
                continue
            for key in ('crop_size', 'size', 'scale'):
                value = _square(step.get(key, None))
                if value is not None:
                    size = value
                    break
        if size is not None:
            return size
    backbone = getattr(model, 'backbone', None)
    return _square(getattr(backbone, 'img_size', None))


def class_names_from_config(cfg: Config) -> Optional[List[str]]:
    """Class names given by the config: ``class_names``, the test dataset's
    ``metainfo['classes']``, or the embedded motion-clips dataset's classes; else None."""
    names = cfg.get('class_names', None)
    loader = cfg.get('test_dataloader', None) or {}
    dataset = loader.get('dataset', None) or {}
    if names is None and isinstance(dataset, dict):
        metainfo = dataset.get('metainfo', None) or {}
        names = metainfo.get('classes', None)
    embedded = cfg.get('embedded_dataset', None)
    if names is None and embedded and embedded.get('generator', 'motion_clips') == 'motion_clips':
        from mmspike.datasets.synthetic.motion_clips import CLASSES
        names = CLASSES
    return [str(n) for n in names] if names is not None else None


def top_k(scores: np.ndarray, names: Optional[List[str]] = None, k: int = TOPK) -> List[dict]:
    """The ``k`` best classes of ``scores`` ``[num_classes]``, best first:
    ``[dict(label, name, score)]`` (``name`` the label as text without names)."""
    order = np.argsort(-scores, kind='stable')[:k]
    return [dict(label=int(i), name=names[i] if names else str(int(i)), score=float(scores[i]))
            for i in order]


# -- the task of a model -----------------------------------------------------------------------
RECOGNIZER = ('mmaction.models.recognizers.base', 'BaseRecognizer')
POSE_LIFTER = ('mmspike.estimators.pose.video_pose_lifter', 'VideoPoseLifter')
SEGMENTOR = ('mmspike.estimators.seg.video_encoder_decoder', 'VideoEncoderDecoder')


def is_task_model(model: nn.Module, task_class: Tuple[str, str]) -> bool:
    """Whether ``model`` is an instance of ``task_class`` (module, class name).  Only an
    already imported module is looked at: a model of that class was built by importing it."""
    module = sys.modules.get(task_class[0])
    cls = getattr(module, task_class[1], None) if module is not None else None
    return cls is not None and isinstance(model, cls)


def _check_model(model: nn.Module, task_class: Tuple[str, str], function: str) -> Config:
    if not is_task_model(model, task_class):
        raise TypeError(f'{function} takes a {task_class[1]} ({task_class[0]}), got '
                        f'{type(model).__name__}')
    cfg = getattr(model, 'cfg', None)
    if not isinstance(cfg, Config):
        raise ValueError(f'{function} needs the model\'s config as model.cfg (build the model '
                         f'with mmspike.apis.init_model, which keeps it)')
    return cfg


def _device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device('cpu')


def _type_name(step) -> str:
    kind = step.get('type', '') if isinstance(step, dict) else type(step).__name__
    return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))


def _run_pipeline(cfg: Config, steps: list, results: dict) -> dict:
    from mmengine.dataset import Compose
    with config_scope(cfg):
        return Compose(steps)(results)


@torch.no_grad()
def _test_step(model: nn.Module, data: dict) -> list:
    from mmengine.dataset import pseudo_collate

    from mmspike.neurons import reset_neurons
    reset_neurons(model)
    try:
        return model.test_step(pseudo_collate([data]))
    finally:
        reset_neurons(model)


# -- action recognition ------------------------------------------------------------------------
@dataclass
class ActionResult:
    """What :func:`inference_recognizer` returns.

    Attributes:
        scores (np.ndarray): ``[num_classes]``, as the head's ``predict`` gives them (its
            ``average_clips``: probabilities for ``'prob'``).
        topk (list[dict]): the best classes, best first: ``dict(label, name, score)``.
        num_frames (int): frames of the video.
    """
    scores: np.ndarray
    topk: List[dict]
    num_frames: int

    @property
    def label(self) -> int:
        """The best class."""
        return self.topk[0]['label']


def _frames_decoder(frames: np.ndarray) -> Callable[[dict], dict]:
    """A pipeline step that does what MMAction2's ``DecordDecode`` does, from frames in memory:
    ``imgs`` = the frames at ``frame_inds``."""
    def decode(results: dict) -> dict:
        indices = np.asarray(results['frame_inds']).reshape(-1)
        if indices.size == 0 or indices.min() < 0 or indices.max() >= len(frames):
            raise ValueError(f'the sampled frame indices {indices.tolist()} do not fit a video '
                             f'of {len(frames)} frames')
        imgs = [frames[i] for i in indices]
        results.update(imgs=imgs, original_shape=imgs[0].shape[:2],
                       img_shape=imgs[0].shape[:2])
        return results

    return decode


def decoding_test_pipeline(pipeline: list, frames: np.ndarray, caller: str,
                           sampler: Optional[Callable[[dict], dict]] = None) -> list:
    """An action test pipeline that takes its frames from ``frames`` ``[T, H, W, 3]``: its
    ``*Decode`` step replaced by :func:`_frames_decoder`, its ``*Init`` steps (which open the
    file) left out, and, given a ``sampler``, its ``*SampleFrames`` step replaced by it."""
    if sampler is not None:
        pipeline = [sampler if _type_name(step).endswith('SampleFrames') else step
                    for step in pipeline]
    return _replace_frame_source(
        pipeline, is_source=lambda name: name.endswith('Decode'),
        make_source=lambda step: _frames_decoder(frames),
        is_dropped=lambda name: name.endswith('Init'),
        requirement='decode video frames in one *Decode step (e.g. DecordDecode)',
        caller=caller)


def inference_recognizer(model: nn.Module, video: VideoType, topk: int = TOPK) -> ActionResult:
    """Recognise the action of a video with an MMAction2 recognizer.

    The video goes through the config's test pipeline (frame sampling, resizing, cropping,
    ``FormatShape``, as ``tools/test.py`` tests), with the decoding steps (``DecordInit`` /
    ``DecordDecode`` and the like) replaced by the decoded frames, then through
    ``model.test_step`` (all the test views, averaged by the head).

    Args:
        model (nn.Module): a recognizer from :func:`~mmspike.apis.init_model`.
        video (str | PathLike | np.ndarray): a video file or its frames ``[T, H, W, 3]`` RGB
            uint8.
        topk (int): how many classes :attr:`ActionResult.topk` lists. Defaults to 5.

    Returns:
        ActionResult: scores and the best classes (named from the config where it names them).
    """
    cfg = _check_model(model, RECOGNIZER, 'inference_recognizer')
    frames = load_video(video)
    steps = decoding_test_pipeline(first_test_pipeline(cfg), frames, 'inference_recognizer')
    results = dict(total_frames=len(frames), start_index=0, modality='RGB',
                   filename=os.fspath(video) if isinstance(video, (str, os.PathLike))
                   else '<frames>')
    data = _run_pipeline(cfg, steps, results)
    sample = _test_step(model, data)[0]
    scores = sample.pred_score.detach().float().cpu().numpy()
    names = class_names_from_config(cfg)
    if names is not None and len(names) != len(scores):
        names = None
    return ActionResult(scores=scores, topk=top_k(scores, names, topk), num_frames=len(frames))


# -- 3D pose -----------------------------------------------------------------------------------
@dataclass
class PoseResult:
    """What :func:`inference_pose` returns.

    Attributes:
        joints (np.ndarray): ``[T, J, 3]`` float32, root-relative joints of every frame, in the
            unit of the training targets (metres for the shipped configs).
        size (int): the side of the square frames the model saw.
        windows (list[tuple[int, int]]): the ``(start, end)`` frames of every clip the model
            ran on.
        unit_scale (float): the head's factor from the targets' unit to the metric's.
    """
    joints: np.ndarray
    size: int
    windows: List[Tuple[int, int]] = field(default_factory=list)
    unit_scale: float = 1.0


def inference_pose(model: nn.Module, video: VideoType, size: Optional[int] = None) -> PoseResult:
    """Root-relative 3D joints of every frame of a video with a
    :class:`~mmspike.estimators.pose.VideoPoseLifter`, the frames taken as they are (no
    ``gap``): :func:`~mmspike.apis.video_inference.inference_video` with ``frame_gap=1``,
    clips of the backbone's ``num_frames`` one after the other (the last one ending at the last
    frame; joints averaged where it overlaps the one before), no energy counted.

    Args:
        model (nn.Module): a VideoPoseLifter from :func:`~mmspike.apis.init_model`.
        video (str | PathLike | np.ndarray): a video file, a frame folder or frames
            ``[T, H, W, 3]`` RGB uint8.
        size (int, optional): the frame side. Defaults to the config's
            (:func:`frame_size_from_config`).

    Returns:
        PoseResult: the joints ``[T, J, 3]`` and how they were computed.
    """
    from .video_inference import inference_video
    _check_model(model, POSE_LIFTER, 'inference_pose')
    clip_len = getattr(model.backbone, 'num_frames', None)
    result = inference_video(model, video, energy=False, frame_gap=1, stride=clip_len,
                             frame_size=size)
    return PoseResult(joints=result.joints, size=result.frame_size,
                      windows=[(w[0], w[-1] + 1) for w in result.windows],
                      unit_scale=float(getattr(model.head, 'unit_scale', 1.0)))


# -- segmentation ------------------------------------------------------------------------------
@dataclass
class SegResult:
    """What :func:`inference_segmentor` returns.

    Attributes:
        class_maps (np.ndarray): ``[T, H, W]`` int64, the class of every pixel of every frame,
            at the video's frame size.
        classes (list[str], optional): the class names of the config.
    """
    class_maps: np.ndarray
    classes: Optional[List[str]] = None


def _frames_loader(frames: np.ndarray, step: dict) -> Callable[[dict], dict]:
    """A pipeline step that does what ``LoadClipFrames`` (``step``) does, from frames in
    memory: ``img`` [T, H, W, 3] (RGB, or BGR for ``to_rgb=False``), resized to its ``size``
    if it has one."""
    from mmspike.datasets.transforms.clip_transforms import LoadClipFrames
    loader = LoadClipFrames(size=step.get('size', None), to_rgb=step.get('to_rgb', True))

    def load(results: dict) -> dict:
        clip = frames if loader.to_rgb else np.ascontiguousarray(frames[..., ::-1])
        if loader.size is not None:
            import cv2
            h, w = frames.shape[1:3]
            shrink = loader.size[0] * loader.size[1] < w * h
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            clip = np.stack([cv2.resize(f, loader.size, interpolation=interpolation)
                             for f in clip])
        results.update(img=clip, img_shape=clip.shape[1:3], ori_shape=tuple(frames.shape[1:3]))
        return results

    return load


def inference_segmentor(model: nn.Module, video: VideoType) -> SegResult:
    """A class map for every frame of a video with a
    :class:`~mmspike.estimators.seg.VideoEncoderDecoder`.

    :func:`~mmspike.apis.video_inference.inference_video` without energy: the frames go
    through the config's test pipeline with ``LoadClipFrames`` given the frames (and the other
    loading steps, e.g. ``LoadClipSegMaps``, left out), then through ``model.test_step``: the
    segmentor's temporal windows (``test_cfg`` ``clip_len`` / ``clip_stride``) and the
    prediction resized back to the frame size.  A video shorter than one window is padded
    with its last frame.

    Args:
        model (nn.Module): a VideoEncoderDecoder from :func:`~mmspike.apis.init_model`.
        video (str | PathLike | np.ndarray): a video file or its frames ``[T, H, W, 3]`` RGB
            uint8.

    Returns:
        SegResult: the class maps ``[T, H, W]`` and the class names.
    """
    from .video_inference import inference_video
    _check_model(model, SEGMENTOR, 'inference_segmentor')
    result = inference_video(model, video, energy=False)
    return SegResult(class_maps=result.class_maps, classes=result.class_names)
