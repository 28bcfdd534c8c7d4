"""Speed and memory of the fused neurons and of training steps, as ratios measured in one run.

    python tools/benchmark.py neurons [--shape 16 8 256 14 14] [--kinds LIF PLIF ILIF]
                                      [--repeats 20] [--json OUT]
    python tools/benchmark.py steps [--model svf_small|svformer_base|pose_demo ...]
                                    [--frames 8 16 32] [--batch N] [--size S] [--memory]
                                    [--variants fused/channels_last ...] [--repeats 3]
                                    [--json OUT]

``neurons``: forward + backward of one multi-step neuron layer on a float32 ``[T, B, ...]``
input: mmspike's fused neurons (compiled CPU kernel), the reference loop
(``backend='reference'``) and spikingjelly 2.0's ``LIFNode`` / ``ParametricLIFNode``
(``step_mode='m', detach_reset=True``, torch backend).  Latency is the mean over ``--repeats``
runs after 3 warm-up runs; the peak memory is that of one forward + backward in a fresh
subprocess, after one warm-up step there (growth of the peak resident set, glibc told to return
freed blocks, as in tools/benchmark_memory.py).  Spikes and input gradients are checked against
spikingjelly.

``steps``: one training step (forward, loss, backward, AdamW step) of a backbone with the
reference neurons and with the fused ones, with contiguous and with channels-last maps
(``SeqToANN.channels_last``), every variant from the same weights and input.  The loss is
the mean of each output map times a fixed random map of its shape, summed over the outputs (a
plain mean of BatchNorm-normalised maps is about 0 and would hide any difference).  Prints
latency, the ratio to reference + contiguous, the first step's loss and the largest
difference of its loss and parameter gradients (relative to the largest gradient) from the
reference neurons with the same layout.  Between layouts float32 results differ: convolution
and BatchNorm sum in another order, a rounding difference flips a spike here and there and the
flips spread through the network (in float64 both layouts agree to 1e-14, see
tests/ops/test_neuron_kernels.py).  Forward latency (eval mode, no grad), clips per second, the
energy per clip (tools/analysis/energy.py's count on this input with the initial weights: it
follows the firing rates, which training changes) and, with ``--memory``, the peak memory of a
training step (fresh subprocess, as for the neurons) are printed too; with several ``--frames``,
latency(longest T) / latency(shortest T) per variant.

All variants run in one process (steps) or one after another (neurons), so the ratios are
comparable; absolute times depend on the machine and on what else runs on it.

GPU section: when CUDA is present (and without ``--no-gpu``) both modes run again on the GPU
after the CPU table, with the same inputs, ``torch.cuda.synchronize`` around every timing and
the peak memory from ``torch.cuda.max_memory_allocated`` (the fused neurons then use their
Triton kernels).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmspike.engine.memory import proc_status_kib

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

MODELS = {
    # name: (backbone config, default (batch, T, H = W)); num_frames (and SVFormer's img_size)
    # are set from T and the size
    'svf_small': (dict(type='SpikeVideoFormer', arch='small'), (2, 16, 112)),
    'svformer_base': (dict(type='SVFormer', arch='base'), (2, 16, 224)),
    # a config path: that config's backbone (the pose demo's, as it trains)
    'pose_demo': ('configs/spikevideoformer_pose_demo.py', (8, 8, 64)),
}
NEURON_KINDS = ('LIF', 'PLIF', 'ILIF')


def _build_neuron(kind, impl):
    if impl == 'spikingjelly':
        from spikingjelly.activation_based import neuron, surrogate
        if kind == 'LIF':
            return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0),
                                  detach_reset=True, step_mode='m')
        if kind == 'PLIF':
            return neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=surrogate.ATan(),
                                            detach_reset=True, step_mode='m')
        return None  # spikingjelly has no integer LIF
    from mmspike.neurons import MultiStepILIF, MultiStepLIF, MultiStepPLIF
    backend = 'fused' if impl == 'fused' else 'reference'
    if kind == 'LIF':
        return MultiStepLIF(tau=2.0, surrogate=dict(type='sigmoid', alpha=4.0), backend=backend)
    if kind == 'PLIF':
        return MultiStepPLIF(init_tau=2.0, surrogate=dict(type='atan', alpha=2.0),
                             backend=backend)
    return MultiStepILIF(levels=4, backend=backend)


def _neuron_input(shape):
    import torch
    gen = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=gen) * 1.5 + 0.5, torch.randn(*shape, generator=gen)


def _sync(device):
    if str(device).startswith('cuda'):
        import torch
        torch.cuda.synchronize(device)


def _gpu_peak_mib(device, run):
    """Peak CUDA memory allocated during ``run()`` beyond what was allocated before."""
    import torch
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    run()
    _sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def _neuron_step(neuron, x, grad):
    from mmspike.neurons import reset_neurons
    reset_neurons(neuron)  # mmspike's and spikingjelly's neurons alike
    x = x.detach().requires_grad_(True)
    spikes = neuron(x)
    spikes.backward(grad)
    return spikes, x.grad


def neuron_memory_child(kind, impl, shape):
    """Peak resident-set growth of one forward + backward (run in a fresh process)."""
    neuron = _build_neuron(kind, impl)
    x, grad = _neuron_input(shape)
    # a first step loads what the implementation loads once (spikingjelly's lazy imports and
    # caches, the compiled kernel); only the second step's growth is the step's own memory
    _neuron_step(neuron, x, grad)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = proc_status_kib('VmRSS') * 1024
    _neuron_step(neuron, x, grad)
    peak = proc_status_kib('VmHWM') * 1024
    print(json.dumps(dict(peak_bytes=peak - before)))


def _child_memory(kind, impl, shape):
    cmd = [sys.executable, __file__, 'neuron-memory-child', kind, impl] + [str(s) for s in shape]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_bytes']


def bench_neurons(args, device='cpu'):
    import torch
    from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
    load_cpu_kernels()
    shape = tuple(args.shape)
    on_gpu = device != 'cpu'
    where = (f'GPU {torch.cuda.get_device_name(device)}' if on_gpu else
             f'{torch.get_num_threads()} threads; CPU kernel: {cpu_kernel_status()}')
    print(f'neurons: forward + backward, float32 input {list(shape)}, {where}')
    x, grad = (t.to(device) for t in _neuron_input(shape))
    rows = []
    for kind in args.kinds:
        results = {}
        for impl in ('spikingjelly', 'reference', 'fused'):
            neuron = _build_neuron(kind, impl)
            if neuron is None:
                continue
            neuron = neuron.to(device)
            for _ in range(3):
                spikes, gx = _neuron_step(neuron, x, grad)
            _sync(device)
            start = time.perf_counter()
            for _ in range(args.repeats):
                _neuron_step(neuron, x, grad)
            _sync(device)
            latency = (time.perf_counter() - start) / args.repeats
            peak = (_gpu_peak_mib(device, lambda: _neuron_step(neuron, x, grad)) if on_gpu
                    else _child_memory(kind, impl, shape) / 2**20)
            results[impl] = dict(latency_ms=latency * 1e3, peak_mib=peak,
                                 spikes=spikes.detach(), grad=gx.detach())
        anchor = results.get('spikingjelly', results['reference'])
        anchor_name = 'spikingjelly' if 'spikingjelly' in results else 'reference'
        for impl, r in results.items():
            same = (torch.equal(r['spikes'], anchor['spikes'])
                    and torch.allclose(r['grad'], anchor['grad'], rtol=1e-5, atol=1e-5))
            row = dict(neuron=kind, impl=impl, latency_ms=round(r['latency_ms'], 3),
                       peak_mib=round(r['peak_mib'], 1),
                       speedup_vs=dict(anchor=anchor_name,
                                       ratio=round(anchor['latency_ms'] / r['latency_ms'], 2)),
                       memory_ratio=round(r['peak_mib'] / anchor['peak_mib'], 3),
                       equal_to_anchor=bool(same))
            rows.append(row)
            print(f'  {kind:4s} {impl:12s} {row["latency_ms"]:8.2f} ms  '
                  f'{row["peak_mib"]:8.1f} MiB   x{row["speedup_vs"]["ratio"]:<5} faster, '
                  f'memory x{row["memory_ratio"]:<6} of {anchor_name}; spikes and input '
                  f'gradient {"equal" if same else "DIFFER"}')
    return dict(shape=list(shape), device=str(device), rows=rows)


VARIANTS = ('reference/contiguous', 'reference/channels_last', 'fused/contiguous',
            'fused/channels_last')
OPTIMIZERS = ('adamw', 'adamw-fused')


def _build_backbone(name, frames, size):
    """The named backbone for clips of ``frames`` steps of ``size`` x ``size`` (seed 0)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS as ROOT_MODELS

    import mmspike  # noqa: F401
    cfg = MODELS[name][0]
    if isinstance(cfg, str):
        cfg = Config.fromfile(osp.join(REPO, cfg)).model.backbone.to_dict()
    cfg = dict(cfg, num_frames=frames)
    if cfg['type'] == 'SVFormer':
        cfg['img_size'] = size
    torch.manual_seed(0)
    return ROOT_MODELS.build(cfg)


