"""Speed and memory of the fused neurons and of training steps, as ratios measured in one run.

    python tools/benchmark.py neurons [--shape 16 8 256 14 14] [--repeats 20] [--json OUT]
    python tools/benchmark.py steps [--model svf_small|svformer_base|pose_demo ...]
                                    [--repeats 3] [--json OUT]

``neurons``: forward + backward of one multi-step neuron layer on a float32 ``[T, B, ...]``
input: mmspike's fused neurons (compiled CPU kernel), the reference loop
(``backend='reference'``) and spikingjelly 2.0's ``LIFNode`` / ``ParametricLIFNode``
(``step_mode='m', detach_reset=True``, torch backend).  Latency is the mean over ``--repeats``
runs after 3 warm-up runs; the peak memory is that of one forward + backward in a fresh
subprocess, after one warm-up step there (growth of the peak resident set, glibc told to return
freed blocks, as in tools/benchmark_memory.py).  Spikes and input gradients are checked against
spikingjelly.

``steps``: one training step (forward, mean of the outputs as the loss, backward, AdamW step)
of a backbone with the reference neurons and with the fused ones, with contiguous and with
channels-last maps (``SeqToANN.channels_last``), every variant from the same weights and
input; prints latency, the ratio to reference + contiguous, and the loss of the first step of
each variant (equal up to float rounding).  Forward latency (eval mode, no grad) is printed too.

All variants run in one process (steps) or one after another (neurons), so the ratios are
comparable; absolute times depend on the machine and on what else runs on it.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_memory import _rss_kib  # noqa: E402  (the peak-RSS reading, one copy)

MODELS = {
    # name: (backbone config, input shape N, C, T, H, W)
    'svf_small': (dict(type='SpikeVideoFormer', arch='small', num_frames=16), (2, 3, 16, 112, 112)),
    'svformer_base': (dict(type='SVFormer', arch='base', num_frames=16), (2, 3, 16, 224, 224)),
    # a config path: that config's backbone (the pose demo's, as it trains)
    'pose_demo': ('configs/spikevideoformer_pose_demo.py', (8, 3, 8, 64, 64)),
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
    from mmspike.models.neurons import MultiStepILIF, MultiStepLIF, MultiStepPLIF
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


def _neuron_step(neuron, x, grad):
    from mmspike.models.neurons import reset_neurons
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
    before = _rss_kib('VmRSS') * 1024
    _neuron_step(neuron, x, grad)
    peak = _rss_kib('VmHWM') * 1024
    print(json.dumps(dict(peak_bytes=peak - before)))


def _child_memory(kind, impl, shape):
    cmd = [sys.executable, __file__, 'neuron-memory-child', kind, impl] + [str(s) for s in shape]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_bytes']


def bench_neurons(args):
    import torch
    from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
    load_cpu_kernels()
    shape = tuple(args.shape)
    print(f'neurons: forward + backward, float32 input {list(shape)}, '
          f'{torch.get_num_threads()} threads; CPU kernel: {cpu_kernel_status()}')
    x, grad = _neuron_input(shape)
    rows = []
    for kind in NEURON_KINDS:
        results = {}
        for impl in ('spikingjelly', 'reference', 'fused'):
            neuron = _build_neuron(kind, impl)
            if neuron is None:
                continue
            for _ in range(3):
                spikes, gx = _neuron_step(neuron, x, grad)
            start = time.perf_counter()
            for _ in range(args.repeats):
                _neuron_step(neuron, x, grad)
            latency = (time.perf_counter() - start) / args.repeats
            results[impl] = dict(latency_ms=latency * 1e3,
                                 peak_mib=_child_memory(kind, impl, shape) / 2**20,
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
    return dict(shape=list(shape), rows=rows)


def bench_steps(args):
    import torch

    import mmspike  # noqa: F401
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmspike.models.layers import SeqToANN
    from mmspike.models.neurons import BaseMultiStepNeuron, reset_neurons
    out = {}
    for name in args.model:
        cfg, shape = MODELS[name]
        if isinstance(cfg, str):
            from mmengine.config import Config
            cfg = Config.fromfile(osp.join(REPO, cfg)).model.backbone.to_dict()
        torch.manual_seed(0)
        model = ROOT_MODELS.build(dict(cfg))
        state = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        results = {}
        for backend in ('reference', 'fused'):
            for channels_last in (False, True):
                model.load_state_dict(state)
                for m in model.modules():
                    if isinstance(m, BaseMultiStepNeuron):
                        m.backend = backend
                    if isinstance(m, SeqToANN):
                        m.channels_last = channels_last
                opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

                def step():
                    model.train()
                    reset_neurons(model)
                    loss = sum(o.float().mean() for o in model(x))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    return float(loss)

                first_loss = step()
                start = time.perf_counter()
                for _ in range(args.repeats):
                    step()
                train_s = (time.perf_counter() - start) / args.repeats
                model.eval()
                with torch.no_grad():
                    reset_neurons(model)
                    model(x)
                    start = time.perf_counter()
                    for _ in range(args.repeats):
                        reset_neurons(model)
                        model(x)
                    forward_s = (time.perf_counter() - start) / args.repeats
                key = f'{backend}/{"channels_last" if channels_last else "contiguous"}'
                results[key] = dict(train_step_s=train_s, forward_s=forward_s,
                                    first_loss=first_loss)
        base = results['reference/contiguous']
        print(f'{name}: input {list(shape)}, training step and eval forward, '
              f'{torch.get_num_threads()} threads')
        for key, r in results.items():
            r['train_speedup'] = base['train_step_s'] / r['train_step_s']
            r['forward_speedup'] = base['forward_s'] / r['forward_s']
            print(f'  {key:24s} step {r["train_step_s"]:7.3f} s (x{r["train_speedup"]:.2f})  '
                  f'forward {r["forward_s"]:7.3f} s (x{r["forward_speedup"]:.2f})  '
                  f'first loss {r["first_loss"]:.7g}')
        out[name] = dict(input=list(shape), results=results)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == 'neuron-memory-child':
        return neuron_memory_child(argv[1], argv[2], tuple(int(s) for s in argv[3:]))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='what', required=True)
    p_neurons = sub.add_parser('neurons', help='fused vs reference vs spikingjelly neurons')
    p_neurons.add_argument('--shape', type=int, nargs='+', default=[16, 8, 256, 14, 14])
    p_neurons.add_argument('--repeats', type=int, default=20)
    p_neurons.add_argument('--json', help='write the results here')
    p_steps = sub.add_parser('steps', help='training steps, reference vs fused neurons')
    p_steps.add_argument('--model', nargs='+', default=['svf_small'], choices=sorted(MODELS))
    p_steps.add_argument('--repeats', type=int, default=3)
    p_steps.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    result = bench_neurons(args) if args.what == 'neurons' else bench_steps(args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'results written to {args.json}')
    return result


if __name__ == '__main__':
    main()
