"""Peak memory and time of one training step under each memory-saving setting, in one run.

    python tools/benchmark_memory.py [--backbone SpikeVideoFormer] [--arch small] [--frames 16]
        [--size 112] [--batch 2] [--steps 3] [--rounds 3] [--no-time] [--device cpu|cuda]
        [--settings none with_cp compress compress+with_cp layer memopt memopt-sj]
    python tools/benchmark_memory.py --config configs/spikevideoformer_pose_mmhpsd.py \
        --size 224 [--settings none with_cp config]
    python tools/benchmark_memory.py --config ... --size 224 --batch 8 --budget 80   # plan

With ``--budget`` (GiB) the tool plans instead: it measures each setting once at batch 1 and
prints the expected step peak and the total with parameters and optimizer state at ``--batch``,
whether that fits the budget, and the largest batch that does
(:func:`mmspike.engine.memory.plan_training_memory`).

Settings (same model, seed and input; mmspike's settings are the backbone's ``memory`` policy):

* ``none``: no checkpointing;
* ``with_cp``: block checkpointing (``memory=dict(checkpoint='block')``, ``with_cp=True``);
* ``compress``: every spike tensor autograd saves for backward kept in 1 bit per spike
  (``memory=dict(compress_spikes=True)``; integer spikes in ``ceil(log2(D + 1))`` bits);
* ``compress+with_cp``: both;
* ``layer``: layer checkpointing with 1-bit spike inputs (``memory=dict(checkpoint='layer')``);
* ``memopt``: spikingjelly 2.0's ``optimize_memory(level=1, compress=True)`` with the backbone's
  blocks as targets (per-module checkpointing, binary inputs in 1 bit);
* ``memopt-sj``: the same on the backbone built with spikingjelly's neuron of the same formulas
  (memopt restores the state of spikingjelly's neurons only: on mmspike's its recomputed spikes
  differ and its gradients are wrong).

Every setting runs in fresh processes: one for memory, one for time.  The memory process runs a
warm-up step, then resets the peak resident set size (``/proc/self/clear_refs``) and reports the
peak of one step over the resident set of the built model and input (so memory a step leaves
behind, e.g. a graph kept alive by a neuron's state, still counts; ``retained`` prints it);
glibc is told to return every freed block of 64 KiB or more at once
(``MALLOC_MMAP_THRESHOLD_=65536``), so that the resident set follows the tensors alive (its own
free lists otherwise hide the peak).  On CUDA the figure is ``torch.cuda.max_memory_allocated``
during the step minus the memory held after building. The time process runs without that setting
(page faults slow every step): the median of ``--steps`` steps after a warm-up; the settings are
timed in ``--rounds`` rounds, one process per setting and round, and the median over rounds is
printed. Loss and
gradients of every setting are compared with ``none``'s. Every setting runs its convolutions on
contiguous maps, as ``with_cp`` does: oneDNN's channels-last convolutions round differently, and
a last-bit difference before a threshold flips spikes, so on different layouts the comparison
would measure the layout rather than the setting.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS = ('none', 'with_cp', 'compress', 'compress+with_cp', 'layer', 'memopt', 'memopt-sj',
            'config')
#: The backbone's memory policy under each of mmspike's settings.
POLICIES = {'none': {}, 'config': None, 'with_cp': dict(checkpoint='block'),
            'compress': dict(compress_spikes=True),
            'compress+with_cp': dict(checkpoint='block', compress_spikes=True),
            'layer': dict(checkpoint='layer'), 'memopt': {}, 'memopt-sj': {}}


def backbone_cfg(args):
    """The backbone config of ``args.setting``: the given config's (``--config``) or
    ``--backbone`` / ``--arch``, at ``--frames`` (and ``--size`` for SVFormer), with the memory
    policy of the setting (``config``: the config's own)."""
    from mmspike.layers.checkpoint import resolve_memory
    cfg = json.loads(args.backbone_cfg) if args.backbone_cfg else dict(type=args.backbone,
                                                                      arch=args.arch)
    cfg.pop('init_cfg', None)  # pretrained weights change nothing measured here
    memory = resolve_memory(cfg['type'], cfg.pop('memory', None), cfg.pop('with_cp', False),
                            cfg.pop('compress_spikes', False))
    cfg['memory'] = memory if args.setting == 'config' else POLICIES[args.setting]
    cfg['num_frames'] = args.frames
    if cfg['type'] == 'SVFormer':
        cfg['img_size'] = args.size
    if args.setting == 'memopt-sj':
        cfg['neuron_cfg'] = spikingjelly_neuron_cfg(cfg['type'])
    return cfg


def build(args):
    import torch
    from mmengine.registry import MODELS

    import mmspike  # noqa: F401
    torch.manual_seed(0)
    model = MODELS.build(backbone_cfg(args))
    model = model.to(torch.device(args.device)).train()
    from mmspike.layers.temporal import SeqToANN
    for module in model.modules():  # every setting on the contiguous maps with_cp runs on
        if isinstance(module, SeqToANN):
            module.channels_last = False
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=args.device)
    if args.setting.startswith('memopt'):
        from spikingjelly.activation_based.memopt import optimize_memory

        from mmspike.backbones import spikevideoformer, svformer
        targets = (spikevideoformer.ConvBlock, spikevideoformer.TransformerBlock,
                   svformer.LFEBlock, svformer.GSABlock)
        model = optimize_memory(model, targets, lambda m: m(x[:1]), level=1, compress=True)
    return model, x


