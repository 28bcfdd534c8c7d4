"""Accuracy of an action-recognition model under test-time input noise (SVFormer's test):
``tools/analysis/robustness.py`` is the command line over it.

The checkpoint is tested once clean and once per noise level (:func:`settings`), each run with
a noise transform inserted into the test pipeline just before ``FormatShape``
(:func:`insert_noise`): ``GaussianNoise(k)`` and ``SaltPepperNoise(p)`` from
:mod:`mmspike.datasets.transforms.noise`, seeded per sample.  Every run is mmengine's
``Runner.test`` as in ``tools/test.py`` (:func:`run_cfg`, :func:`run_test`);
:func:`make_rows`, :func:`format_table` and :func:`plot` report the results.
"""
import copy
import os.path as osp
import time
from typing import Iterator, List, Sequence, Tuple

from mmengine.config import Config

GAUSSIAN_K = (0.1, 0.3, 0.5, 1.0)
SALT_PEPPER_P = (0.1, 0.2, 0.3)
NOISE_LABELS = {'clean': 'clean', 'gaussian': 'Gaussian (k x clip std)',
                'salt_pepper': 'salt-and-pepper (p)'}


def settings(gaussian_k: Sequence[float] = GAUSSIAN_K,
             salt_pepper_p: Sequence[float] = SALT_PEPPER_P) -> List[Tuple[str, float]]:
    """The runs in order: clean, then every Gaussian k, then every salt-and-pepper p."""
    return ([('clean', 0.0)] + [('gaussian', float(k)) for k in gaussian_k]
            + [('salt_pepper', float(p)) for p in salt_pepper_p])


def check_levels(runs: Sequence[Tuple[str, float]], seed: int = 0) -> None:
    """Build the noise transform of every noisy run, so that a bad level fails before any test
    runs."""
    from mmengine.registry import TRANSFORMS

    import mmspike  # noqa: F401  (registers the noise transforms)
    from mmspike.datasets.transforms.noise import noise_step
    for noise, level in runs:
        if noise != 'clean':
            TRANSFORMS.build(noise_step(noise, level, seed))


def insert_noise(pipeline: list, noise: str, level: float, seed: int = 0) -> list:
    """Return a copy of ``pipeline`` (list of step dicts) with the noise step of (``noise``,
    ``level``) inserted before ``FormatShape``; ``'clean'`` returns an unchanged copy."""
    from mmspike.datasets.transforms import format_step_index
    from mmspike.datasets.transforms.noise import noise_step
    pipeline = [dict(step) for step in pipeline]
    if noise == 'clean':
        return pipeline
    # the noise acts on uint8 video frames, so only before FormatShape (not event frames)
    at = format_step_index(pipeline, 'robustness', formats=('FormatShape', ))
    pipeline.insert(at, noise_step(noise, level, seed))
    return pipeline


def run_cfg(cfg: Config, noise: str, level: float, seed: int, work_dir: str) -> Config:
    """A copy of ``cfg`` that tests with (``noise``, ``level``) in its own work dir (the firing-
    rate hook, if any, writes its JSON there but no plot)."""
    cfg = copy.deepcopy(cfg)
    dataset = cfg.test_dataloader.dataset
    if 'pipeline' not in dataset:
        raise ValueError(f'test_dataloader.dataset ({dataset.get("type")}) has no pipeline '
                         f'to add the noise to')
    dataset.pipeline = insert_noise(dataset.pipeline, noise, level, seed)
    # Keep each run's firing_rates.json but skip its figure (seconds per run on a CPU).
    for hook in cfg.get('custom_hooks', None) or []:
        if hook.get('type') == 'FiringRateHook':
            hook['plot'] = False
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{noise}_{level:g}'
    return cfg


def run_test(cfg: Config) -> Tuple[dict, int]:
    """``Runner.test`` as in ``tools/test.py``; returns the metrics dict and the number of test
    samples."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    return metrics, len(runner.test_dataloader.dataset)


def run_all(cfg: Config, runs: Sequence[Tuple[str, float]], seed: int,
            runs_dir: str) -> Iterator[Tuple[str, float, dict, int, float]]:
    """Test ``cfg`` (its ``load_from`` the checkpoint) once per run, in order, each in
    ``runs_dir/<noise>_<level>``; yields ``(noise, level, metrics, test samples, seconds)``
    after every run."""
    for noise, level in runs:
        start = time.perf_counter()
        metrics, samples = run_test(
            run_cfg(cfg, noise, level, seed, osp.join(runs_dir, f'{noise}_{level:g}')))
        yield noise, level, metrics, samples, time.perf_counter() - start


def metric(metrics: dict, name: str) -> float:
    """Top-k accuracy (``acc/top1``-style key, as a fraction) from a metrics dict; a clear
    error when the config's evaluator has no AccMetric."""
    for key in (f'acc/{name}', name):
        if key in metrics:
            return float(metrics[key])
    raise KeyError(f'the test metrics have no {name!r} accuracy (AccMetric); got '
                   f'{sorted(metrics)}')


def make_rows(results: Sequence[Tuple[str, float, dict]]) -> List[dict]:
    """Table rows from ``[(noise, level, metrics)]``, clean first: accuracies in percent and the
    top-1 drop vs clean in points; energy per clip and mean firing rate where measured."""
    if not results or results[0][0] != 'clean':
        raise ValueError('the first result must be the clean run')
    clean_top1 = 100 * metric(results[0][2], 'top1')
    rows = []
    for noise, level, metrics in results:
        top1 = 100 * metric(metrics, 'top1')
        row = dict(noise=noise, level=level, top1=top1, top5=100 * metric(metrics, 'top5'),
                   drop=clean_top1 - top1)
        if 'energy/mJ_per_sample' in metrics:
            row['energy_mj'] = float(metrics['energy/mJ_per_sample'])
        if 'firing_rate_mean' in metrics:
            row['firing_rate_mean'] = float(metrics['firing_rate_mean'])
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The printed table: one line per row of :func:`make_rows` (energy per clip as a last
    column when every run measured it)."""
    with_energy = all('energy_mj' in row for row in rows)
    header = f'{"noise":<12} {"level":>5} {"top-1 %":>8} {"top-5 %":>8} {"drop":>7}'
    if with_energy:
        header += f' {"mJ/clip":>9}'
    lines = [header, '-' * len(header)]
    for row in rows:
        line = (f'{row["noise"]:<12} {row["level"]:>5g} {row["top1"]:>8.2f} {row["top5"]:>8.2f} '
                f'{row["drop"]:>7.2f}')
        if with_energy:
            line += f' {row["energy_mj"]:>9.4f}'
        lines.append(line)
    return '\n'.join(lines)


def plot(rows: Sequence[dict], path: str, title: str) -> None:
    """Write the accuracy-vs-noise figure: top-1 against level, one line per noise type starting
    from the clean accuracy at level 0, and the clean accuracy as a dashed line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    clean = rows[0]['top1']
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhline(clean, color='gray', linestyle='--', label=f'clean ({clean:.1f}%)')
    for noise, marker in (('gaussian', 'o'), ('salt_pepper', 's')):
        points = [(r['level'], r['top1']) for r in rows if r['noise'] == noise]
        if points:
            xs, ys = zip(*([(0.0, clean)] + points))
            ax.plot(xs, ys, marker=marker, label=NOISE_LABELS[noise])
    ax.set_xlabel('noise level (Gaussian: k; salt-and-pepper: p)')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
