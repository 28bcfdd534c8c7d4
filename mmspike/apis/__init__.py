"""Model building and inference for every task; the tools (``tools/*.py``) are command lines
over it.

* :func:`init_model`: the model of a config with its weights (or its initialisation), in eval
  mode (:mod:`mmspike.apis.model`: also :func:`load_config`, :func:`build_model`,
  :func:`load_weights`);
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
from .video import VideoFrames, load_video, preprocess_frame, resize_and_crop

__all__ = [
    'init_model', 'load_config', 'build_model', 'load_weights', 'inference_recognizer',
    'inference_pose', 'inference_segmentor', 'ActionResult', 'PoseResult', 'SegResult',
    'frame_size_from_config', 'class_names_from_config', 'config_test_pipelines', 'top_k',
    'Streamer', 'make_streamer', 'stream_video', 'JsonFrameWriter', 'current_rss', 'peak_rss',
    'VideoFrames', 'load_video', 'preprocess_frame', 'resize_and_crop'
]
