"""The cost of the run check against one training epoch, both measured in one run.

    python tools/benchmark_run_check.py [CONFIG] [--mode full|quick|auto] [--work-dir DIR]

CONFIG defaults to ``configs/svformer_demo.py``; its embedded dataset is written first if it is
not there.  The train, val and test datasets are built as the Runner builds them, and the file
check of :mod:`mmspike.engine.run_checks` (:func:`find_bad_entries`, ``--mode``, default
``full``: every frame of every video decoded) runs on each and is timed.  Then one training
epoch runs with the same config (validation, checkpoints and the run check off), timed from the
first to the last iteration's end.  Prints both times and their ratio.
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'svformer_demo.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--mode', choices=['full', 'quick', 'auto'], default='full',
                        help='the run check mode to time (default: full)')
    parser.add_argument('--work-dir', help='for the epoch\'s logs (default: a temporary folder)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    from mmspike.engine import compat
    from mmspike.engine.run_checks import find_bad_entries, leaf_datasets
    compat.apply()
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir or tempfile.mkdtemp(prefix='benchmark_run_check_')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.pop('val_interval', None)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    prepare_embedded_dataset(cfg)
    full_cfg = Config.fromfile(args.config)  # the splits' loaders, before val is switched off

    class EpochTimer(Hook):
        priority = 'HIGHEST'

        def before_train_epoch(self, runner):
            self.start = time.perf_counter()

        def after_train_epoch(self, runner):
            self.seconds = time.perf_counter() - self.start

    runner = Runner.from_cfg(cfg)
    check_s, entries = 0.0, 0
    for split in ('train', 'val', 'test'):
        loader_cfg = full_cfg.get(f'{split}_dataloader', None)
        if not loader_cfg:
            continue
        loader_cfg = dict(loader_cfg, num_workers=0, persistent_workers=False)
        dataset = runner.build_dataloader(loader_cfg).dataset
        for leaf in leaf_datasets(dataset):
            start = time.perf_counter()
            bad, checked, mode = find_bad_entries(leaf, args.mode)
            seconds = time.perf_counter() - start
            check_s += seconds
            entries += checked
            print(f'run check ({mode}) {split}: {checked} entries, {len(bad)} bad, '
                  f'{seconds:.2f} s', flush=True)
    timer = EpochTimer()
    runner.register_hook(timer)
    runner.train()
    epoch_s = timer.seconds
    print(f'run check ({args.mode}) of {entries} entries: {check_s:.2f} s; one training epoch: '
          f'{epoch_s:.2f} s; check / epoch = {check_s / epoch_s:.3f}')
    return dict(check_s=check_s, epoch_s=epoch_s, entries=entries)


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