def _set_variant(model, variant):
    """``'<neurons>/<layout>'``, set through the layers' own options: the neurons' ``backend``,
    :class:`SeqToANN`'s ``channels_last`` and the per-step BatchNorm's ``copy_free`` (the
    contiguous layout also takes its copying ``[B, T*C, ...]`` path, so
    ``reference/contiguous`` is the code without the fused neurons, channels-last maps and the
    copy-free BatchNorm)."""
    from mmspike.layers.temporal import SeqToANN, _TemporalBatchNorm
    from mmspike.neurons import BaseMultiStepNeuron
    backend, layout = variant.split('/')[:2]
    for m in model.modules():
        if isinstance(m, BaseMultiStepNeuron):
            m.backend = backend
        if isinstance(m, SeqToANN):
            m.channels_last = layout == 'channels_last'
        if isinstance(m, _TemporalBatchNorm):
            m.copy_free = layout == 'channels_last'


def _step_inputs(model, batch, frames, size):
    """A fixed input clip and fixed random maps that weight the outputs in the loss."""
    import torch
    from mmspike.neurons import reset_neurons
    x = torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        reset_neurons(model)
        gen = torch.Generator().manual_seed(2)
        projections = [torch.randn(o.shape, generator=gen) for o in model(x)]
    model.load_state_dict(state)
    return x, projections


