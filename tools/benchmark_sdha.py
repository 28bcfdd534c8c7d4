"""Backbone latency of SpikeVideoFormer against the number of frames: SDHA is linear in T.

    python tools/benchmark_sdha.py [--arch small] [--size 112] [--frames 8 16 32]
                                   [--repeats 3] [--device cpu]

For each T, the median forward time (batch 1, no grad, after one warm-up) of the backbone with
joint space-time attention, once with spike-driven Hamming attention in linear order
(``sim='hamming'``) and once with quadratic softmax attention (``sim='softmax'``, the contrast),
and the ratio latency(T_max) / latency(T_min) measured in this one run (linear scaling gives
T_max / T_min, e.g. 4.0 for 32 vs 8).
"""
import argparse
import statistics
import time


def median_latency(model, x, repeats, device):
    import torch
    with torch.no_grad():
        model(x)  # warm-up
        times = []
        for _ in range(repeats):
            if device != 'cpu':
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device != 'cpu':
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='small')
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--frames', type=int, nargs='+', default=[8, 16, 32])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)

    import torch

    from mmspike.backbones import SpikeVideoFormer
    torch.manual_seed(0)
    print(f'SpikeVideoFormer {args.arch}, joint attention, {args.size}x{args.size}, batch 1, '
          f'{args.device}, torch threads {torch.get_num_threads()}, median of {args.repeats}')
    results = {}
    for sim in ('hamming', 'softmax'):
        model = SpikeVideoFormer(arch=args.arch, attention='joint', sim=sim).eval().to(args.device)
        for frames in args.frames:
            x = torch.randn(1, 3, frames, args.size, args.size, device=args.device)
            results[sim, frames] = median_latency(model, x, args.repeats, args.device)
            print(f'  sim={sim:<8} T={frames:<3} {results[sim, frames]:8.3f} s', flush=True)
    low, high = min(args.frames), max(args.frames)
    print('\n| attention | ' + ' | '.join(f'T={t}' for t in args.frames) +
          f' | latency(T={high}) / latency(T={low}) |')
    print('|---|' + '---|' * (len(args.frames) + 1))
    for sim, label in (('hamming', 'SDHA, linear order'), ('softmax', 'softmax, quadratic')):
        cells = ' | '.join(f'{results[sim, t]:.3f} s' for t in args.frames)
        print(f'| {label} | {cells} | {results[sim, high] / results[sim, low]:.2f} |')
    print(f'(linear scaling: {high / low:.1f}; goal for SDHA <= {1.1 * high / low:.1f})')


if __name__ == '__main__':
    main()
