"""Per-layer energy of a model built from a config: MACs, ACs, input rates, mJ per clip.

    python tools/analysis/energy.py CONFIG [CHECKPOINT] [--video FILE] [--num-clips N]
        [--out-dir DIR] [--preset fp32|fp16|int8] [--e-mac PJ] [--e-ac PJ]
        [--count-elementwise] [--no-flops] [--cfg-options key=value ...]

Works for any task config (MMAction2, MMPose, MMSegmentation): the model is built in the
config's ``default_scope`` with its ``custom_imports``, and every sample goes through
``model.test_step`` with the config's own test pipeline.

Inputs: ``--video FILE`` runs that file through the test pipeline of a config whose pipeline
reads a video from ``filename`` (MMAction2's ``DecordInit``/``PyAVInit``); otherwise the first
``--num-clips`` samples of the config's test set are used (the embedded dataset is generated if the
config names one).  Without a checkpoint the model keeps its initial weights ("untrained").
Every clip goes through ``model.test_step`` exactly as in ``tools/test.py`` (all test views), so
the numbers are per clip as tested.  Writes ``energy_layers.csv``, ``energy_summary.json`` and
``energy_layers.png`` to ``--out-dir`` (default ``work_dirs/energy/<config name>``).  For clip
models (one ``[C, T, H, W]`` clip per sample: pose, segmentation) the energy per frame is printed
too.  Integer spikes (I-LIF) are counted as their value in binary spikes (the paper's D binary
steps), read from the model's neurons.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Per-layer energy of a (spiking) model')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='trained weights (default: the untrained, initialised model)')
    parser.add_argument('--video', help='a video file to run through the test pipeline')
    parser.add_argument('--num-clips', type=int, default=8,
                        help='clips of the test set to average over (default 8)')
    parser.add_argument('--out-dir', help='default: work_dirs/energy/<config name>')
    parser.add_argument('--preset', default='fp32', help='fp32 (default), fp16 or int8')
    parser.add_argument('--e-mac', type=float, help='pJ per MAC (overrides the preset)')
    parser.add_argument('--e-ac', type=float, help='pJ per AC (overrides the preset)')
    parser.add_argument('--count-elementwise', action='store_true',
                        help='also count normalisation and element-wise operations')
    parser.add_argument('--no-flops', action='store_true',
                        help="skip the ANN-equivalent FLOPs of mmengine's FlopAnalyzer")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def build_model(cfg, checkpoint):
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint
    scope = cfg.get('default_scope', None)
    if scope is not None:
        init_default_scope(scope)
    model = MODELS.build(cfg.model)
    if hasattr(model, 'init_weights'):
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs one paragraph per parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.eval()


def video_batches(cfg, video):
    from mmengine.dataset import Compose, pseudo_collate
    if not osp.isfile(video):
        raise FileNotFoundError(f'video {video!r} does not exist')
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    try:
        data = pipeline(dict(filename=video, label=-1, start_index=0, modality='RGB'))
    except (KeyError, TypeError) as error:
        raise ValueError(f'--video: the test pipeline of this config does not read a video from '
                         f'"filename" ({type(error).__name__}: {error}); use the test set '
                         f'(--num-clips) instead') from error
    yield pseudo_collate([data]), f'video {video}'


def test_set_batches(cfg, num_clips):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    prepare_embedded_dataset(cfg)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    if len(dataset) == 0:
        raise ValueError('the config\'s test set is empty; pass --video FILE')
    count = min(num_clips, len(dataset))
    for index in range(count):
        yield pseudo_collate([dataset[index]]), f'test set clip {index + 1}/{count}'


def ann_flops(model, batch):
    """ANN-equivalent FLOPs (one per multiply-add) of one view through backbone and head, by
    mmengine's FlopAnalyzer (a jit trace)."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    class TensorMode(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inputs):
            return self.inner(inputs, mode='tensor')

    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    one_view = inputs[:1]
    if one_view.dim() == 6:  # MMAction2: (N, views, C, T, H, W) -> one view
        one_view = one_view[:, :1]
    analyzer = FlopAnalyzer(TensorMode(model), (one_view, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total()


def plot_layers(rows, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.2 * max(1, len(rows))))
    names = [r['name'] for r in rows]
    mac_mj = [r['macs'] * r['e_mac_pj'] / 1e9 for r in rows]
    ac_mj = [r['acs'] * r['e_ac_pj'] / 1e9 for r in rows]
    ax.barh(range(len(rows)), mac_mj, color='tab:red', label='MAC (real-valued input)')
    ax.barh(range(len(rows)), ac_mj, left=mac_mj, color='tab:blue', label='AC (spike input)')
    ax.set_yticks(range(len(rows)), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel('mJ per clip')
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    import mmspike  # noqa: F401  (registers modules)
    from mmspike.energy import EnergyCounter, reset_spiking_states

    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    if args.num_clips < 1:
        raise ValueError(f'--num-clips must be >= 1, got {args.num_clips}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', 'energy', name)
    os.makedirs(out_dir, exist_ok=True)
    model = build_model(cfg, args.checkpoint)
    batches = video_batches(cfg, args.video) if args.video else \
        test_set_batches(cfg, args.num_clips)

    counter = EnergyCounter(model, args.e_mac, args.e_ac, args.preset,
                            count_elementwise=args.count_elementwise)
    clips, views, first_batch, shape = 0, 0, None, None
    for batch, label in batches:
        reset_spiking_states(model)
        with torch.no_grad(), counter:
            model.test_step(batch)
        clips += 1
        first_batch = first_batch or batch
        shape = tuple(batch['inputs'][0].shape)
        views += shape[0] if len(shape) == 5 else 1  # (views, C, T, H, W) from FormatShape
        print(f'counted {label}: input {shape}', flush=True)
    report = counter.report()
    per_clip = {k: getattr(report, k) / clips for k in ('mac', 'ac', 'dense_mac', 'energy_mj',
                                                         'mac_energy_mj', 'ac_energy_mj')}
    rows = []
    for row in report.layers:
        data = row.as_dict()
        for key in ('dense_macs', 'macs', 'acs', 'energy_mj'):
            data[key] = data[key] / clips
        data.update(e_mac_pj=report.e_mac_pj, e_ac_pj=report.e_ac_pj)
        rows.append(data)
    for row in report.layers:  # the printed table is per clip as well
        row.dense_macs, row.macs, row.acs = (row.dense_macs // clips, row.macs // clips,
                                             row.acs // clips)
        row.energy_mj /= clips
    report.mac, report.ac, report.dense_mac = (int(per_clip['mac']), int(per_clip['ac']),
                                               int(per_clip['dense_mac']))
    report.energy_mj = per_clip['energy_mj']
    print(report.table())

    flops = None
    if not args.no_flops:
        try:
            flops = ann_flops(model, first_batch)
        except Exception as error:  # tracing can fail on exotic models: report, do not hide
            print(f'FlopAnalyzer failed ({type(error).__name__}: {error}); --no-flops skips it')
    weights = args.checkpoint or 'untrained (initial weights)'
    summary = dict(config=args.config, checkpoint=weights, clips=clips, input_shape=shape,
                   inputs=args.video or 'test set', e_mac_pj=report.e_mac_pj,
                   e_ac_pj=report.e_ac_pj, count_elementwise=args.count_elementwise,
                   mac_per_clip=per_clip['mac'], ac_per_clip=per_clip['ac'],
                   dense_mac_per_clip=per_clip['dense_mac'],
                   energy_mj_per_clip=per_clip['energy_mj'],
                   mac_energy_mj_per_clip=per_clip['mac_energy_mj'],
                   ac_energy_mj_per_clip=per_clip['ac_energy_mj'],
                   views_per_clip=views / clips,
                   energy_mj_per_view=report.energy_mj * clips / views,
                   firing_rate=report.firing_rate, ann_flops_per_view=flops)
    if len(shape) == 4:  # one clip [C, T, H, W] per sample (pose, segmentation): T frames
        summary['frames_per_clip'] = shape[1]
        summary['energy_mj_per_frame'] = per_clip['energy_mj'] / shape[1]
    csv_path = osp.join(out_dir, 'energy_layers.csv')
    columns = ['name', 'type', 'calls', 'dense_macs', 'input_rate', 'spike_input', 'macs', 'acs',
               'energy_mj']
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    with open(osp.join(out_dir, 'energy_summary.json'), 'w') as f:
        json.dump(dict(summary, layers=rows), f, indent=2)
    png = osp.join(out_dir, 'energy_layers.png')
    plot_layers(rows, png, f'{name}: {per_clip["energy_mj"]:.4f} mJ per clip ({weights})')
    flops_text = f', ANN-equivalent {flops / 1e9:.2f} GFLOPs per view (FlopAnalyzer)' \
        if flops else ''
    print(f'energy per clip: {per_clip["energy_mj"]:.4f} mJ = {per_clip["mac"] / 1e9:.3f} G MAC '
          f'x {report.e_mac_pj} pJ + {per_clip["ac"] / 1e9:.3f} G AC x {report.e_ac_pj} pJ; '
          f'dense {per_clip["dense_mac"] / 1e9:.3f} G MAC{flops_text}; firing rate '
          f'{report.firing_rate:.4f}; input {shape}; weights: {weights}')
    if 'energy_mj_per_frame' in summary:
        print(f'{summary["energy_mj_per_frame"]:.4f} mJ per frame ({shape[1]} frames per clip)')
    if views != clips:
        print(f'each clip is tested as {views / clips:g} views (clips x crops): '
              f'{summary["energy_mj_per_view"]:.4f} mJ per view')
    print(f'wrote {csv_path}, {png}, {osp.join(out_dir, "energy_summary.json")}')
    return summary


if __name__ == '__main__':
    main()
