"""Video frames to event-camera events: a log-intensity change model (numpy only).

Model (that of ESIM, Rebecq et al. 2018, and of the DVS pixel it idealises).  Every pixel ``i``
sees the log intensity

    L_i(t) = log(I_i(t) + eps),     I in [0, 1] (8-bit value / 255),

linear in time between two frames (``L_i(t_k)`` from frame ``k``).  It keeps a reference
``R_i``, first ``L_i(t_0)``.  Each time ``L_i`` reaches ``R_i + C_on,i`` the pixel emits an ON
event (polarity 1) and ``R_i`` rises by ``C_on,i``; each time it reaches ``R_i - C_off,i`` it
emits an OFF event (polarity 0) and ``R_i`` falls by ``C_off,i``.  Within the segment
``[t_k, t_k+1]`` the ``j``-th crossing (level ``R_i +- j C``) therefore happens at

    t = t_k + (R_i +- j C - L_i(t_k)) / (L_i(t_k+1) - L_i(t_k)) * (t_k+1 - t_k),

and a change of ``n`` thresholds gives ``n`` events (``floor(|L_i(t_k+1) - R_i| / C)``, counted
with a relative tolerance of 1e-9 so that an exact multiple of ``C`` is not lost to rounding).

* Threshold mismatch: ``C_on,i`` and ``C_off,i`` are drawn once per pixel from
  ``N(C, sigma^2)`` (``threshold_sigma``), clipped below at ``min_threshold``.
* Refractory period: a crossing less than ``refractory_us`` after the pixel's last emitted
  event is not emitted, but ``R_i`` still moves past it (the change is lost, as for a pixel that
  is still resetting).
* Background activity: each pixel also fires noise events as a Poisson process of
  ``noise_rate`` events per second (uniform times over the clip, polarity 1 or 0 with equal
  probability), outside the refractory logic.

Timestamps are rounded to integer microseconds; events are sorted by time (ties: generation
order, then noise).  All randomness comes from ``numpy.random.default_rng(seed)``, so a
conversion is a deterministic function of the frames and the parameters.

Why a model here rather than a kept simulator: ``v2e`` is not on the package index (a GitHub
install with torch, optional SuperSloMo weights and a GPU recommended), ESIM's Python bindings
(``esim_py``) are a C++ build from source (pybind11, OpenCV, Eigen, Boost), and the ``esim`` name
on the index is an unrelated game library.  The model above is a few vectorised numpy lines,
which the tests check against a naive per-pixel loop.
"""
from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ['frames_to_log_intensity', 'frame_timestamps_us', 'simulate_events',
           'background_activity', 'merge_events', 'video_frames_to_events', 'check_sensor_args']

# Events within this fraction of a threshold of an exact crossing count as crossings.
_CROSSING_TOLERANCE = 1e-9


def frames_to_log_intensity(frames: np.ndarray, eps: float = 1e-2,
                            channel_order: str = 'rgb') -> np.ndarray:
    """Log intensity ``log(I + eps)`` of each pixel, ``I`` the luminance in [0, 1].

    Args:
        frames (np.ndarray): ``(T, H, W)`` grey or ``(T, H, W, 3)`` colour frames, 8-bit values
            (any integer or float dtype on the 0-255 scale).
        eps (float): offset inside the logarithm; keeps black finite and damps the gain of the
            darkest levels. Defaults to 1e-2.
        channel_order (str): ``'rgb'`` or ``'bgr'`` (OpenCV's decoding order) for colour
            frames. Defaults to ``'rgb'``.

    Returns:
        np.ndarray: float64 ``(T, H, W)``.
    """
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        weights = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma, as OpenCV's gray
        if channel_order == 'bgr':
            weights = weights[::-1]
        elif channel_order != 'rgb':
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        luma = frames.astype(np.float64) @ weights
    elif frames.ndim == 3:
        luma = frames.astype(np.float64)
    else:
        raise ValueError(f'frames must be (T, H, W) or (T, H, W, 3), got shape {frames.shape}')
    if frames.shape[0] < 2:
        raise ValueError(f'need at least 2 frames to make events, got {frames.shape[0]}')
    if not eps > 0 and luma.min() <= 0:
        raise ValueError(f'eps must be > 0 when a pixel is 0, got eps={eps}')
    return np.log(luma / 255.0 + eps)


def frame_timestamps_us(num_frames: int, fps: float) -> np.ndarray:
    """Times of the frames in microseconds, ``k * 1e6 / fps`` (float64)."""
    if not fps > 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    return np.arange(int(num_frames), dtype=np.float64) * (1e6 / float(fps))


