"""Per-layer energy of a model built from a config: MACs, ACs, input rates, mJ per clip under
every model of the hardware, beside the ANN and QNN baselines.

    python tools/analysis/energy.py CONFIG [CHECKPOINT] [--video FILE] [--num-clips N]
        [--energy-model compute|memory|lemaire] [--e-memory PJ_PER_BYTE] [--qnn-bits B]
        [--out-dir DIR] [--preset fp32|fp16|int8] [--e-mac PJ] [--e-ac PJ]
        [--count-elementwise] [--no-flops] [--cfg-options key=value ...]

Prints the per-layer table under ``--energy-model`` (default ``compute``, the papers'
convention; compute and memory parts, the QNN's energy, ``<`` where the spiking layer uses more)
and one line per model (``compute``, ``memory``, ``lemaire``): mJ per clip and per frame, its
compute and memory parts, the ANN and QNN baselines and their ratios to the spiking network.

The command line of :mod:`mmspike.apis.energy_analysis`.  Works for any task config
(MMAction2, MMPose, MMSegmentation): the model is built by :func:`mmspike.apis.init_model` (the
config's ``default_scope`` and ``custom_imports``), and every sample goes through
``model.test_step`` with the config's own test pipeline.

Inputs: ``--video FILE`` runs that file through the test pipeline of a config whose pipeline
reads a video from ``filename`` (MMAction2's ``DecordInit``/``PyAVInit``); otherwise the first
``--num-clips`` samples of the config's test set are used (the embedded dataset is generated if the
config names one).  Without a checkpoint the model keeps its initial weights ("untrained").
Every clip goes through ``model.test_step`` exactly as in ``tools/test.py`` (all test views), so
the numbers are per clip as tested.  Writes ``energy_layers.csv``, ``energy_summary.json`` and
``energy_layers.png`` (compute and memory stacked per layer, the QNN marked) to ``--out-dir``
(default ``work_dirs/energy/<config name>``).  For clip models (one ``[C, T, H, W]`` clip per
sample: pose, segmentation) the energy per frame is the energy per clip over T; for MMAction2's
``(views, C, T, H, W)`` samples it is over views x T (the frames the model ran on).  Integer
spikes (I-LIF) are counted as their value in binary spikes (the paper's D binary steps), read
from the model's neurons.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import DictAction

from mmspike.apis import init_model, load_config
from mmspike.apis.energy_analysis import (ann_flops, count_energy, models_table, plot_layers,
                                          test_set_batches, video_batches, write_layers_csv)
from mmspike.energy import ENERGY_MODELS, EnergyCosts, EnergyCounter


def parse_args(argv=None):
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
                        help="also count normalisation and element-wise operations in the "
                             "'compute' model")
    parser.add_argument('--energy-model', default='compute', choices=ENERGY_MODELS,
                        help="the model of the per-layer table, plot and headline figure: "
                             "'compute' (default; arithmetic only, the papers' convention), "
                             "'memory' (plus data movement), 'lemaire' (Lemaire et al. 2022)")
    parser.add_argument('--e-memory', type=float, default=EnergyCosts.e_memory_pj_per_byte,
                        help="pJ per byte moved in the 'memory' model (default "
                             f"{EnergyCosts.e_memory_pj_per_byte})")
    parser.add_argument('--qnn-bits', type=int,
                        help='activation bits of the QNN baseline (default: 1 for binary '
                             'neurons, ceil(log2(D + 1)) for integer ones)')
    parser.add_argument('--no-flops', action='store_true',
                        help="skip the ANN-equivalent FLOPs of mmengine's FlopAnalyzer")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.num_clips < 1:
        raise ValueError(f'--num-clips must be >= 1, got {args.num_clips}')
    cfg = load_config(args.config, args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', 'energy', name)
    model = init_model(cfg, args.checkpoint)
    os.makedirs(out_dir, exist_ok=True)
    batches = video_batches(cfg, args.video) if args.video else \
        test_set_batches(cfg, args.num_clips)

    counter = EnergyCounter(model, args.e_mac, args.e_ac, args.preset,
                            count_elementwise=args.count_elementwise,
                            energy_model=args.energy_model,
                            costs=EnergyCosts(e_memory_pj_per_byte=args.e_memory),
                            qnn_bits=args.qnn_bits)
    counted = count_energy(model, batches, counter, on_batch=lambda label, shape: print(
        f'counted {label}: input {shape}', flush=True))
    report, per_clip, rows = counted['report'], counted['per_clip'], counted['rows']
    clips, views, shape = counted['clips'], counted['views'], counted['input_shape']
    # frames the model ran on per clip: T of one clip [C, T, H, W] (pose, segmentation), views
    # x T of MMAction2's (views, C, T, H, W)
    frames = shape[1] if len(shape) == 4 else shape[0] * shape[2] if len(shape) == 5 else None
    print(report.table())
    print(models_table(report, frames))

    flops = None
    if not args.no_flops:
        try:
            flops = ann_flops(model, counted['first_batch'])
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
                   firing_rate=report.firing_rate, ann_flops_per_view=flops,
                   energy_model=args.energy_model, e_memory_pj_per_byte=args.e_memory,
                   qnn_bits=report.qnn_bits, models_per_clip=report.summary())
    if frames:
        summary['frames_per_clip'] = frames
        summary['energy_mj_per_frame'] = per_clip['energy_mj'] / frames
    csv_path = osp.join(out_dir, 'energy_layers.csv')
    write_layers_csv(rows, csv_path)
    with open(osp.join(out_dir, 'energy_summary.json'), 'w') as f:
        json.dump(dict(summary, layers=rows), f, indent=2)
    png = osp.join(out_dir, 'energy_layers.png')
    ratios = report.ratios()
    plot_layers(rows, png, f'{name}: {per_clip["energy_mj"]:.4f} mJ per clip, '
                f'{args.energy_model} model; ANN x{ratios["ann"]:.2f}, QNN x{ratios["qnn"]:.2f} '
                f'({weights})', args.energy_model)
    flops_text = f', ANN-equivalent {flops / 1e9:.2f} GFLOPs per view (FlopAnalyzer)' \
        if flops else ''
    print(f'compute model per clip: {report.total_mj("compute"):.4f} mJ = '
          f'{per_clip["mac"] / 1e9:.3f} G MAC x {report.e_mac_pj} pJ + '
          f'{per_clip["ac"] / 1e9:.3f} G AC x {report.e_ac_pj} pJ; '
          f'dense {per_clip["dense_mac"] / 1e9:.3f} G MAC{flops_text}; '
          f'firing rate {report.firing_rate:.4f}; input {shape}; weights: {weights}')
    print(f'{args.energy_model} model: {per_clip["energy_mj"]:.4f} mJ per clip'
          + (f', {summary["energy_mj_per_frame"]:.5f} mJ per frame ({frames} frames per clip)'
             if frames else ''))
    if views != clips:
        print(f'each clip is tested as {views / clips:g} views (clips x crops): '
              f'{summary["energy_mj_per_view"]:.4f} mJ per view')
    print(f'wrote {csv_path}, {png}, {osp.join(out_dir, "energy_summary.json")}')
    return summary


if __name__ == '__main__':
    main()