def spikingjelly_neuron_cfg(backbone):
    """spikingjelly's neuron with the formulas of the backbone's default neuron (its own
    multi-step loop), for memopt, which restores the state of spikingjelly neurons only."""
    from spikingjelly.activation_based import neuron, surrogate
    if backbone == 'SpikeVideoFormer':  # mmspike.neurons.LIF_SIGMOID
        return dict(type=neuron.LIFNode, tau=2.0, decay_input=True, v_threshold=1.0,
                    v_reset=0.0, detach_reset=True,
                    surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode='m')
    return dict(type=neuron.ParametricLIFNode, init_tau=2.0, decay_input=True,  # PLIF_ATAN
                v_threshold=1.0, v_reset=0.0, detach_reset=True,
                surrogate_function=surrogate.ATan(alpha=2.0), step_mode='m')


def loss_of(outputs):
    """The mean square of every output map: a loss whose gradient is not zero by construction
    (the sum of a BatchNorm's output, the obvious choice, has zero gradient)."""
    return sum(out.float().pow(2).mean() for out in outputs)


def step(model, x, setting):
    model.zero_grad(set_to_none=True)
    loss = loss_of(model(x))  # the backbone applies its memory policy
    loss.backward()
    return loss


def child(args):
    import torch

    from mmspike.engine.memory import proc_status_kib
    model, x = build(args)
    cuda = torch.device(args.device).type == 'cuda'
    if cuda:
        torch.cuda.synchronize()
        built = torch.cuda.memory_allocated()
    else:
        built = proc_status_kib('VmRSS') * 1024
    step(model, x, args.setting)  # warm-up: lazy initialisation, kernel builds, allocator
    if args.measure == 'time':
        times = []
        for _ in range(args.steps):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            step(model, x, args.setting)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        print(json.dumps(dict(step_s=statistics.median(times))))
        return
    model.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # the peak resident set size (VmHWM) starts again from the current one
        before = proc_status_kib('VmRSS') * 1024
    loss = step(model, x, args.setting)
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = proc_status_kib('VmHWM') * 1024
    # Memory a step leaves behind (e.g. a graph kept alive by a neuron's state) stays counted:
    # the peak is taken over the memory of the built model and input, not over what the
    # warm-up step left.
    retained = before - built
    # in parameter order: memopt wraps modules, which renames the parameters
    grads = [torch.zeros(p.shape) if p.grad is None else p.grad.detach().cpu()
             for p in model.parameters()]
    if args.out:
        torch.save(dict(loss=loss.detach().cpu(), grads=grads), args.out)
    params = [p for p in model.parameters()]
    print(json.dumps(dict(peak_step_bytes=peak - built, retained_bytes=retained,
                          loss=float(loss.detach()),
                          param_bytes=sum(p.numel() * p.element_size() for p in params),
                          grad_bytes=sum(p.numel() * p.element_size() for p in params
                                         if p.requires_grad))))


