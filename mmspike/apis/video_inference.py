"""One call for any task on a video of any length: :func:`inference_video`.

The result (:class:`VideoResult`) holds one prediction per frame (action: the running label;
pose: root-relative 3D joints; segmentation: a class map), the energy each frame cost, the
windows the model ran on, and converts to plain JSON-able dicts (:meth:`VideoResult.to_dict`,
:meth:`VideoResult.frame_dict`) and to OpenMMLab data samples
(:meth:`VideoResult.to_data_samples`).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

import numpy as np

TASKS = ('action', 'pose', 'seg')


@dataclass
class VideoResult:
    """What :func:`inference_video` returns.

    Attributes:
        task (str): 'action', 'pose' or 'seg'.
        num_frames (int): frames of the video.
        energy_mj (np.ndarray): ``[num_frames]`` float64: the energy of every model run (MACs
            and ACs counted from the tensors that flowed, :class:`mmspike.energy.EnergyCounter`)
            split equally over the video frames that run read; ``energy_mj.sum()`` is the
            energy of the whole inference, under ``energy_model``. NaN where energy was not
            counted.
        windows (list[list[int]]): the video frames every model run read, in order.
        fps (float, optional): frames per second of the video file (None for arrays).
        class_names (list[str], optional): action / segmentation class names of the config.
        scores (np.ndarray, optional): action: ``[C]`` class scores of the whole video, as
            ``tools/test.py`` computes them (the config's test pipeline and its views).
        window_scores (np.ndarray, optional): action: ``[W, C]`` scores of every sliding
            window (``windows``).
        frame_labels (np.ndarray, optional): action: ``[T]`` int64, the running label: that of
            the last window ending at or before the frame (the first window's before it ends).
        frame_scores (np.ndarray, optional): action: ``[T]`` the score of ``frame_labels``.
        joints (np.ndarray, optional): pose: ``[T, J, 3]`` float32 root-relative joints, in
            the unit of the training targets (metres for the shipped configs).
        parents (list[int], optional): pose: the parent joint of every joint (-1 for the
            root), for drawing.
        frame_size (int, optional): pose: the side of the square frames the model saw.
        class_maps (np.ndarray, optional): seg: ``[T, H, W]`` int64 class of every pixel at
            the video's frame size.
        palette (list, optional): seg: an RGB colour per class.
        energy_model (str): the model of ``energy_mj`` ('compute', 'memory' or 'lemaire';
            :mod:`mmspike.energy.models`).
    """
    task: str
    num_frames: int
    energy_mj: np.ndarray
    windows: List[List[int]] = field(default_factory=list)
    fps: Optional[float] = None
    class_names: Optional[List[str]] = None
    scores: Optional[np.ndarray] = None
    window_scores: Optional[np.ndarray] = None
    frame_labels: Optional[np.ndarray] = None
    frame_scores: Optional[np.ndarray] = None
    joints: Optional[np.ndarray] = None
    parents: Optional[List[int]] = None
    frame_size: Optional[int] = None
    class_maps: Optional[np.ndarray] = None
    palette: Optional[List[Tuple[int, int, int]]] = None
    energy_model: str = 'compute'

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f'task must be one of {TASKS}, got {self.task!r}')

    def _name(self, label: int) -> str:
        names = self.class_names
        return names[label] if names and 0 <= label < len(names) else str(label)

    def frame_dict(self, index: int) -> dict:
        """The result of frame ``index`` as a JSON-able dict: ``frame``, ``energy_mj`` and
        action: ``label``, ``name``, ``score``; pose: ``joints`` ``[J][3]``; seg:
        ``class_fractions`` (class name -> fraction of the frame's pixels)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f'frame {index} of a video of {self.num_frames} frames')
        energy = float(self.energy_mj[index])
        out = dict(frame=int(index), energy_mj=None if np.isnan(energy) else energy)
        if self.task == 'action':
            label = int(self.frame_labels[index])
            out.update(label=label, name=self._name(label),
                       score=float(self.frame_scores[index]))
        elif self.task == 'pose':
            out['joints'] = np.asarray(self.joints[index], np.float64).round(6).tolist()
        else:
            counts = np.bincount(self.class_maps[index].reshape(-1).clip(min=0))
            total = float(self.class_maps[index].size)
            out['class_fractions'] = {self._name(label): round(float(count) / total, 6)
                                      for label, count in enumerate(counts) if count}
        return out

    def to_dict(self) -> dict:
        """The whole result as a JSON-able dict: ``task``, ``num_frames``, ``fps``,
        ``energy_mj`` (total), ``energy_model``, ``windows``, ``frames`` (:meth:`frame_dict` of
        every frame) and, for action, ``video`` (the best classes of the whole video)."""
        total = float(np.nansum(self.energy_mj)) if not np.all(np.isnan(self.energy_mj)) \
            else None
        out = dict(task=self.task, num_frames=int(self.num_frames), fps=self.fps,
                   energy_mj=total, energy_model=self.energy_model,
                   windows=[[int(i) for i in w] for w in self.windows],
                   frames=[self.frame_dict(i) for i in range(self.num_frames)])
        if self.task == 'action' and self.scores is not None:
            order = np.argsort(-self.scores, kind='stable')[:5]
            out['video'] = [dict(label=int(i), name=self._name(int(i)),
                                 score=float(self.scores[i])) for i in order]
        return out

    def to_data_samples(self) -> list:
        """The result as OpenMMLab data samples: action: one ``ActionDataSample`` for the
        video (``pred_score``, ``pred_label``); pose: one ``PoseDataSample`` per frame
        (``pred_instances.keypoints`` ``[1, J, 3]``); seg: one ``SegDataSample`` per frame
        (``pred_sem_seg``).  Needs the task's codebase."""
        import torch
        from mmengine.structures import InstanceData, PixelData
        if self.task == 'action':
            from mmaction.structures import ActionDataSample
            sample = ActionDataSample()
            sample.set_pred_score(torch.from_numpy(np.asarray(self.scores, np.float32)))
            sample.set_pred_label(torch.tensor([int(np.argmax(self.scores))]))
            sample.set_metainfo(dict(num_frames=self.num_frames))
            return [sample]
        samples = []
        for index in range(self.num_frames):
            if self.task == 'pose':
                from mmpose.structures import PoseDataSample
                sample = PoseDataSample(metainfo=dict(frame=index))
                sample.pred_instances = InstanceData(
                    keypoints=np.asarray(self.joints[index], np.float32)[None])
            else:
                from mmseg.structures import SegDataSample
                sample = SegDataSample(metainfo=dict(frame=index))
                sample.pred_sem_seg = PixelData(
                    data=torch.from_numpy(np.asarray(self.class_maps[index]))[None])
            samples.append(sample)
        return samples


# -- the runs ----------------------------------------------------------------------------------
class _EnergyLedger:
    """Counts the energy of model runs and splits each over the video frames it read."""

    def __init__(self, model, num_frames: int, enabled: bool, energy_model: str = 'compute'):
        self.model = model
        self.enabled = enabled
        self.energy_model = energy_model
        self.energy_mj = np.zeros(num_frames) if enabled else np.full(num_frames, np.nan)
        self.windows: List[List[int]] = []

    def run(self, frames_read, function, *args, windows=None, **kwargs):
        """``function(*args, **kwargs)``, counted and charged to ``frames_read`` (video frame
        indices; a frame read twice is charged twice).  ``windows`` (lists of frame indices)
        are recorded as the run's windows; default ``[frames_read]``."""
        frames_read = [int(i) for i in frames_read]
        self.windows.extend([frames_read] if windows is None else windows)
        if not self.enabled:
            return function(*args, **kwargs)
        from mmspike.energy import EnergyCounter
        counter = EnergyCounter(self.model, energy_model=self.energy_model)
        with counter:
            out = function(*args, **kwargs)
        share = counter.report().energy_mj / len(frames_read)
        np.add.at(self.energy_mj, frames_read, share)
        return out


def _progress(enabled: bool, total: int, title: str):
    if not enabled:
        return None
    from mmengine.utils import ProgressBar
    print(title, flush=True)
    return ProgressBar(total)


def sliding_windows(num_frames: int, span: int, stride: int) -> List[int]:
    """Start frames of windows of ``span`` frames every ``stride`` frames over ``num_frames``
    frames, the last one ending at the last frame; ``[0]`` for a video shorter than ``span``.

    Starts: ``0, stride, 2 * stride, ...`` while ``start + span <= num_frames``, then
    ``num_frames - span`` if the last of those does not end at the last frame."""
    if span < 1 or stride < 1:
        raise ValueError(f'window span and stride must be >= 1, got {span} and {stride}')
    if num_frames <= span:
        return [0]
    starts = list(range(0, num_frames - span + 1, stride))
    if starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    return starts


def _padded(indices: np.ndarray, num_frames: int) -> np.ndarray:
    """``indices`` with those past the last frame replaced by the last frame."""
    return np.minimum(indices, num_frames - 1)


# -- action ------------------------------------------------------------------------------------
def _sampling_step(pipeline: list) -> dict:
    steps = [s for s in pipeline if isinstance(s, dict) and str(s.get('type', '')).endswith(
        'SampleFrames')]
    if len(steps) != 1:
        raise ValueError(f'inference_video needs one *SampleFrames step in the test pipeline to '
                         f'know the clip of the model, found {len(steps)}')
    return steps[0]


def _window_sampler(indices: np.ndarray, step: dict):
    """A pipeline step that samples the frames ``indices`` as one clip (what the config's
    ``SampleFrames`` step would set for a clip starting there)."""
    def sample(results: dict) -> dict:
        results.update(frame_inds=np.asarray(indices, np.int64), clip_len=len(indices),
                       frame_interval=int(step.get('frame_interval', 1)), num_clips=1)
        return results
    return sample


def _infer_action(model, cfg, frames, stride, ledger, progress) -> dict:
    from .inference import (_run_pipeline, _test_step, decoding_test_pipeline,
                            first_test_pipeline)
    pipeline = first_test_pipeline(cfg)
    sampling = _sampling_step(pipeline)
    clip_len = int(sampling.get('clip_len', 1))
    interval = int(sampling.get('frame_interval', 1))
    span = (clip_len - 1) * interval + 1
    num_frames = len(frames)

    def scores(steps) -> np.ndarray:
        results = dict(total_frames=num_frames, start_index=0, modality='RGB',
                       filename='<frames>')
        return _test_step(model, _run_pipeline(cfg, steps, results))[0]

    # the whole video as tools/test.py tests it (all its views): the video's scores
    # (no window recorded: the sliding windows below are the per-frame runs)
    video_scores = ledger.run(range(num_frames), scores,
                              decoding_test_pipeline(pipeline, frames, 'inference_video'),
                              windows=[])
    video_scores = video_scores.pred_score.detach().float().cpu().numpy()
    stride = stride or max(1, span // 2)
    starts = sliding_windows(num_frames, span, stride)
    bar = _progress(progress, len(starts), f'{len(starts)} windows of {span} frames')
    window_scores = []
    for start in starts:
        indices = _padded(start + np.arange(clip_len) * interval, num_frames)
        steps = decoding_test_pipeline(pipeline, frames, 'inference_video',
                                       _window_sampler(indices, sampling))
        sample = ledger.run(np.unique(indices), scores, steps)
        window_scores.append(sample.pred_score.detach().float().cpu().numpy())
        if bar is not None:
            bar.update()
    window_scores = np.stack(window_scores)
    ends = np.array([min(start + span, num_frames) - 1 for start in starts])
    # the running label: that of the last window ended at or before the frame (the first
    # window's before it ends)
    latest = np.maximum(np.searchsorted(ends, np.arange(num_frames), side='right') - 1, 0)
    labels = window_scores.argmax(axis=1)[latest]
    return dict(scores=video_scores, window_scores=window_scores,
                frame_labels=labels.astype(np.int64), frame_scores=window_scores[latest, labels])


# -- pose --------------------------------------------------------------------------------------
def _test_dataset_cfg(cfg) -> dict:
    loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None) or {}
    dataset = loader.get('dataset', None) or {}
    while isinstance(dataset, dict) and isinstance(dataset.get('dataset', None), dict):
        dataset = dataset['dataset']
    return dataset if isinstance(dataset, dict) else {}


def _dataset_metainfo(cfg) -> dict:
    """The ``METAINFO`` of the config's test dataset class (looked up in the config's scope),
    updated by the dataset entry's ``metainfo``; ``{}`` if the class is not found."""
    from .model import config_scope
    dataset = _test_dataset_cfg(cfg)
    meta = {}
    kind = dataset.get('type', None)
    if isinstance(kind, str):
        from mmengine.registry import DATASETS
        with config_scope(cfg), DATASETS.switch_scope_and_registry(
                cfg.get('default_scope', None)) as registry:
            cls = registry.get(kind)
        meta = dict(getattr(cls, 'METAINFO', {}) or {}) if cls is not None else {}
    elif isinstance(kind, type):
        meta = dict(getattr(kind, 'METAINFO', {}) or {})
    meta.update(dataset.get('metainfo', None) or {})
    return meta


def _pose_frames(frames: np.ndarray, size: int):
    import torch

    from .video import resize_and_crop
    clip = np.stack([resize_and_crop(frame, size) for frame in frames])
    return torch.from_numpy(clip).permute(3, 0, 1, 2)[None]  # [1, 3, T, S, S] uint8


def _infer_pose(model, cfg, frames, stride, ledger, progress, frame_gap=None,
                frame_size=None) -> dict:
    import torch

    from mmspike.neurons import reset_neurons

    from .inference import frame_size_from_config
    size = frame_size or frame_size_from_config(cfg, model)
    if size is None:
        raise ValueError('inference_video cannot tell the pose model\'s frame size (no square '
                         'crop_size / size / scale in the test pipeline, no backbone img_size)')
    gap = frame_gap or int(_test_dataset_cfg(cfg).get('gap', 1) or 1)
    clip = _pose_frames(frames, size)
    num_frames = len(frames)
    clip_len = int(getattr(model.backbone, 'num_frames', None) or 0)
    causal = getattr(model, 'why_not_causal', lambda: 'no why_not_causal')() is None
    joints = total = None
    # frames gap apart form one stream (the spacing of the training clips): gap streams
    streams = [np.arange(phase, num_frames, gap) for phase in range(min(gap, num_frames))]
    if causal:
        plan = [(stream, stream) for stream in streams]
    else:
        if clip_len < 1:
            raise ValueError('inference_video needs the pose backbone\'s num_frames (the T it '
                             'was built for) to cut the video into clips')
        step = stride or max(1, clip_len // 2)
        plan = []
        for stream in streams:
            for start in sliding_windows(len(stream), clip_len, step):
                positions = _padded(start + np.arange(clip_len), len(stream))
                plan.append((stream[positions], stream[np.unique(positions)]))
    bar = _progress(progress, len(plan), f'{len(plan)} clips'
                    + (' frame by frame (causal model)' if causal else f' of {clip_len} frames'))

    def run_clip(indices) -> np.ndarray:
        reset_neurons(model)
        inputs = model.data_preprocessor(dict(inputs=clip[:, :, indices]))['inputs']
        return model.head.forward(model.extract_feat(inputs))[0].float().cpu().numpy()

    def run_stream(indices) -> np.ndarray:
        out = []
        with model.streaming():
            for index in indices:
                out.append(model.predict_frame(clip[:, :, index].float())[0])
        return torch.stack(out).float().cpu().numpy()

    with torch.no_grad():
        for indices, read in plan:
            out = ledger.run(read, run_stream if causal else run_clip, indices)
            if joints is None:
                joints = np.zeros((num_frames, ) + out.shape[1:], np.float64)
                total = np.zeros(num_frames)
            # a frame padded into a clip (repeated last frame) is predicted once per clip
            unique, first = np.unique(indices, return_index=True)
            joints[unique] += out[first]
            total[unique] += 1
            if bar is not None:
                bar.update()
    reset_neurons(model)
    parents = _dataset_metainfo(cfg).get('parents', None)
    return dict(joints=(joints / total[:, None, None]).astype(np.float32), frame_size=size,
                parents=[int(p) for p in parents] if parents is not None else None)


# -- segmentation ------------------------------------------------------------------------------
def _infer_seg(model, cfg, frames, stride, ledger, progress) -> dict:
    from .inference import (_frames_loader, _replace_frame_source, _run_pipeline, _test_step,
                            class_names_from_config, first_test_pipeline)
    num_frames = len(frames)
    clip_len = model.test_cfg.get('clip_len') or getattr(model.backbone, 'num_frames', None) \
        or num_frames
    clip = frames
    if num_frames < clip_len:  # one window: the last frame repeated
        clip = np.concatenate([frames, np.repeat(frames[-1:], clip_len - num_frames, 0)])
    test_cfg = dict(model.test_cfg)
    if stride is not None:
        model.test_cfg['clip_stride'] = int(stride)
    try:
        steps = _replace_frame_source(
            first_test_pipeline(cfg), is_source=lambda name: name == 'LoadClipFrames',
            make_source=lambda step: _frames_loader(clip, step),
            is_dropped=lambda name: name.startswith('Load'),
            requirement='read the frames in one LoadClipFrames step', caller='inference_video')
        data = _run_pipeline(cfg, steps, {})
        _, starts = model._window(len(clip))
        windows = [_padded(np.arange(s, s + clip_len), num_frames).tolist() for s in starts]
        if progress:
            print(f'{len(starts)} windows of {clip_len} frames', flush=True)
        # one test_step runs every window: charged to every frame each window read
        sample = ledger.run(sum(windows, []), _test_step, model, data, windows=windows)[0]
    finally:
        model.test_cfg.clear()
        model.test_cfg.update(test_cfg)
    class_maps = sample.pred_sem_seg.data.cpu().numpy().astype(np.int64)[:num_frames]
    meta = _dataset_metainfo(cfg)
    palette = meta.get('palette', None)
    return dict(class_maps=class_maps, class_names=class_names_from_config(cfg),
                palette=[tuple(int(c) for c in colour) for colour in palette]
                if palette is not None else None)


# -- the entry point ---------------------------------------------------------------------------
def model_task(model) -> str:
    """'action', 'pose' or 'seg' by the model's class (MMAction2 recognizer,
    :class:`~mmspike.estimators.pose.VideoPoseLifter`,
    :class:`~mmspike.estimators.seg.VideoEncoderDecoder`); a TypeError for any other."""
    from .inference import POSE_LIFTER, RECOGNIZER, SEGMENTOR, is_task_model
    for task, cls in (('action', RECOGNIZER), ('pose', POSE_LIFTER), ('seg', SEGMENTOR)):
        if is_task_model(model, cls):
            return task
    raise TypeError(f'inference_video runs MMAction2 recognizers, VideoPoseLifter and '
                    f'VideoEncoderDecoder models; got {type(model).__name__}')


def inference_video(model, video, *, energy: Union[bool, str] = True,
                    stride: Optional[int] = None,
                    frame_gap: Optional[int] = None, frame_size: Optional[int] = None,
                    max_frames: Optional[int] = None, progress: bool = False) -> VideoResult:
    """Run a model of any task on a video of any length: one prediction per frame.

    * action (MMAction2 recognizers): the video's class scores as ``tools/test.py`` computes
      them (the config's test pipeline: frame sampling, resizing, views), and the scores of
      sliding windows of the model's clip (the test pipeline's ``SampleFrames`` ``clip_len``
      frames ``frame_interval`` apart) every ``stride`` frames (default: half a window); the
      running label of a frame is that of the last window ended at or before it.
    * pose (:class:`~mmspike.estimators.pose.VideoPoseLifter`): frames are centre-cropped
      squares at the config's size (the person box of a test pipeline needs 2D joints a bare
      video lacks: crop the video to the person first). Frames ``frame_gap`` apart (default:
      the test dataset's ``gap``, the spacing of the training clips; 1 for frames already
      sampled that way, e.g. a test clip) form one stream; a causal model
      runs every stream frame by frame, any other model on clips of its ``num_frames`` every
      ``stride`` frames of the stream (default: half a clip), a frame's joints averaged over
      the clips holding it. Every clip starts from reset neurons.
    * seg (:class:`~mmspike.estimators.seg.VideoEncoderDecoder`): the config's test pipeline and
      ``model.test_step``: windows of ``test_cfg.clip_len`` frames every ``clip_stride`` (or
      ``stride``), the logits averaged where windows overlap, the maps at the frame size.

    A video shorter than one window is padded with its last frame (the padded frames'
    predictions are dropped).

    Args:
        model (nn.Module): from :func:`~mmspike.apis.init_model` (keeps its config as
            ``model.cfg``), in eval mode.
        video (str | PathLike | np.ndarray): a video file, a folder of frame images (sorted by
            name) or frames ``[T, H, W, 3]`` RGB uint8.
        energy (bool | str): count the energy of every run
            (:class:`~mmspike.energy.EnergyCounter`, several times slower) under the
            ``'compute'`` model (True) or the model named (``'compute'``, ``'memory'``,
            ``'lemaire'``); False: do not count. Defaults to True.
        stride (int, optional): frames between window starts (see above).
        frame_gap (int, optional): pose: frames between the frames of one clip (see above).
        frame_size (int, optional): pose: the side of the square crop. Defaults to the
            config's (:func:`~mmspike.apis.inference.frame_size_from_config`).
        max_frames (int, optional): use only the first frames.
        progress (bool): print a progress bar. Defaults to False.

    Returns:
        VideoResult: one prediction and one energy per frame, the windows, and the video's
        scores (action).
    """
    import torch

    from .inference import _check_model, class_names_from_config
    from .video import load_video, video_fps
    task = model_task(model)
    from .inference import POSE_LIFTER, RECOGNIZER, SEGMENTOR
    cfg = _check_model(model, dict(action=RECOGNIZER, pose=POSE_LIFTER, seg=SEGMENTOR)[task],
                       'inference_video')
    for name, value in (('stride', stride), ('frame_gap', frame_gap),
                        ('frame_size', frame_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    if frame_size is not None and task != 'pose':
        raise ValueError(f'frame_size is for pose models, got a {task} model')
    if frame_gap is not None and task != 'pose':
        raise ValueError(f'frame_gap is for pose models, got a {task} model')
    from mmspike.energy.models import check_energy_model
    energy_model = check_energy_model(energy if isinstance(energy, str) else None)
    frames = load_video(video, max_frames)
    ledger = _EnergyLedger(model, len(frames), bool(energy), energy_model)
    with torch.no_grad():
        if task == 'pose':
            fields = _infer_pose(model, cfg, frames, stride, ledger, progress, frame_gap,
                                 frame_size)
        else:
            run = _infer_action if task == 'action' else _infer_seg
            fields = run(model, cfg, frames, stride, ledger, progress)
    if task == 'action':
        names = class_names_from_config(cfg)
        fields['class_names'] = names if names and len(names) == len(fields['scores']) else None
    return VideoResult(task=task, num_frames=len(frames), energy_mj=ledger.energy_mj,
                       windows=ledger.windows, fps=video_fps(video),
                       energy_model=energy_model, **fields)
