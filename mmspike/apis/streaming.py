"""Frame-by-frame (online) inference of a causal model on a video: :func:`make_streamer` picks
the task by the model's class, :func:`stream_video` feeds a video one frame per call and
measures it (per-frame results, energy, speed, memory), :class:`JsonFrameWriter` writes the
per-frame results as they come.  ``tools/stream.py`` is the command line over it.

Models: MMAction2 recognizers with a causal backbone, no neck and a causal head
(:class:`mmspike.estimators.action.StreamingRecognizer`; the running prediction after frame t
is that of the clip of frames 1..t) and :class:`~mmspike.estimators.pose.VideoPoseLifter`
(root-relative joints of every frame).  The backbone must be causal, e.g. SpikeVideoFormer
with ``attention='causal'``; a model that is not gets the error of
:func:`mmspike.estimators.streaming.check_streamable`.
"""
import json
import os
import os.path as osp
import time
from typing import Callable, List, Optional, Union

import numpy as np
import torch
from torch import nn

from ..engine.memory import current_rss, peak_rss
from ..estimators.streaming import check_streamable
from .inference import POSE_LIFTER, RECOGNIZER, is_task_model, top_k
from .video import VideoFrames, preprocess_frame

MIB = 1024.0 ** 2


class Streamer:
    """A model as frame-by-frame inference needs it: ``task`` ('action' or 'pose'),
    ``streaming()`` and ``predict_frame(frame [N, C, H, W])``.  Built by :func:`make_streamer`.

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

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Action: the class scores of a running prediction as the head's ``predict`` gives
        them (softmax for ``average_clips='prob'``); pose: ``out`` unchanged."""
        return self.online.scores(out) if self.task == 'action' else out


def make_streamer(model: nn.Module) -> Streamer:
    """Wrap ``model`` for frame-by-frame inference, by its class: an MMAction2
    ``BaseRecognizer`` (through :class:`~mmspike.estimators.action.StreamingRecognizer`) or a
    :class:`~mmspike.estimators.pose.VideoPoseLifter`.

    Raises:
        ValueError: the model is not causal (what is not, in words).
        TypeError: the model is of another class.
    """
    if is_task_model(model, RECOGNIZER):
        from mmspike.estimators.action import StreamingRecognizer
        online = StreamingRecognizer(model)
        check_streamable(model, online.why_not_causal(), 'SpikingClsHead')
        return Streamer(model, 'action', online)
    if is_task_model(model, POSE_LIFTER):
        check_streamable(model, model.why_not_causal(), 'SpikeTemporalRegressionHead')
        return Streamer(model, 'pose', model)
    raise TypeError(f'frame-by-frame inference runs MMAction2 recognizers (BaseRecognizer, with '
                    f'a causal backbone and head) and VideoPoseLifter models; got '
                    f'{type(model).__name__}')


# -- memory ------------------------------------------------------------------------------------
def _mib(value: Optional[float]) -> Optional[float]:
    return None if value is None else value / MIB


# -- output ------------------------------------------------------------------------------------
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
def stream_video(streamer: Streamer,
                 video: VideoFrames,
                 size: int,
                 device: Union[str, torch.device] = 'cpu',
                 counter=None,
                 writer: Optional[JsonFrameWriter] = None,
                 names: Optional[List[str]] = None,
                 on_frame: Optional[Callable[[dict], None]] = None) -> dict:
    """Feed ``video`` to ``streamer`` one frame per call and measure it.

    Every frame is converted to RGB, its shorter side resized to ``size`` and the centre
    ``size x size`` cut out (:func:`~mmspike.apis.video.preprocess_frame`).  Only running
    statistics are kept, so memory does not grow with the video's length.

    Args:
        streamer (Streamer): from :func:`make_streamer`, its model on ``device`` in eval mode.
        video (VideoFrames): the video.
        size (int): the frame side.
        device (str | torch.device): the model's device. Defaults to 'cpu'.
        counter (EnergyCounter, optional): counts MACs/ACs of every frame. Defaults to None.
        writer (JsonFrameWriter, optional): gets every frame's record; aborted on an error.
        names (list[str], optional): class names (action).
        on_frame (callable, optional): called with every frame's record.

    Returns:
        dict: the summary: frames, speed (model calls alone and with decoding), energy and
        firing rate (with ``counter``), memory, and the prediction after the last frame
        (action: ``top5``; pose: ``joints_shape`` and ``mean_joint_displacement``).
        Each record holds ``frame``, ``model_ms``, ``rss_mib``, with ``counter`` the energy,
        and action: ``cls_score`` and ``top5``; pose: ``joints`` and (after the first frame)
        ``displacement``, the mean joint movement from the frame before.
    """
    device = torch.device(device)
    on_cuda = device.type == 'cuda'
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
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
                out = out[0].detach().float().cpu()
                if streamer.task == 'action':
                    scores = streamer.scores(out[None])[0].numpy()
                    last = top_k(scores, names)
                    record.update(cls_score=out.numpy(), top5=last)
                else:
                    record['joints'] = last = out.numpy()
                    if previous is not None:
                        moved = float(np.linalg.norm(last - previous, axis=-1).mean())
                        moved_sum += moved
                        record['displacement'] = moved
                    previous = last
                rss_last = current_rss()
                record['rss_mib'] = _mib(rss_last)
                if rss_first is None:  # the first call allocates workspaces: the baseline
                    rss_first, peak_first = rss_last, peak_rss()
                if rss_last is not None:
                    rss_max = rss_last if rss_max is None else max(rss_max, rss_last)
                if writer is not None:
                    writer.write(record)
                if on_frame is not None:
                    on_frame(record)
    except BaseException:
        video.release()
        if writer is not None:
            writer.abort()
        raise
    # the first frame was decoded when the video was opened
    wall_s = time.perf_counter() - wall_start + video.first_decode_s

    peak_after = peak_rss()
    summary = dict(task=streamer.task, size=size, frames=count, device=str(device),
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
    if streamer.task == 'action':
        summary['top5'] = last
    else:
        summary.update(joints_shape=tuple(last.shape),
                       mean_joint_displacement=moved_sum / (count - 1) if count > 1 else 0.0,
                       unit_scale=float(getattr(streamer.model.head, 'unit_scale', 1.0)))
    return summary