def run_child(args, setting, measure, out=None):
    cmd = [sys.executable, __file__, '--child', '--setting', setting, '--measure', measure,
           '--backbone', args.backbone, '--arch', args.arch, '--frames', str(args.frames),
           '--backbone-cfg', args.backbone_cfg or '',
           '--size', str(args.size), '--batch', str(args.batch), '--steps', str(args.steps),
           '--device', args.device] + (['--out', out] if out else [])
    env = dict(os.environ)
    if measure == 'memory':
        env.update(MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f'setting {setting!r} ({measure}) failed:\n{result.stderr[-3000:]}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(reference, other):
    """``(bit-identical, largest difference)`` of loss and gradients (in parameter order); a
    gradient difference is relative to the largest gradient of the model (parameters whose
    gradient is zero analytically, e.g. a bias before a BatchNorm, hold rounding noise only)."""
    import torch
    if [g.shape for g in reference['grads']] != [g.shape for g in other['grads']]:
        return False, float('inf')
    identical = torch.equal(reference['loss'], other['loss']) and all(
        torch.equal(a, b) for a, b in zip(reference['grads'], other['grads']))
    scale = max(float(g.abs().max()) for g in reference['grads'] if g.numel()) or 1.0
    worst = max([float((a.double() - b.double()).abs().max()) / scale
                 for a, b in zip(reference['grads'], other['grads']) if a.numel()]
                + [abs(float(reference['loss']) - float(other['loss'])) /
                   max(abs(float(reference['loss'])), 1e-30)])
    return identical, worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backbone', default='SpikeVideoFormer',
                        choices=['SpikeVideoFormer', 'SVFormer'])
    parser.add_argument('--arch', default='small')
    parser.add_argument('--config', help="an mmspike config: its model's backbone (with the "
                        "config's memory policy as the setting 'config') replaces --backbone "
                        'and --arch; --frames defaults to its num_frames')
    parser.add_argument('--frames', type=int, default=None, help='T (default: 16)')
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=3, help='timed steps (median)')
    parser.add_argument('--time', action=argparse.BooleanOptionalAction, default=True,
                        help='also time every setting (--no-time: memory only)')
    parser.add_argument('--rounds', type=int, default=3,
                        help='timing rounds over the settings (the median is printed)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--settings', nargs='+', default=None, choices=SETTINGS,
                        help="default: every setting but 'config' ('none' and 'config' with "
                        '--config); without none no ratio or comparison is printed')
    parser.add_argument('--budget', type=float, default=None,
                        help='plan instead of benchmark: measure each setting at batch 1 and '
                        'print the expected memory at --batch and the largest batch that fits '
                        'this many GiB (parameters, optimizer state and the step)')
    parser.add_argument('--optimizer', default=None, choices=['AdamW', 'Adam', 'SGD', 'none'],
                        help="optimizer state for --budget (default: the config's "
                        "optim_wrapper, else AdamW)")
    parser.add_argument('--backbone-cfg', default='', help=argparse.SUPPRESS)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--setting', default='none', help=argparse.SUPPRESS)
    parser.add_argument('--measure', default='memory', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config and not args.child:
        from mmengine.config import Config
        cfg = Config.fromfile(args.config)
        backbone = cfg.get('model', {}).get('backbone')
        if not backbone or backbone.get('type') not in ('SpikeVideoFormer', 'SVFormer'):
            parser.error(f'{args.config} has no SpikeVideoFormer or SVFormer model.backbone')
        backbone = backbone.to_dict()
        args.backbone_cfg = json.dumps(backbone)
        if args.optimizer is None:
            args.optimizer = cfg.get('optim_wrapper', {}).get('optimizer', {}).get('type')
        args.backbone, args.arch = backbone['type'], str(backbone.get('arch', ''))
        if args.frames is None:
            args.frames = backbone.get('num_frames') or 16
    if args.frames is None:
        args.frames = 16
    if args.settings is None:
        args.settings = (['none', 'config'] if args.config
                         else [s for s in SETTINGS if s != 'config'])
    if 'config' in args.settings and not args.config:
        parser.error("the setting 'config' needs --config")
    for name in ('frames', 'size', 'batch', 'steps', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.child:
        return child(args)
    import torch
    if args.budget is not None:
        return plan(args)
    settings = sorted(set(args.settings), key=args.settings.index)
    if 'none' in settings:  # the reference comes first
        settings = ['none'] + [s for s in settings if s != 'none']
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for setting in settings:
            out = os.path.join(tmp, f'{setting}.pt')
            results[setting] = dict(run_child(args, setting, 'memory', out),
                                    saved=torch.load(out))
            print(f'measured the memory of {setting}', flush=True)
    # Time in rounds over the settings, so that a slower spell of the machine falls on every
    # setting alike; each setting's figure is the median over rounds of its steps' median.
    times = {setting: [] for setting in settings}
    for _ in range(args.rounds if args.time else 0):
        for setting in settings:
            times[setting].append(run_child(args, setting, 'time')['step_s'])
        print(f'timed round {len(times[settings[0]])} of {args.rounds}', flush=True)
    for setting, values in times.items():
        if values:
            results[setting]['step_s'] = statistics.median(values)
    base = results.get('none')
    where = ('peak RSS over the built model' if args.device == 'cpu'
             else 'peak CUDA allocation over the built model')
    timed = (f'; time: median over {args.rounds} rounds of the median of {args.steps} steps'
             if args.time else '')
    print(f'{args.backbone} {args.arch}, T={args.frames}, {args.size}x{args.size}, batch '
          f'{args.batch}, {args.device}: one training step after a warm-up ({where}{timed})')
    print(f'  {"setting":<18} {"peak MiB":>10} {"x none":>7} {"retained":>9} {"step s":>8} '
          f'{"x none":>7} {"same loss and gradients":>26}')

    def ratio(value, key):
        return f'{value / base[key]:>7.3f}' if base is not None and key in base else f'{"-":>7}'

    for setting in settings:
        r = results[setting]
        same = '-'
        if base is not None:
            identical, worst = compare(base['saved'], r['saved'])
            same = 'bit for bit' if identical else f'max diff {worst:.1e}'
            r['same_as_none'] = dict(identical=identical, max_relative_difference=worst)
        step_s, step_ratio = f'{"-":>8}', f'{"-":>7}'
        if 'step_s' in r:
            step_s, step_ratio = f'{r["step_s"]:>8.3f}', ratio(r['step_s'], 'step_s')
        print(f'  {setting:<18} {r["peak_step_bytes"] / 2**20:>10.1f} '
              f'{ratio(r["peak_step_bytes"], "peak_step_bytes")} '
              f'{r["retained_bytes"] / 2**20:>9.1f} {step_s} {step_ratio} {same:>26}')
    for r in results.values():
        r.pop('saved')
    return results


def plan(args):
    """Measure one step of every setting at batch 1 and print the plan for ``--batch`` and
    ``--budget`` (:func:`mmspike.engine.memory.plan_training_memory`)."""
    import copy

    from mmspike.engine.memory import OPTIMIZER_STATE_FACTORS, plan_training_memory
    optimizer = args.optimizer or 'AdamW'
    optimizer = None if optimizer == 'none' else optimizer
    if optimizer not in OPTIMIZER_STATE_FACTORS:
        optimizer = 'AdamW'
        print(f'optimizer {args.optimizer!r} has no known state size: planned as AdamW')
    one = copy.copy(args)
    one.batch = 1
    gib = 2 ** 30
    rows = []
    for setting in args.settings:
        measured = run_child(one, setting, 'memory')
        rows.append((setting, measured, plan_training_memory(
            measured['peak_step_bytes'], measured['grad_bytes'], measured['param_bytes'],
            args.batch, args.budget * gib, optimizer)))
        print(f'measured {setting}', flush=True)
    state = f'{optimizer} state' if optimizer else 'no optimizer state'
    print(f'{args.backbone} {args.arch}, T={args.frames}, {args.size}x{args.size}, '
          f'{args.device}: calibrated by one step at batch 1; total = parameters + {state} + '
          f'step; budget {args.budget:g} GiB')
    print(f'  {"setting":<18} {"step@1 GiB":>10} {"per clip":>9} {f"step@{args.batch}":>9} '
          f'{f"total@{args.batch}":>10} {"fits":>5} {"largest batch":>14}')
    for setting, measured, planned in rows:
        fits = 'yes' if planned['total_bytes'] <= args.budget * gib else 'no'
        print(f'  {setting:<18} {measured["peak_step_bytes"] / gib:>10.2f} '
              f'{planned["per_clip_bytes"] / gib:>9.2f} {planned["step_bytes"] / gib:>9.2f} '
              f'{planned["total_bytes"] / gib:>10.2f} {fits:>5} {planned["largest_batch"]:>14}')
    return rows


if __name__ == '__main__':
    main()