def _make_step(model, x, projections, optimizer='adamw'):
    """One training step: forward, loss, backward, AdamW; returns (loss, parameter grads).
    ``optimizer``: ``'adamw'`` (torch's default implementation, what an mmengine config with
    ``type='AdamW'`` builds) or ``'adamw-fused'`` (``fused=True``)."""
    import torch
    from mmspike.neurons import reset_neurons
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=optimizer == 'adamw-fused')

    def step():
        model.train()
        reset_neurons(model)
        loss = sum((o.float() * p).mean() for o, p in zip(model(x), projections))
        opt.zero_grad()
        loss.backward()
        grads = [p.grad.clone() if p.grad is not None else None for p in model.parameters()]
        opt.step()
        return loss.item(), grads
    return step


def step_memory_child(name, frames, batch, size, variant, optimizer='adamw'):
    """Peak resident-set growth of one training step (run in a fresh process)."""
    model = _build_backbone(name, frames, size)
    _set_variant(model, variant)
    x, projections = _step_inputs(model, batch, frames, size)
    step = _make_step(model, x, projections, optimizer)
    step()  # allocator caches, optimizer state, the kernel: loaded once, not the step's own
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = proc_status_kib('VmRSS') * 1024
    step()
    print(json.dumps(dict(peak_bytes=proc_status_kib('VmHWM') * 1024 - before)))


def _step_memory(name, frames, batch, size, variant, optimizer):
    cmd = [sys.executable, __file__, 'step-memory-child', name, str(frames), str(batch),
           str(size), variant, optimizer]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_bytes']


