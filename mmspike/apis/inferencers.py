"""Inferencers on mmengine's :class:`~mmengine.infer.BaseInferencer` that run a trained mmspike
model on whole videos: :class:`VideoPoseInferencer`, :class:`VideoSegInferencer`,
:class:`VideoActionInferencer`, and :class:`VideoInferencer` for a model of any of these tasks.

One input is one video (a video file, a folder of frame images, or frames ``[T, H, W, 3]`` RGB
uint8); a list of them is run one video at a time.  The model is built by
:func:`mmspike.apis.init_model` (the config's custom imports and default scope, the safe and
strict checkpoint loader) and every video goes through
:func:`mmspike.apis.video_inference.inference_video`; the frames are annotated by
:mod:`mmspike.visualization.video_overlay`.

Example::

    inferencer = VideoPoseInferencer('configs/spikevideoformer_pose_demo.py', 'pose.pth')
    out = inferencer('walk.mp4', out_dir='outputs')
    # outputs/walk.mp4: the frames beside the predicted skeletons
    # outputs/walk.json: the joints and the energy of every frame
    out['predictions'][0]['frames'][0]['joints']
"""
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from torch import nn

from .video import load_video

__all__ = ['VideoInferencer', 'VideoActionInferencer', 'VideoPoseInferencer',
           'VideoSegInferencer', 'video_names', 'write_json']

VideoInput = Union[str, os.PathLike, np.ndarray]


def video_names(videos: Sequence[VideoInput]) -> List[str]:
    """A file name stem for every video: a file's name without its extension, a folder's name,
    ``video_<i>`` for an array (``i`` its place in ``videos``); a name met before gets
    ``_<i>`` appended, so that no two outputs share a file."""
    names, seen = [], set()
    for index, video in enumerate(videos):
        if isinstance(video, (str, os.PathLike)):
            path = os.fspath(video).rstrip('/\\')
            name = osp.splitext(osp.basename(path))[0] if osp.isfile(path) \
                else osp.basename(path)
            name = name or f'video_{index}'
        else:
            name = f'video_{index}'
        if name in seen:
            name = f'{name}_{index}'
        seen.add(name)
        names.append(name)
    return names


def _json_text(data: dict) -> str:
    """``data`` as JSON with one line per top-level entry and, in lists (``frames``,
    ``windows``), one line per element: readable and still compact for long videos."""
    lines = []
    for key, value in data.items():
        name = json.dumps(str(key))
        if isinstance(value, list) and value:
            items = ',\n  '.join(json.dumps(item, allow_nan=False) for item in value)
            lines.append(f' {name}: [\n  {items}]')
        else:
            lines.append(f' {name}: {json.dumps(value, allow_nan=False)}')
    return '{\n' + ',\n'.join(lines) + '\n}\n'


