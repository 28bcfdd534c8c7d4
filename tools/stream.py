"""Run a causal mmspike model on a video one frame at a time (online inference).

    python tools/stream.py CONFIG CHECKPOINT VIDEO [--max-frames N] [--size S] [--every K]
                           [--json OUT] [--device cpu] [--no-energy] [--cfg-options ...]

The video is decoded frame by frame with OpenCV (never held in memory); each frame is converted
BGR -> RGB, its shorter side resized to ``S`` and centre-cropped to ``S x S`` (``S``: ``--size``,
else the size of the config's test pipeline or the backbone's ``img_size``), then fed to the
model's streaming context, one frame per call, with the neuron states (and causal attention's
key-value sum) carried from frame to frame.  The outputs equal those of the whole-clip forward.

Models: MMAction2 recognizers with a causal backbone, no neck and a causal head
(:class:`mmspike.estimators.action.StreamingRecognizer`; the running prediction after frame t is
that of the clip of frames 1..t) and MMPose :class:`~mmspike.estimators.pose.VideoPoseLifter`
(root-relative joints of every frame).  The backbone must be causal, e.g. SpikeVideoFormer with
``attention='causal'`` (``configs/spikevideoformer_pose_demo_causal.py``).

Printed: a progress line every ``K`` frames and a summary: the prediction (action: top-5 classes
with scores; pose: the mean joint displacement per frame), the energy per frame (mJ, MACs and
ACs counted by :class:`mmspike.energy.EnergyCounter`) and the firing rate, frames per second
(model calls alone, and including decoding and resizing) and memory: the process's peak RSS and
how much the RSS grew while streaming (it should not grow with the video's length).
``--json OUT`` writes the per-frame results (pose: the joints of every frame) and the summary.
"""
import argparse
import importlib
import json
import os
import os.path as osp
import resource
import sys
import time
from typing import Iterator, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from torch import nn  # noqa: E402

import mmspike  # noqa: E402,F401  (registers modules, applies compat repairs)
from mmspike.energy import EnergyCounter  # noqa: E402

MIB = 1024.0 ** 2
TOPK = 5


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Frame-by-frame (streaming) inference of a causal mmspike model on a video')
    parser.add_argument('config', help='config file (a causal model)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='video file (anything OpenCV decodes)')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='stop after this many frames (default: the whole video)')
    parser.add_argument('--size', type=int, default=None,
                        help='frame size S: shorter side resized to S, centre crop S x S '
                        "(default: from the config's test pipeline or the backbone's img_size)")
    parser.add_argument('--every', type=int, default=10,
                        help='print a progress line every K frames (default 10; 0: never)')
    parser.add_argument('--json', dest='json_out', default=None,
                        help='write the per-frame results and the summary to this JSON file')
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--no-energy', action='store_true',
                        help='do not count MACs/ACs (the counting slows the model calls down)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.attention=causal')
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f'--max-frames must be >= 1, got {args.max_frames}')
    if args.size is not None and args.size < 1:
        parser.error(f'--size must be >= 1, got {args.size}')
    if args.every < 0:
        parser.error(f'--every must be >= 0, got {args.every}')
    return args


