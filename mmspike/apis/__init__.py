"""Model building and inference for every task; the tools (``tools/*.py``) are command lines
over it.

* :func:`init_model`: the model of a config with its weights (or its initialisation), in eval
  mode (:mod:`mmspike.apis.model`: also :func:`load_config`, :func:`build_model`,
  :func:`load_weights`);
* :func:`inference_video` (:mod:`mmspike.apis.video_inference`): any task's model on a video
  file, a frame folder or frames of any length: one prediction and one energy per frame
  (:class:`VideoResult`, to JSON-able dicts or OpenMMLab data samples);
* inferencers on mmengine's ``BaseInferencer`` (:mod:`mmspike.apis.inferencers`):
  :class:`VideoInferencer` and one per task, writing an annotated MP4 and per-frame JSON;
* one inference function per task on a whole video or an array of frames
  (:mod:`mmspike.apis.inference`): :func:`inference_recognizer` (MMAction2 recognizers),
  :func:`inference_pose` (``VideoPoseLifter``), :func:`inference_segmentor`
  (``VideoEncoderDecoder``);
* frame-by-frame inference of causal models (:mod:`mmspike.apis.streaming`):
  :func:`make_streamer`, :func:`stream_video`, with the video decoding of
  :mod:`mmspike.apis.video`;
* :mod:`mmspike.apis.energy_analysis` (``tools/analysis/energy.py``) and
  :mod:`mmspike.apis.robustness` (``tools/analysis/robustness.py``).

Importing it imports no task codebase: a model's task adapter (``mmspike.action``,
``mmspike.pose``, ``mmspike.seg``) is imported by its config's ``custom_imports``.
"""
from .inference import (ActionResult, PoseResult, SegResult, class_names_from_config,
                        config_test_pipelines, frame_size_from_config, inference_pose,
                        inference_recognizer, inference_segmentor, top_k)
from .model import build_model, init_model, load_config, load_weights
from .streaming import (JsonFrameWriter, Streamer, current_rss, make_streamer, peak_rss,
                        stream_video)
from .inferencers import (VideoActionInferencer, VideoInferencer, VideoPoseInferencer,
                          VideoSegInferencer)
from .video import VideoFrames, load_frame_folder, load_video, preprocess_frame, resize_and_crop
from .video_inference import VideoResult, inference_video

__all__ = [
    'init_model', 'load_config', 'build_model', 'load_weights', 'inference_recognizer',
    'inference_pose', 'inference_segmentor', 'ActionResult', 'PoseResult', 'SegResult',
    'frame_size_from_config', 'class_names_from_config', 'config_test_pipelines', 'top_k',
    'Streamer', 'make_streamer', 'stream_video', 'JsonFrameWriter', 'current_rss', 'peak_rss',
    'VideoFrames', 'load_video', 'load_frame_folder', 'preprocess_frame', 'resize_and_crop',
    'inference_video', 'VideoResult', 'VideoInferencer', 'VideoActionInferencer',
    'VideoPoseInferencer', 'VideoSegInferencer'
]