def check_sensor_args(**sensor) -> None:
    """Raise ``ValueError`` naming the first bad sensor parameter among those given:
    ``threshold`` must be a number > 0; ``refractory_us``, ``threshold_sigma`` and
    ``noise_rate`` numbers >= 0 (the one check of the model's parameters, for the library, the
    embedded event dataset and ``tools/data/video_to_events.py``)."""
    for name, value in sensor.items():
        if name not in ('threshold', 'refractory_us', 'threshold_sigma', 'noise_rate'):
            raise TypeError(f'unknown sensor parameter {name!r}')
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            raise ValueError(f'{name} must be a number, got {value!r}')
        positive = name == 'threshold'
        if (positive and not value > 0) or not value >= 0:
            raise ValueError(f'{name} must be {">" if positive else ">="} 0, got {value}')


def _pixel_thresholds(rng: np.random.Generator, shape: Sequence[int], threshold: float,
                      sigma: float, min_threshold: float):
    check_sensor_args(threshold=threshold, threshold_sigma=sigma)
    if sigma == 0:
        full = np.full(shape, float(threshold))
        return full, full.copy()
    on = np.maximum(rng.normal(threshold, sigma, shape), min_threshold)
    off = np.maximum(rng.normal(threshold, sigma, shape), min_threshold)
    return on, off