# -- config and model ----------------------------------------------------------------------
def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` (its ``custom_imports`` imported) with ``cfg_options`` merged."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """``cfg.model`` built from the ``MODELS`` registry of the config's ``default_scope``
    (``mmaction``, ``mmpose``, ...), as the Runner of ``tools/test.py`` builds it."""
    scope = cfg.get('default_scope', None)
    if scope is None:
        from mmengine.registry import MODELS
        return MODELS.build(cfg.model)
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        return registry.MODELS.build(cfg.model)


def _backbone_words(backbone: nn.Module) -> str:
    attention = getattr(backbone, 'attention', None)
    detail = f" attention={attention!r}" if attention is not None else ''
    return f'{type(backbone).__name__}{detail}'


class Streamer:
    """What the tool needs of a model: ``task`` ('action' or 'pose'), ``streaming()`` and
    ``predict_frame(frame [1, C, H, W])``.  Built by :func:`make_streamer`.

    Args:
        model (nn.Module): the model built from the config.
        task (str): 'action' or 'pose'.
        online: the object with ``streaming`` and ``predict_frame`` (the model itself for
            ``VideoPoseLifter``, a :class:`StreamingRecognizer` for recognizers).
    """

    def __init__(self, model: nn.Module, task: str, online):
        self.model = model
        self.task = task
        self.online = online

    def streaming(self):
        return self.online.streaming()

    def predict_frame(self, frame: torch.Tensor) -> torch.Tensor:
        return self.online.predict_frame(frame)


def make_streamer(model: nn.Module, config: str = 'the config') -> Streamer:
    """Wrap ``model`` for frame-by-frame inference; raise a ValueError explaining what is not
    causal (or which models are supported) otherwise.

    Args:
        model (nn.Module): an MMAction2 recognizer or a VideoPoseLifter.
        config (str): the config's path, for error messages.
    """
    name = type(model).__name__
    need = (f'the video is fed one frame per call, so the model of {config} must be causal '
            f'(the output of frame t may depend on frames <= t only)')
    if hasattr(model, 'cls_head') and hasattr(model, 'backbone'):
        from mmspike.estimators.action import StreamingRecognizer
        online = StreamingRecognizer(model)
        problem = online.why_not_causal()
        if problem is not None:
            raise ValueError(f"{need}, but it is not: {problem}; use e.g. a SpikeVideoFormer "
                             f"backbone with attention='causal', no neck and SpikingClsHead")
        return Streamer(model, 'action', online)
    if hasattr(model, 'predict_frame') and hasattr(model, 'streaming'):
        if not bool(getattr(model, 'causal', False)):
            backbone = getattr(model, 'backbone', None)
            head = getattr(model, 'head', None)
            parts = [f'backbone {_backbone_words(backbone)} causal: '
                     f'{bool(getattr(backbone, "causal", False))}',
                     f'neck: {"none" if not getattr(model, "with_neck", False) else "present"}',
                     f'head {type(head).__name__} causal: '
                     f'{bool(getattr(head, "causal", False))}']
            raise ValueError(f'{need}, but {name} is not ({", ".join(parts)}); use a causal '
                             f"configuration, e.g. SpikeVideoFormer attention='causal' "
                             f'(configs/spikevideoformer_pose_demo_causal.py)')
        return Streamer(model, 'pose', model)
    raise ValueError(f'tools/stream.py runs MMAction2 recognizers (with a causal backbone and '
                     f'head) and VideoPoseLifter models; the model of {config} is {name}')


def load_weights(model: nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model`` (strict: every key must match)."""
    from mmengine.runner import load_checkpoint
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    revise_keys=[(r'^module\.', '')])


# -- frame size and class names from the config ---------------------------------------------
def _square(value) -> Optional[int]:
    """``S`` for an int ``S`` or a pair ``(S, S)`` of positive ints; else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) if value > 0 else None
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]) if value[0] == value[1] and value[0] > 0 else None
    return None


def _test_pipelines(cfg: Config) -> List[list]:
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


def frame_size_from_config(cfg: Config, model: nn.Module) -> Optional[int]:
    """The square input size of the config: the last step of the test pipeline with a square
    ``crop_size``, ``size`` or ``scale`` (e.g. ``Resize(scale=(64, 64))``, ``CenterCrop(224)``,
    ``CropClipToBox(size=64)``), else the backbone's ``img_size``; None if neither gives one."""
    for pipeline in _test_pipelines(cfg):
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


# -- video -------------------------------------------------------------------------------------
def preprocess_frame(bgr: np.ndarray, size: int) -> np.ndarray:
    """An OpenCV frame ``[H, W, 3]`` BGR uint8 -> ``[size, size, 3]`` RGB uint8: the shorter
    side resized to ``size`` (area interpolation when shrinking, bilinear when enlarging), then
    the centre ``size x size`` crop.

    Args:
        bgr (np.ndarray): the frame as ``cv2.VideoCapture.read`` returns it.
        size (int): the output side.
    """
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_h = max(size, int(round(height * scale)))
    new_w = max(size, int(round(width * scale)))
    if (new_h, new_w) != (height, width):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(rgb[top:top + size, left:left + size])


class VideoFrames:
    """The frames of a video file, decoded one at a time by ``cv2.VideoCapture``.

    Opening reads the first frame, so an unreadable, corrupt or empty file fails here, with a
    message naming it.  Iterating yields ``(frame BGR uint8, seconds spent decoding it)``.

    Args:
        path (str): the video file.
        max_frames (int, optional): stop after this many frames.
    """

    def __init__(self, path: str, max_frames: Optional[int] = None):
        if not osp.isfile(path):
            raise FileNotFoundError(f'video {path!r} does not exist')
        self.path = path
        self.max_frames = max_frames
        start = time.perf_counter()
        self.capture = cv2.VideoCapture(path)
        if not self.capture.isOpened():
            self.capture.release()
            raise ValueError(f'cannot read video {path!r}: OpenCV could not open it (not a '
                             f'video, corrupt, or a codec OpenCV lacks)')
        ok, frame = self.capture.read()
        if not ok or frame is None:
            self.capture.release()
            raise ValueError(f'cannot read video {path!r}: OpenCV opened it but decoded no '
                             f'frame (empty or corrupt)')
        self.first_decode_s = time.perf_counter() - start
        self._first = (frame, self.first_decode_s)
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.num_frames = None if count <= 0 else (
            count if max_frames is None else min(count, max_frames))
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def __iter__(self) -> Iterator[Tuple[np.ndarray, float]]:
        try:
            if self._first is None:
                raise RuntimeError(f'the frames of {self.path!r} were already read')
            first, self._first = self._first, None
            yield first
            read = 1
            while self.max_frames is None or read < self.max_frames:
                start = time.perf_counter()
                ok, frame = self.capture.read()
                if not ok or frame is None:
                    break
                read += 1
                yield frame, time.perf_counter() - start
        finally:
            self.release()

    def release(self) -> None:
        self.capture.release()


# -- memory ------------------------------------------------------------------------------------
def current_rss() -> Optional[float]:
    """The process's resident set size now, in bytes (None where /proc is missing)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


def peak_rss() -> float:
    """The process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) if sys.platform == 'darwin' else float(peak) * 1024


# -- output ----------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f'cannot write {type(value).__name__} to JSON')


class JsonFrameWriter:
    """Writes ``{"frames": [...], "summary": {...}}`` one frame at a time, so that the results
    of a long video are never all in memory.  The file appears (renamed from ``OUT.part``) when
    :meth:`close` writes the summary.

    Args:
        path (str): the JSON file to write.
    """

    def __init__(self, path: str):
        self.path = path
        self.part = f'{path}.part'
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.file = open(self.part, 'w')
        self.file.write('{"frames": [')
        self.count = 0

    def write(self, record: dict) -> None:
        if self.count:
            self.file.write(',\n')
        json.dump(record, self.file, default=_jsonable)
        self.count += 1

    def close(self, summary: dict) -> None:
        self.file.write('],\n"summary": ')
        json.dump(summary, self.file, default=_jsonable)
        self.file.write('}\n')
        self.file.close()
        os.replace(self.part, self.path)

    def abort(self) -> None:
        self.file.close()
        if osp.exists(self.part):
            os.remove(self.part)


# -- the run -----------------------------------------------------------------------------------
def _top(scores: np.ndarray, names: Optional[List[str]], k: int = TOPK) -> List[dict]:
    order = np.argsort(-scores, kind='stable')[:k]
    return [dict(label=int(i), name=names[i] if names else str(int(i)), score=float(scores[i]))
            for i in order]


def _in_metric_unit(value: float, unit_scale: float) -> str:
    """A distance in the targets' unit, and in the metric's (the head's ``unit_scale``: metres
    -> mm for 1000)."""
    if unit_scale == 1000:
        return f'{value:.5f} m ({value * 1000:.1f} mm)'
    return f'{value:.5f} (x{unit_scale:g} = {value * unit_scale:.2f} in the metric\'s unit)'


def _mib(value: Optional[float]) -> Optional[float]:
    return None if value is None else value / MIB


def run(args: argparse.Namespace) -> dict:
    """Everything :func:`main` does; returns the summary (also in the JSON)."""
    cfg = load_config(args.config, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    model = build_model(cfg)
    streamer = make_streamer(model, args.config)  # refuses non-causal models
    size = args.size if args.size is not None else frame_size_from_config(cfg, model)
    if size is None:
        raise ValueError(f'cannot tell the frame size from {args.config} (no square crop_size, '
                         f'size or scale in its test pipeline, no backbone img_size); pass '
                         f'--size S')
    load_weights(model, args.checkpoint)
    device = torch.device(args.device)
    model.to(device).eval()
    names = class_names_from_config(cfg) if streamer.task == 'action' else None
    num_classes = getattr(getattr(model, 'cls_head', None), 'num_classes', None)
    if names is not None and len(names) != num_classes:
        print(f'the config gives {len(names)} class names for {num_classes} classes; printing '
              f'class indices', flush=True)
        names = None
    unit_scale = float(getattr(getattr(model, 'head', None), 'unit_scale', 1.0))

    video = VideoFrames(args.video, args.max_frames)
    backbone = _backbone_words(model.backbone)
    print(f'streaming {args.video} ({video.num_frames or "?"} frames, {video.fps:g} fps) '
          f'through {type(model).__name__} ({backbone}, {streamer.task}) at {size} x {size}, '
          f'one frame per call, on {device}', flush=True)

    counter = None if args.no_energy else EnergyCounter(model)
    on_cuda = device.type == 'cuda'
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    writer = JsonFrameWriter(args.json_out) if args.json_out else None
    # running statistics only: nothing kept per frame, so memory does not grow with the video
    count = 0
    model_s = decode_s = energy_sum = spikes = neuron_steps = moved_sum = 0.0
    previous = last = None
    rss_before = current_rss()
    rss_first = rss_max = rss_last = peak_first = None
    wall_start = time.perf_counter()
    try:
        with streamer.streaming():
            for index, (bgr, decode_time) in enumerate(video):
                start = time.perf_counter()
                rgb = preprocess_frame(bgr, size)
                frame = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().to(device)
                decode_time += time.perf_counter() - start
                start = time.perf_counter()
                if counter is not None:
                    counter.reset()
                    with counter:
                        out = streamer.predict_frame(frame)
                else:
                    out = streamer.predict_frame(frame)
                if on_cuda:
                    torch.cuda.synchronize(device)
                call_time = time.perf_counter() - start
                count += 1
                model_s += call_time
                decode_s += decode_time
                record = dict(frame=index, model_ms=call_time * 1e3)
                if counter is not None:
                    report = counter.report()
                    energy_sum += report.energy_mj
                    spikes += counter.spikes
                    neuron_steps += counter.neuron_steps
                    record.update(energy_mj=report.energy_mj, mac=report.mac, ac=report.ac,
                                  firing_rate=report.firing_rate)
                out = out[0].detach().float().cpu().numpy()
                if streamer.task == 'action':
                    scores = streamer.online.scores(torch.from_numpy(out)[None])[0].numpy()
                    last = _top(scores, names)
                    record.update(cls_score=out, top5=last)
                    line = f'top-1 {last[0]["name"]} {last[0]["score"]:.3f}'
                else:
                    record['joints'] = last = out
                    line = 'first frame'
                    if previous is not None:
                        moved = float(np.linalg.norm(out - previous, axis=-1).mean())
                        moved_sum += moved
                        record['displacement'] = moved
                        line = f'joint displacement {_in_metric_unit(moved, unit_scale)}'
                    previous = out
                rss_last = current_rss()
                record['rss_mib'] = _mib(rss_last)
                if rss_first is None:  # the first call allocates workspaces: the baseline
                    rss_first, peak_first = rss_last, peak_rss()
                if rss_last is not None:
                    rss_max = rss_last if rss_max is None else max(rss_max, rss_last)
                if writer is not None:
                    writer.write(record)
                if args.every and (index + 1) % args.every == 0:
                    total = f'/{video.num_frames}' if video.num_frames else ''
                    energy = f', {record["energy_mj"]:.4f} mJ' if counter is not None else ''
                    rss = f', RSS {record["rss_mib"]:.1f} MiB' if rss_last is not None else ''
                    print(f'frame {index + 1}{total}: {call_time * 1e3:.1f} ms{energy}, {line}'
                          f'{rss}', flush=True)
    except BaseException:
        video.release()
        if writer is not None:
            writer.abort()
        raise
    # the first frame was decoded when the video was opened
    wall_s = time.perf_counter() - wall_start + video.first_decode_s

    peak_after = peak_rss()
    summary = dict(config=args.config, checkpoint=args.checkpoint, video=args.video,
                   task=streamer.task, size=size, frames=count, device=str(device),
                   model_fps=count / model_s if model_s > 0 else float('inf'),
                   model_ms_per_frame=model_s / count * 1e3,
                   fps_with_decoding=count / wall_s if wall_s > 0 else float('inf'),
                   decode_ms_per_frame=decode_s / count * 1e3,
                   energy_counted=counter is not None,
                   peak_rss_mib=_mib(peak_after),
                   peak_rss_growth_mib=_mib(peak_after - peak_first),
                   rss_before_mib=_mib(rss_before),
                   rss_first_frame_mib=_mib(rss_first),
                   rss_last_frame_mib=_mib(rss_last),
                   rss_max_mib=_mib(rss_max),
                   rss_growth_mib=_mib(rss_max - rss_first) if rss_first is not None else None)
    if counter is not None:
        summary.update(energy_mj_per_frame=energy_sum / count,
                       firing_rate=spikes / neuron_steps if neuron_steps else float('nan'))
    if on_cuda:
        summary['cuda_peak_allocated_mib'] = _mib(torch.cuda.max_memory_allocated(device))

    print(f'--- {count} frames of {args.video} ---')
    if streamer.task == 'action':
        summary['top5'] = last
        kind = 'probability' if getattr(model.cls_head, 'average_clips', None) == 'prob' \
            else 'score'
        print(f'prediction after {count} frames (top-{len(last)}, {kind}): '
              + ', '.join(f'{t["name"]} {t["score"]:.4f}' for t in last))
    else:
        mean_move = moved_sum / (count - 1) if count > 1 else 0.0
        summary.update(mean_joint_displacement=mean_move, unit_scale=unit_scale)
        where = f' (per-frame joints in {args.json_out})' if args.json_out else \
            ' (--json OUT writes the joints of every frame)'
        print(f'pose: {count} frames of root-relative joints {tuple(last.shape)}; mean joint '
              f'displacement per frame {_in_metric_unit(mean_move, unit_scale)}{where}')
    if counter is not None:
        print(f'energy: {summary["energy_mj_per_frame"]:.5f} mJ/frame (mean), firing rate '
              f'{summary["firing_rate"]:.4f}')
    timing = 'with energy counting; --no-energy for the model alone' if counter is not None \
        else 'no energy counting'
    print(f'speed: {summary["model_fps"]:.1f} frames/s in model calls '
          f'({summary["model_ms_per_frame"]:.2f} ms/frame, {timing}); '
          f'{summary["fps_with_decoding"]:.1f} frames/s including decoding and resizing')
    memory = (f'memory: peak RSS {summary["peak_rss_mib"]:.1f} MiB (process), '
              f'{summary["peak_rss_growth_mib"]:+.1f} MiB after frame 1')
    if rss_first is not None:
        memory += (f'; RSS before streaming {summary["rss_before_mib"]:.1f} MiB, after frame 1 '
                   f'{summary["rss_first_frame_mib"]:.1f} MiB (first-call workspaces), max '
                   f'{summary["rss_max_mib"]:.1f} MiB, after frame {count} '
                   f'{summary["rss_last_frame_mib"]:.1f} MiB: growth while streaming '
                   f'{summary["rss_growth_mib"]:+.1f} MiB')
    if on_cuda:
        memory += f'; CUDA peak allocated {summary["cuda_peak_allocated_mib"]:.1f} MiB'
    print(memory, flush=True)
    if writer is not None:
        writer.close(summary)
        print(f'per-frame results: {args.json_out}', flush=True)
    return summary


def main(argv: Optional[List[str]] = None) -> dict:
    return run(parse_args(argv))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'tools/stream.py: error: {err}')
