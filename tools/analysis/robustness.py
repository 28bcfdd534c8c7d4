"""Accuracy of a trained action-recognition model under test-time input noise (SVFormer's test).

    python tools/analysis/robustness.py CONFIG CHECKPOINT [--out-dir DIR]
        [--gaussian-k 0.1 0.3 0.5 1.0] [--salt-pepper-p 0.1 0.2 0.3] [--seed 0]
        [--cfg-options key=value ...]

Tests the checkpoint on the config's test set once clean and once per noise level, each with a
noise transform inserted into the test pipeline just before ``FormatShape``:
``GaussianNoise(k)`` (adds N(0, (k x clip std)^2) to the decoded frames) and
``SaltPepperNoise(p)`` (a fraction p of the pixels set to 255 or 0), both from
:mod:`mmspike.datasets.transforms.noise`.  The noise is seeded per sample (``--seed`` and the sample
index), so a rerun gives the same table.  Every run is mmengine's ``Runner.test`` as in
``tools/test.py`` (same config, checkpoint loading and metrics).

Prints a table (noise, level, top-1, top-5, drop of top-1 vs clean in points) and writes
``robustness.json`` and ``robustness.png`` (top-1 against noise level, one line per noise type,
the clean accuracy as a dashed reference) to ``--out-dir`` (default
``work_dirs/robustness/<config name>``); the runs' logs go to ``--out-dir/runs``.
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

GAUSSIAN_K = (0.1, 0.3, 0.5, 1.0)
SALT_PEPPER_P = (0.1, 0.2, 0.3)
NOISE_LABELS = {'clean': 'clean', 'gaussian': 'Gaussian (k x clip std)',
                'salt_pepper': 'salt-and-pepper (p)'}


def parse_args(argv=None):
    """Command-line arguments (``argv`` None: ``sys.argv``)."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Accuracy under test-time input noise')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', help='default: work_dirs/robustness/<config name>')
    parser.add_argument('--gaussian-k', type=float, nargs='*', default=list(GAUSSIAN_K),
                        help='Gaussian noise std in multiples of the clip std '
                        '(default: 0.1 0.3 0.5 1.0; none: skip)')
    parser.add_argument('--salt-pepper-p', type=float, nargs='*', default=list(SALT_PEPPER_P),
                        help='salt-and-pepper pixel fractions (default: 0.1 0.2 0.3; none: skip)')
    parser.add_argument('--seed', type=int, default=0, help='noise seed (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--verbose', action='store_true',
                        help="keep the config's log level (default: warnings only)")
    return parser.parse_args(argv)


def settings(gaussian_k, salt_pepper_p):
    """The runs in order: clean, then every Gaussian k, then every salt-and-pepper p."""
    return ([('clean', 0.0)] + [('gaussian', float(k)) for k in gaussian_k]
            + [('salt_pepper', float(p)) for p in salt_pepper_p])


def insert_noise(pipeline, noise, level, seed=0):
    """Return a copy of ``pipeline`` (list of step dicts) with the noise step of (``noise``,
    ``level``) inserted before ``FormatShape``; ``'clean'`` returns an unchanged copy."""
    from mmspike.datasets.transforms.noise import noise_step
    from mmspike.datasets.transforms import format_step_index
    pipeline = [dict(step) for step in pipeline]
    if noise == 'clean':
        return pipeline
    # the noise acts on uint8 video frames, so only before FormatShape (not event frames)
    at = format_step_index(pipeline, 'robustness', formats=('FormatShape', ))
    pipeline.insert(at, noise_step(noise, level, seed))
    return pipeline


def run_cfg(cfg, noise, level, seed, work_dir):
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


def test_once(cfg):
    """``Runner.test`` as in ``tools/test.py``; returns the metrics dict and the number of test
    samples."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    return metrics, len(runner.test_dataloader.dataset)


def metric(metrics, name):
    """Top-k accuracy (``acc/top1``-style key, as a fraction) from a metrics dict; a clear
    error when the config's evaluator has no AccMetric."""
    for key in (f'acc/{name}', name):
        if key in metrics:
            return float(metrics[key])
    raise KeyError(f'the test metrics have no {name!r} accuracy (AccMetric); got '
                   f'{sorted(metrics)}')


def make_rows(results):
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


def format_table(rows):
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


def plot(rows, path, title):
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


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import TRANSFORMS
    from mmengine.utils import mkdir_or_exist

    import mmspike  # noqa: F401  (registers modules, applies compat repairs)
    from mmspike.datasets.synthetic import prepare_embedded_dataset
    from mmspike.datasets.transforms.noise import noise_step

    for path, what in ((args.config, 'config file'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} {path!r} does not exist')
    runs = settings(args.gaussian_k, args.salt_pepper_p)
    for noise, level in runs[1:]:  # bad levels fail here, before any test runs
        TRANSFORMS.build(noise_step(noise, level, args.seed))
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.launcher = 'none'
    if not args.verbose:
        cfg.log_level = 'WARNING'
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = osp.abspath(args.out_dir or osp.join('work_dirs', 'robustness', name))
    mkdir_or_exist(out_dir)
    prepare_embedded_dataset(cfg)

    results, seconds = [], {}
    for noise, level in runs:
        start = time.perf_counter()
        tag = f'{noise}_{level:g}'
        metrics, samples = test_once(
            run_cfg(cfg, noise, level, args.seed, osp.join(out_dir, 'runs', tag)))
        seconds[tag] = round(time.perf_counter() - start, 2)
        results.append((noise, level, metrics))
        print(f'robustness: {noise} {level:g}: top-1 {100 * metric(metrics, "top1"):.2f}%',
              flush=True)

    rows = make_rows(results)
    table = format_table(rows)
    print(f'mmspike robustness ({osp.basename(args.config)}, {osp.basename(args.checkpoint)}, '
          f'seed {args.seed}):\n{table}', flush=True)
    report = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                  seed=args.seed, test_samples=samples, rows=rows, seconds=seconds,
                  gaussian='x + N(0, (k * clip std)^2), clipped to [0, 255]',
                  salt_pepper='fraction p of pixels set to 255 or 0, half each')
    json_path = osp.join(out_dir, 'robustness.json')
    with open(json_path, 'w') as f:
        json.dump(report, f, indent=2)
    png_path = osp.join(out_dir, 'robustness.png')
    plot(rows, png_path, f'{name}: accuracy under input noise')
    print(f'wrote {json_path} and {png_path}', flush=True)
    return rows


if __name__ == '__main__':
    main()