def write_json(path: str, data: dict) -> None:
    """``data`` as JSON to ``path``, written to ``path.part`` and renamed when complete (a
    failed write leaves ``path`` as it was)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    part = f'{path}.part'
    try:
        with open(part, 'w') as file:
            file.write(_json_text(data))
        os.replace(part, path)
    finally:
        if osp.exists(part):
            os.remove(part)


class VideoInferencer(BaseInferencer):
    """Runs an mmspike video model (action recognition, 3D pose or segmentation, told by the
    model's class) on videos, and writes an annotated MP4 and per-frame JSON of each.

    Args:
        model (str | PathLike | Config | dict): the config (file or object) of the model.
        weights (str, optional): its checkpoint file (loaded strictly by
            :func:`mmspike.apis.load_weights`). Defaults to None: the config's initial weights.
        device (str, optional): torch device. Defaults to None (CUDA when available, else CPU).
        scope (str, optional): kept for :class:`~mmengine.infer.BaseInferencer`; the model is
            built in its config's ``default_scope``.
        show_progress (bool): print a progress bar of every video's model runs. Defaults to
            False.
        cfg_options (dict, optional): config entries to override. Defaults to None.

    Calling it (``inferencer(inputs, **kwargs)``):

    * ``inputs``: a video file, a folder of frame images, frames ``[T, H, W, 3]`` RGB uint8,
      or a list of these (one video each);
    * ``out_dir`` (str): writes ``<out_dir>/<name>.mp4`` (annotated frames) and
      ``<out_dir>/<name>.json`` (:meth:`VideoResult.to_dict` and ``input``) for every video,
      ``name`` from :func:`video_names`; ``vis_out_dir`` / ``pred_out_dir`` put either
      elsewhere;
    * ``return_datasamples`` (bool): predictions as OpenMMLab data samples
      (:meth:`VideoResult.to_data_samples`, a list per video) instead of dicts;
    * ``return_vis`` (bool): also return the annotated frames, ``[T, H', W', 3]`` RGB uint8
      per video;
    * ``max_frames`` (int): use only the first frames of every video;
    * ``energy`` (bool, default True), ``stride`` (int): as
      :func:`~mmspike.apis.video_inference.inference_video`;
    * ``show`` / ``wait_time``: show the annotated frames in an OpenCV window;
      ``draw_pred`` (bool, default True): draw at all; ``alpha`` (segmentation colour
      opacity), ``panel_size`` (pose view size), ``fps`` (frame rate of the written video;
      default that of the input file, else 25);
    * ``batch_size``: accepted for the BaseInferencer interface; videos are run one at a time.

    Returns a dict: ``predictions`` (one per video, in the order of ``inputs``) and
    ``visualization`` (the annotated frames per video with ``return_vis``, else ``[]``).
    """

    #: the task this inferencer runs ('action', 'pose', 'seg'); None: any of them
    task: Optional[str] = None

    preprocess_kwargs: set = {'max_frames'}
    forward_kwargs: set = {'energy', 'stride'}
    visualize_kwargs: set = {'return_vis', 'show', 'wait_time', 'draw_pred', 'vis_out_dir',
                             'alpha', 'panel_size', 'fps'}
    postprocess_kwargs: set = {'pred_out_dir'}

    def __init__(self,
                 model: Union[str, os.PathLike, Config, dict, None] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = None,
                 show_progress: bool = False,
                 cfg_options: Optional[dict] = None) -> None:
        if model is None:
            raise ValueError(f'{type(self).__name__} needs the model\'s config (a file or a '
                             f'Config) as model=')
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'config file {model!r} does not exist')
        if weights is not None and not osp.isfile(os.fspath(weights)):
            raise FileNotFoundError(f'checkpoint {os.fspath(weights)!r} does not exist')
        self.cfg_options = cfg_options
        super().__init__(model=model, weights=weights, device=device, scope=scope,
                         show_progress=show_progress)

    # -- building ----------------------------------------------------------------------------
    def _init_model(self, cfg: Union[Config, ConfigDict], weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """The model of ``cfg`` with ``weights`` (:func:`mmspike.apis.init_model`); a model
        of another task than :attr:`task` is refused before the weights are read."""
        from .model import build_model, initialise, load_config, load_weights
        from .video_inference import model_task
        if not isinstance(cfg, Config):
            cfg = Config(cfg.to_dict() if isinstance(cfg, ConfigDict) else dict(cfg))
        cfg = load_config(cfg, self.cfg_options)
        model = build_model(cfg)
        try:
            task = model_task(model)
        except TypeError as error:
            raise TypeError(f'{type(self).__name__}: {error}') from None
        if self.task is not None and task != self.task:
            raise TypeError(f'{type(self).__name__} runs {self.task!r} models; the config '
                            f'builds a {type(model).__name__} ({task!r}): use '
                            f'{_INFERENCER_OF[task]} or VideoInferencer')
        if weights is None:
            initialise(model)
        else:
            load_weights(model, os.fspath(weights))
        self.model_task = task
        return model.to(device).eval()

    def _init_pipeline(self, cfg: Union[Config, ConfigDict]) -> Callable:
        """What one input becomes before :meth:`forward`: ``dict(input=video)`` (the video is
        decoded by :func:`inference_video`)."""
        return lambda video: dict(input=video)

    def _init_collate(self, cfg: Union[Config, ConfigDict]) -> Callable:
        """Videos are not collated (one per forward)."""
        return pseudo_collate

    def _init_visualizer(self, cfg: Union[Config, ConfigDict]) -> None:
        """No mmengine visualizer: :mod:`mmspike.visualization.video_overlay` draws."""
        return None

    # -- running -----------------------------------------------------------------------------
    def __call__(self,
                 inputs: Union[VideoInput, Sequence[VideoInput]],
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 out_dir: str = '',
                 **kwargs) -> dict:
        """Run every video of ``inputs`` (see the class documentation)."""
        preprocess_kwargs, forward_kwargs, visualize_kwargs, postprocess_kwargs = \
            self._dispatch_kwargs(**kwargs)
        if out_dir:
            visualize_kwargs.setdefault('vis_out_dir', out_dir)
            postprocess_kwargs.setdefault('pred_out_dir', out_dir)
        videos = self._inputs_to_list(inputs)
        preds, visualization = [], []
        for data in self.preprocess(videos, batch_size, **preprocess_kwargs):
            pred = self.forward(data, **forward_kwargs)
            visualization.extend(self.visualize(data, pred, **visualize_kwargs))
            preds.extend(pred)
        return self.postprocess(preds, visualization, return_datasamples, **postprocess_kwargs)

    def _inputs_to_list(self, inputs) -> list:
        """One entry per video: a path or an array ``[T, H, W, 3]``; a list or tuple of them
        as it is (a folder is one video, its images the frames)."""
        if isinstance(inputs, (str, os.PathLike, np.ndarray)):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f'inputs must be a video (file, frame folder or array '
                            f'[T, H, W, 3]) or a list of videos, got {type(inputs).__name__}')
        videos = []
        for video in inputs:
            if isinstance(video, os.PathLike):
                video = os.fspath(video)
            if isinstance(video, str) and not osp.exists(video):
                raise FileNotFoundError(f'video {video!r} does not exist')
            if not isinstance(video, (str, np.ndarray)):
                raise TypeError(f'a video must be a file, a frame folder or an array '
                                f'[T, H, W, 3], got {type(video).__name__}')
            videos.append(video)
        return videos

    def preprocess(self, inputs: list, batch_size: int = 1, max_frames: Optional[int] = None,
                   **kwargs):
        """Yield one record per video: ``dict(input, name, max_frames)``."""
        if max_frames is not None and (isinstance(max_frames, bool) or
                                       not isinstance(max_frames, int) or max_frames < 1):
            raise ValueError(f'max_frames must be a positive int, got {max_frames!r}')
        for video, name in zip(inputs, video_names(inputs)):
            yield dict(self.pipeline(video), name=name, max_frames=max_frames)

    def forward(self, inputs: dict, energy: bool = True, stride: Optional[int] = None,
                **kwargs) -> List[dict]:
        """:func:`inference_video` on one video: ``[dict(input, name, result)]``."""
        from .video_inference import inference_video
        result = inference_video(self.model, inputs['input'], energy=energy, stride=stride,
                                 max_frames=inputs['max_frames'],
                                 progress=self.show_progress)
        return [dict(input=inputs['input'], name=inputs['name'],
                     max_frames=inputs['max_frames'], result=result)]

    def visualize(self, inputs: dict, preds: List[dict], return_vis: bool = False,
                  show: bool = False, wait_time: float = 0, draw_pred: bool = True,
                  vis_out_dir: str = '', alpha: float = 0.5, panel_size: int = 360,
                  fps: Optional[float] = None, **kwargs) -> List[Optional[np.ndarray]]:
        """Annotate the frames of every video of ``preds``; write them to
        ``<vis_out_dir>/<name>.mp4``, show them, and return them with ``return_vis`` (``[]``
        without)."""
        if not draw_pred or not (return_vis or show or vis_out_dir):
            return []
        from mmspike.visualization.video_overlay import FrameAnnotator, Mp4Writer
        out = []
        for pred in preds:
            result = pred['result']
            frames = load_video(pred['input'], pred['max_frames'])
            if len(frames) != result.num_frames:
                raise RuntimeError(f'{pred["name"]}: {len(frames)} frames decoded, the result '
                                   f'has {result.num_frames}')
            writer = None
            if vis_out_dir:
                writer = Mp4Writer(osp.join(vis_out_dir, f'{pred["name"]}.mp4'),
                                   fps if fps is not None else result.fps)
            kept = [] if return_vis else None
            try:
                with FrameAnnotator(result, alpha=alpha, panel_size=panel_size) as annotate:
                    for index, frame in enumerate(frames):
                        image = annotate(frame, index)
                        if writer is not None:
                            writer.write(image)
                        if kept is not None:
                            kept.append(image)
                        if show:
                            self._show(pred['name'], image, wait_time)
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            if writer is not None:
                writer.close()
            if return_vis:
                out.append(np.stack(kept))
        return out

    @staticmethod
    def _show(name: str, image: np.ndarray, wait_time: float) -> None:
        import cv2
        cv2.imshow(name, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.waitKey(max(1, int(wait_time * 1000)))

    def postprocess(self, preds: List[dict], visualization: List[np.ndarray],
                    return_datasamples: bool = False, pred_out_dir: str = '',
                    **kwargs) -> Dict[str, Any]:
        """``dict(predictions, visualization)``: per video the JSON-able
        :meth:`VideoResult.to_dict` with ``input`` (the file or folder, None for an array), or
        its data samples with ``return_datasamples``; with ``pred_out_dir`` each dict is
        written to ``<pred_out_dir>/<name>.json``."""
        predictions = []
        for pred in preds:
            video = pred['input']
            record = dict(input=video if isinstance(video, str) else None,
                          **pred['result'].to_dict())
            if pred_out_dir:
                write_json(osp.join(pred_out_dir, f'{pred["name"]}.json'), record)
            predictions.append(pred['result'].to_data_samples() if return_datasamples
                               else record)
        return dict(predictions=predictions, visualization=visualization)


class VideoActionInferencer(VideoInferencer):
    """:class:`VideoInferencer` for MMAction2 recognizers: the running label of every frame
    (sliding windows of the model's clip), the video's class scores and the energy."""
    task = 'action'


class VideoPoseInferencer(VideoInferencer):
    """:class:`VideoInferencer` for :class:`~mmspike.estimators.pose.VideoPoseLifter`: one
    root-relative 3D pose per frame, drawn beside the frame, and the energy."""
    task = 'pose'


class VideoSegInferencer(VideoInferencer):
    """:class:`VideoInferencer` for :class:`~mmspike.estimators.seg.VideoEncoderDecoder`: a
    class map per frame, drawn over the frame, and the energy."""
    task = 'seg'


_INFERENCER_OF = dict(action='VideoActionInferencer', pose='VideoPoseInferencer',
                      seg='VideoSegInferencer')
