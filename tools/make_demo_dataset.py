"""Write the embedded demo datasets of mmspike's configs
(:func:`mmspike.datasets.synthetic.prepare_embedded_dataset`, one per config).

    python tools/make_demo_dataset.py [CONFIG ...] [--cfg-options key=value ...] [--dry-run]
    mim run mmspike make_demo_dataset [CONFIG ...]          # the same, from an installed mmspike

Without CONFIG: the dataset of every shipped demo config (``*_demo*.py`` with an
``embedded_dataset``): motion clips, motion events, pose clips and segmentation clips, about two
minutes on two CPU cores.  CONFIG is a config file or the name of a shipped config
(``svformer_demo.py``).  The datasets are written where the configs' ``embedded_dataset.root``
points, relative to the current directory (``data/motion_clips``, ...), which is where the
configs' ``data_root`` looks when training runs from the same directory.  A dataset already there
with the same parameters is kept.  ``--cfg-options embedded_dataset.train_per_class=40
embedded_dataset.root=data/small`` writes one of another size or elsewhere.
"""
import argparse
import glob
import os
import os.path as osp
import sys
import time

#: the configs that ship with mmspike: ``configs/`` beside ``tools/`` in the repository, and
#: ``.mim/configs`` beside ``.mim/tools`` in an installed package
SHIPPED_CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Write the embedded datasets of mmspike\'s demo configs under the current '
        'directory')
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='config files or names of shipped configs (default: every shipped '
                        'demo config with an embedded dataset)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. embedded_dataset.train_per_class=40')
    parser.add_argument('--dry-run', action='store_true',
                        help='list the datasets and the configs they serve, write nothing')
    return parser.parse_args(argv)


def shipped_config_names():
    return sorted(osp.basename(p) for p in glob.glob(osp.join(SHIPPED_CONFIGS, '*.py')))


def resolve_config(name):
    """A config file path, or the path of the shipped config ``name`` (``.py`` optional)."""
    if osp.isfile(name):
        return name
    shipped = osp.join(SHIPPED_CONFIGS, name if name.endswith('.py') else f'{name}.py')
    if osp.isfile(shipped):
        return shipped
    raise ValueError(f'config {name!r} is neither a file nor a shipped config; shipped configs '
                     f'({SHIPPED_CONFIGS}): {", ".join(shipped_config_names())}')


def default_configs():
    configs = sorted(glob.glob(osp.join(SHIPPED_CONFIGS, '*_demo*.py')))
    if not configs:
        raise ValueError(f'no demo config (*_demo*.py) in {SHIPPED_CONFIGS}')
    return configs


def collect_datasets(config_paths, cfg_options=None):
    """``[(root, spec, [config names])]``: the ``embedded_dataset`` of each config, one entry
    per dataset directory.  Two configs that ask for different datasets in the same directory
    are refused (the second would replace the first)."""
    from mmengine.config import Config
    datasets = {}
    for path in config_paths:
        cfg = Config.fromfile(path, import_custom_modules=False)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        spec = cfg.get('embedded_dataset', None)
        name = osp.basename(path)
        if not spec:
            raise ValueError(f'{name} has no embedded_dataset: its data (data_root='
                             f'{cfg.get("data_root", None)!r}) is not generated')
        spec = spec.to_dict()
        root = osp.normpath(spec['root'])
        if root in datasets and datasets[root][1] != spec:
            raise ValueError(f'{name} and {datasets[root][2][0]} ask for different datasets in '
                             f'{root!r}: {spec} vs {datasets[root][1]}; run them one at a time '
                             f'or give one another embedded_dataset.root')
        datasets.setdefault(root, (root, spec, []))[2].append(name)
    return list(datasets.values())


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    from mmspike.engine import compat
    compat.apply()  # a user config may inherit ``mmspike::...``
    try:
        paths = [resolve_config(c) for c in args.configs] or default_configs()
        datasets = collect_datasets(paths, args.cfg_options)
    except (ValueError, FileNotFoundError, OSError) as error:
        sys.exit(f'make_demo_dataset: {error}')
    print(f'make_demo_dataset: {len(datasets)} dataset(s) for {len(paths)} config(s), under '
          f'{os.getcwd()}', flush=True)
    started = time.perf_counter()
    for index, (root, spec, names) in enumerate(datasets, 1):
        generator = spec.get('generator', 'motion_clips')
        print(f'[{index}/{len(datasets)}] {root} ({generator}) for {", ".join(names)}', flush=True)
        if args.dry_run:
            continue
        try:
            prepare_embedded_dataset(Config(dict(embedded_dataset=spec)))
        except (ValueError, TypeError, FileExistsError, OSError) as error:
            sys.exit(f'make_demo_dataset: {root} ({generator}, for {", ".join(names)}): {error}')
    if not args.dry_run:
        print(f'make_demo_dataset: done in {time.perf_counter() - started:.1f} s: '
              f'{", ".join(root for root, _, _ in datasets)}', flush=True)


if __name__ == '__main__':
    main()