def simulate_events(log_frames: np.ndarray, times_us: np.ndarray, threshold: float = 0.2,
                    refractory_us: float = 0.0, threshold_sigma: float = 0.0,
                    min_threshold: float = 0.01, seed: int = 0) -> Dict[str, np.ndarray]:
    """Contrast-threshold events of a log-intensity video (the model of this module, without
    background noise).

    Args:
        log_frames (np.ndarray): ``(T, H, W)`` log intensities (:func:`frames_to_log_intensity`).
        times_us (np.ndarray): ``(T,)`` increasing frame times in microseconds.
        threshold (float): contrast threshold ``C`` in log units. Defaults to 0.2.
        refractory_us (float): refractory period in microseconds. Defaults to 0.
        threshold_sigma (float): per-pixel threshold standard deviation. Defaults to 0.
        min_threshold (float): lower clip of mismatched thresholds. Defaults to 0.01.
        seed (int): seed of the threshold mismatch. Defaults to 0.

    Returns:
        dict: ``t`` (float64 microseconds, unsorted: generation order), ``x``, ``y`` (int64),
        ``p`` (uint8).
    """
    log_frames = np.asarray(log_frames, np.float64)
    times_us = np.asarray(times_us, np.float64)
    if log_frames.ndim != 3 or times_us.shape != log_frames.shape[:1]:
        raise ValueError(f'log_frames must be (T, H, W) with T = len(times_us), got '
                         f'{log_frames.shape} and {times_us.shape}')
    if np.any(np.diff(times_us) <= 0):
        raise ValueError('frame times must be strictly increasing')
    _, height, width = log_frames.shape
    rng = np.random.default_rng(seed)
    c_on, c_off = (c.ravel() for c in _pixel_thresholds(
        rng, (height, width), threshold, threshold_sigma, min_threshold))
    flat = log_frames.reshape(len(log_frames), -1)
    reference = flat[0].copy()
    last_emitted = np.full(flat.shape[1], -np.inf)
    chunks_t, chunks_i, chunks_p = [], [], []
    for k in range(len(flat) - 1):
        start, end = flat[k], flat[k + 1]
        change = end - reference
        n_on = np.floor(np.maximum(change, 0) / c_on + _CROSSING_TOLERANCE).astype(np.int64)
        n_off = np.floor(np.maximum(-change, 0) / c_off + _CROSSING_TOLERANCE).astype(np.int64)
        pixels = np.flatnonzero(n_on + n_off)
        if pixels.size:
            up = n_on[pixels] > 0
            counts = np.where(up, n_on[pixels], n_off[pixels])
            step = np.where(up, c_on[pixels], -c_off[pixels])
            slope = end[pixels] - start[pixels]
            slope = np.where(slope == 0, 1.0, slope)  # only reachable through the tolerance
            duration = times_us[k + 1] - times_us[k]
            for j in range(1, int(counts.max()) + 1):
                live = counts >= j
                pix = pixels[live]
                level = reference[pix] + j * step[live]
                frac = np.clip((level - start[pix]) / slope[live], 0.0, 1.0)
                t = times_us[k] + frac * duration
                emit = t - last_emitted[pix] >= refractory_us
                last_emitted[pix[emit]] = t[emit]
                chunks_t.append(t[emit])
                chunks_i.append(pix[emit])
                chunks_p.append(up[live][emit])
            reference[pixels] += counts * step
    t = np.concatenate(chunks_t) if chunks_t else np.zeros(0)
    index = np.concatenate(chunks_i) if chunks_i else np.zeros(0, np.int64)
    p = np.concatenate(chunks_p) if chunks_p else np.zeros(0, bool)
    return dict(t=t, x=index % width, y=index // width, p=p.astype(np.uint8))


def background_activity(rate_hz: float, height: int, width: int, start_us: float,
                        end_us: float, seed: int = 0) -> Dict[str, np.ndarray]:
    """Noise events: per pixel a Poisson process of ``rate_hz`` events per second over
    ``[start_us, end_us)``, uniform times, polarity 0 or 1 with probability 1/2.

    Args:
        rate_hz (float): events per pixel per second.
        height (int): sensor height.
        width (int): sensor width.
        start_us (float): start of the clip (microseconds).
        end_us (float): end of the clip (microseconds).
        seed (int): seed. Defaults to 0.

    Returns:
        dict: ``t`` (float64), ``x``, ``y`` (int64), ``p`` (uint8), unsorted.
    """
    check_sensor_args(noise_rate=rate_hz)
    rng = np.random.default_rng(seed)
    duration_s = max(float(end_us) - float(start_us), 0.0) * 1e-6
    counts = rng.poisson(rate_hz * duration_s, height * width)
    index = np.repeat(np.arange(height * width), counts)
    t = rng.uniform(start_us, end_us, index.size) if index.size else np.zeros(0)
    p = rng.integers(0, 2, index.size).astype(np.uint8)
    return dict(t=t, x=index % width, y=index // width, p=p)


def merge_events(*streams: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Concatenate unsorted streams, round times to integer microseconds and sort them stably
    (ties keep the order of the arguments and, within one, the generation order)."""
    t = np.rint(np.concatenate([s['t'] for s in streams])).astype(np.int64)
    order = np.argsort(t, kind='stable')
    out = dict(t=t[order])
    for key in ('x', 'y', 'p'):
        out[key] = np.concatenate([s[key] for s in streams])[order]
    return out


def video_frames_to_events(frames: np.ndarray, fps: float = 30.0,
                           times_us: Optional[np.ndarray] = None, threshold: float = 0.2,
                           refractory_us: float = 0.0, threshold_sigma: float = 0.0,
                           noise_rate: float = 0.0, eps: float = 1e-2,
                           channel_order: str = 'rgb', seed: int = 0) -> dict:
    """Events of a clip of 8-bit frames (the whole model of this module).

    Args:
        frames (np.ndarray): ``(T, H, W)`` or ``(T, H, W, 3)`` frames, T >= 2.
        fps (float): frame rate, used when ``times_us`` is None. Defaults to 30.
        times_us (np.ndarray, optional): frame times in microseconds. Defaults to None
            (``k * 1e6 / fps``).
        threshold (float): contrast threshold ``C`` (log units). Defaults to 0.2.
        refractory_us (float): refractory period (microseconds). Defaults to 0.
        threshold_sigma (float): threshold mismatch standard deviation. Defaults to 0.
        noise_rate (float): background activity per pixel per second. Defaults to 0.
        eps (float): offset inside the logarithm. Defaults to 1e-2.
        channel_order (str): ``'rgb'`` or ``'bgr'``. Defaults to ``'rgb'``.
        seed (int): seed of the mismatch and the noise. Defaults to 0.

    Returns:
        dict: ``t`` (int64, non-decreasing), ``x``, ``y`` (int64), ``p`` (uint8), ``height``,
        ``width`` (int): the arguments of ``mmspike.datasets.events.save_events``.
    """
    log_frames = frames_to_log_intensity(frames, eps, channel_order)
    if times_us is None:
        times_us = frame_timestamps_us(len(log_frames), fps)
    seeds = np.random.SeedSequence(int(seed)).spawn(2)
    events = simulate_events(log_frames, times_us, threshold, refractory_us, threshold_sigma,
                             seed=seeds[0])
    height, width = log_frames.shape[1:]
    noise = background_activity(noise_rate, height, width, times_us[0], times_us[-1],
                                seed=seeds[1])
    merged = merge_events(events, noise)
    merged.update(height=int(height), width=int(width))
    return merged