def bench_steps(args, device='cpu'):
    import torch

    from mmspike.energy import estimate_energy
    from mmspike.neurons import reset_neurons
    from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
    load_cpu_kernels()
    unknown = {v for v in args.variants if '/'.join(v.split('/')[:2]) not in VARIANTS
               or v.count('/') > 2 or (v.count('/') == 2 and v.split('/')[2] not in OPTIMIZERS)}
    if unknown:
        raise SystemExit(f'unknown --variants {sorted(unknown)}; choose from {VARIANTS}')
    on_gpu = device != 'cpu'
    where = (f'GPU {torch.cuda.get_device_name(device)}' if on_gpu else
             f'{torch.get_num_threads()} threads; CPU kernel: {cpu_kernel_status()}')
    print(f'steps: {where}; step = forward, loss, backward, {args.optimizer}; forward = eval '
          f'mode, no grad')
    out = {}
    for name in args.model:
        default_batch, default_frames, default_size = MODELS[name][1]
        batch = args.batch or default_batch
        size = args.size or default_size
        rows = []
        for frames in args.frames or [default_frames]:
            model = _build_backbone(name, frames, size)
            state = {k: v.clone() for k, v in model.state_dict().items()}
            x, projections = _step_inputs(model, batch, frames, size)
            energy = estimate_energy(model.eval(), x)  # eval: the BatchNorm statistics stay
            model.to(device)
            state = {k: v.to(device) for k, v in state.items()}
            x, projections = x.to(device), [p.to(device) for p in projections]
            reference = {}
            for variant in args.variants:
                model.load_state_dict(state)
                _set_variant(model, variant)
                optimizer = variant.split('/')[2] if variant.count('/') == 2 else args.optimizer
                step = _make_step(model, x, projections, optimizer)
                first_loss, grads = step()
                layout = variant.split('/')[1]
                if variant.startswith('reference') and layout not in reference:
                    reference[layout] = (first_loss, grads)
                _sync(device)
                start = time.perf_counter()
                for _ in range(args.repeats):
                    step()
                _sync(device)
                train_s = (time.perf_counter() - start) / args.repeats
                model.eval()
                with torch.no_grad():
                    reset_neurons(model)
                    model(x)
                    _sync(device)
                    start = time.perf_counter()
                    for _ in range(args.repeats):
                        reset_neurons(model)
                        model(x)
                    _sync(device)
                    forward_s = (time.perf_counter() - start) / args.repeats
                row = dict(model=name, frames=frames, batch=batch, size=size, variant=variant,
                           optimizer=optimizer,
                           train_step_s=train_s, forward_s=forward_s,
                           train_clips_per_s=batch / train_s, forward_clips_per_s=batch / forward_s,
                           energy_mj_per_clip=energy.energy_mj / batch,
                           firing_rate=energy.firing_rate, first_loss=first_loss)
                if layout in reference:
                    ref_loss, ref_grads = reference[layout]
                    scale = max(g.abs().max().item() for g in ref_grads if g is not None)
                    row['loss_diff_vs_reference'] = abs(first_loss - ref_loss)
                    row['grad_diff_vs_reference'] = max(
                        (a - b).abs().max().item()
                        for a, b in zip(grads, ref_grads) if a is not None) / scale
                if on_gpu:
                    row['peak_mib'] = _gpu_peak_mib(device, step)
                elif args.memory:
                    row['peak_mib'] = _step_memory(name, frames, batch, size, variant,
                                                   optimizer) / 2**20
                rows.append(row)
        _print_steps(name, rows, args.variants)
        out[name] = rows
    return out


