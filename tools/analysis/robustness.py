"""Accuracy of a trained action-recognition model under test-time input noise (SVFormer's test).

    python tools/analysis/robustness.py CONFIG CHECKPOINT [--out-dir DIR]
        [--gaussian-k 0.1 0.3 0.5 1.0] [--salt-pepper-p 0.1 0.2 0.3] [--seed 0]
        [--cfg-options key=value ...]

The command line of :mod:`mmspike.apis.robustness`.  Tests the checkpoint on the config's test
set once clean and once per noise level, each with a noise transform inserted into the test
pipeline just before ``FormatShape``: ``GaussianNoise(k)`` (adds N(0, (k x clip std)^2) to the
decoded frames) and ``SaltPepperNoise(p)`` (a fraction p of the pixels set to 255 or 0), both
from :mod:`mmspike.datasets.transforms.noise`.  The noise is seeded per sample (``--seed`` and
the sample index), so a rerun gives the same table.  Every run is mmengine's ``Runner.test`` as in
``tools/test.py`` (same config, checkpoint loading and metrics).

Prints a table (noise, level, top-1, top-5, drop of top-1 vs clean in points) and writes
``robustness.json`` and ``robustness.png`` (top-1 against noise level, one line per noise type,
the clean accuracy as a dashed reference) to ``--out-dir`` (default
``work_dirs/robustness/<config name>``); the runs' logs go to ``--out-dir/runs``.
"""
import argparse
import json
import os.path as osp

from mmengine.config import DictAction

from mmspike.apis import robustness
from mmspike.apis.model import load_config


def parse_args(argv=None):
    """Command-line arguments (``argv`` None: ``sys.argv``)."""
    parser = argparse.ArgumentParser(description='Accuracy under test-time input noise')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', help='default: work_dirs/robustness/<config name>')
    parser.add_argument('--gaussian-k', type=float, nargs='*',
                        default=list(robustness.GAUSSIAN_K),
                        help='Gaussian noise std in multiples of the clip std '
                        '(default: 0.1 0.3 0.5 1.0; none: skip)')
    parser.add_argument('--salt-pepper-p', type=float, nargs='*',
                        default=list(robustness.SALT_PEPPER_P),
                        help='salt-and-pepper pixel fractions (default: 0.1 0.2 0.3; none: skip)')
    parser.add_argument('--seed', type=int, default=0, help='noise seed (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=8')
    parser.add_argument('--verbose', action='store_true',
                        help="keep the config's log level (default: warnings only)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.utils import mkdir_or_exist

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    from mmspike.engine import compat

    compat.apply()
    for path, what in ((args.config, 'config file'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} {path!r} does not exist')
    runs = robustness.settings(args.gaussian_k, args.salt_pepper_p)
    robustness.check_levels(runs, args.seed)  # bad levels fail here, before any test runs
    cfg = load_config(args.config, args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.launcher = 'none'
    if not args.verbose:
        cfg.log_level = 'WARNING'
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = osp.abspath(args.out_dir or osp.join('work_dirs', 'robustness', name))
    mkdir_or_exist(out_dir)
    prepare_embedded_dataset(cfg)

    results, seconds, samples = [], {}, None
    for noise, level, metrics, samples, spent in robustness.run_all(
            cfg, runs, args.seed, osp.join(out_dir, 'runs')):
        seconds[f'{noise}_{level:g}'] = round(spent, 2)
        results.append((noise, level, metrics))
        print(f'robustness: {noise} {level:g}: top-1 '
              f'{100 * robustness.metric(metrics, "top1"):.2f}%', flush=True)

    rows = robustness.make_rows(results)
    table = robustness.format_table(rows)
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
    robustness.plot(rows, png_path, f'{name}: accuracy under input noise')
    print(f'wrote {json_path} and {png_path}', flush=True)
    return rows


if __name__ == '__main__':
    main()