def _print_steps(name, rows, variants):
    first = rows[0]
    print(f'\n{name}: batch {first["batch"]}, {first["size"]} x {first["size"]}; ratios against '
          f'{variants[0]} at the same T; loss / gradient differences against the reference '
          f'neurons with the same layout (float32; between layouts float32 rounding differs)')
    header = (f'  {"T":>3} {"variant":36s} {"step s":>8} {"x":>6} {"clips/s":>8} '
              f'{"fwd s":>8} {"x":>6} {"clips/s":>8} {"peak MiB":>9} {"mJ/clip":>8} '
              f'{"loss diff":>9} {"grad diff":>9}')
    print(header)
    for row in rows:
        base = next(r for r in rows if r['frames'] == row['frames']
                    and r['variant'] == variants[0])
        row['train_speedup'] = base['train_step_s'] / row['train_step_s']
        row['forward_speedup'] = base['forward_s'] / row['forward_s']
        peak = f'{row["peak_mib"]:9.1f}' if 'peak_mib' in row else f'{"-":>9}'
        loss_diff = row.get('loss_diff_vs_reference')
        grad_diff = row.get('grad_diff_vs_reference')
        print(f'  {row["frames"]:>3} {row["variant"]:36s} {row["train_step_s"]:8.3f} '
              f'{row["train_speedup"]:6.2f} {row["train_clips_per_s"]:8.2f} '
              f'{row["forward_s"]:8.3f} {row["forward_speedup"]:6.2f} '
              f'{row["forward_clips_per_s"]:8.2f} {peak} {row["energy_mj_per_clip"]:8.3f} '
              + (f'{loss_diff:9.1e} {grad_diff:9.1e}' if loss_diff is not None
                 else f'{"-":>9} {"-":>9}'))
    frames = sorted({r['frames'] for r in rows})
    if len(frames) > 1:
        lo, hi = frames[0], frames[-1]
        for variant in variants:
            a = next(r for r in rows if r['frames'] == lo and r['variant'] == variant)
            b = next(r for r in rows if r['frames'] == hi and r['variant'] == variant)
            print(f'  {variant:36s} latency(T={hi}) / latency(T={lo}): step '
                  f'{b["train_step_s"] / a["train_step_s"]:.2f}, forward '
                  f'{b["forward_s"] / a["forward_s"]:.2f} (T ratio {hi / lo:g})')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == 'neuron-memory-child':
        return neuron_memory_child(argv[1], argv[2], tuple(int(s) for s in argv[3:]))
    if argv and argv[0] == 'step-memory-child':
        return step_memory_child(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5],
                                 argv[6])
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='what', required=True)
    p_neurons = sub.add_parser('neurons', help='fused vs reference vs spikingjelly neurons')
    p_neurons.add_argument('--shape', type=int, nargs='+', default=[16, 8, 256, 14, 14])
    p_neurons.add_argument('--kinds', nargs='+', default=list(NEURON_KINDS),
                           choices=NEURON_KINDS)
    p_neurons.add_argument('--repeats', type=int, default=20)
    p_neurons.add_argument('--json', help='write the results here')
    p_steps = sub.add_parser('steps', help='training steps, reference vs fused neurons')
    p_steps.add_argument('--model', nargs='+', default=['svf_small'], choices=sorted(MODELS))
    p_steps.add_argument('--frames', type=int, nargs='+',
                         help='clip lengths T (default: the model\'s, see MODELS)')
    p_steps.add_argument('--batch', type=int, help='clips per step (default: the model\'s)')
    p_steps.add_argument('--size', type=int, help='frame height = width (default: the model\'s)')
    p_steps.add_argument('--variants', nargs='+', default=list(VARIANTS),
                         help=f'neurons/layout[/optimizer]; the first is the ratios\' base. '
                         f'From {VARIANTS}, optionally with /{"|".join(OPTIMIZERS)} (default: '
                         f'--optimizer)')
    p_steps.add_argument('--memory', action='store_true',
                         help='also the peak memory of a training step (a fresh process each)')
    p_steps.add_argument('--repeats', type=int, default=3)
    p_steps.add_argument('--optimizer', choices=OPTIMIZERS, default='adamw',
                         help='adamw: torch.optim.AdamW as an mmengine config with '
                         "type='AdamW' builds it; adamw-fused: fused=True (default: adamw)")
    p_steps.add_argument('--json', help='write the results here')
    for p in (p_neurons, p_steps):
        p.add_argument('--no-gpu', action='store_true',
                       help='skip the GPU section that runs when CUDA is present')
    args = parser.parse_args(argv)
    bench = bench_neurons if args.what == 'neurons' else bench_steps
    result = bench(args)
    import torch
    if torch.cuda.is_available() and not args.no_gpu:
        print('\nGPU section')
        result = dict(cpu=result, gpu=bench(args, device='cuda'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'results written to {args.json}')
    return result


if __name__ == '__main__':
    main()
