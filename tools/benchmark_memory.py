"""Peak memory of one training step with and without gradient checkpointing (``with_cp``).

    python tools/benchmark_memory.py [--arch small] [--frames 16] [--size 112] [--batch 1]
                                     [--backbone SpikeVideoFormer] [--device cpu|cuda]

Each setting runs in a fresh subprocess: build the backbone, then one forward + backward of
``sum(outputs)`` in training mode.  On CPU the figure is the growth of the process's peak
resident memory during the step (``/proc/self/clear_refs`` resets the peak first; glibc is told
to return every freed block of 64 KiB or more to the system, so the resident set follows the
tensors alive); on CUDA it is
``torch.cuda.max_memory_allocated`` during the step minus the memory held before it.  Both
settings start from the same seed, and the printed loss shows they computed the same thing.
"""
import argparse
import json
import os
import subprocess
import sys

from mmspike.engine.memory import proc_status_kib



def measure(args):
    import torch

    import mmspike  # noqa: F401
    from mmengine.registry import MODELS

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = MODELS.build(dict(type=args.backbone, arch=args.arch, with_cp=args.with_cp,
                              **({'num_frames': args.frames, 'img_size': args.size}
                                 if args.backbone == 'SVFormer' else {}))).to(device).train()
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    if device.type == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset the peak resident set size (VmHWM) to the current one
        before = proc_status_kib('VmRSS') * 1024
    loss = sum(out.float().sum() for out in model(x))
    loss.backward()
    if device.type == 'cuda':
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = proc_status_kib('VmHWM') * 1024
    print(json.dumps(dict(with_cp=args.with_cp, peak_step_bytes=peak - before,
                          loss=float(loss))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backbone', default='SpikeVideoFormer',
                        choices=['SpikeVideoFormer', 'SVFormer'])
    parser.add_argument('--arch', default='small')
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--with-cp', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return measure(args)
    results = {}
    for with_cp in (False, True):
        cmd = [sys.executable, __file__, '--child', '--backbone', args.backbone, '--arch',
               args.arch, '--frames', str(args.frames), '--size', str(args.size), '--batch',
               str(args.batch), '--device', args.device] + (['--with-cp'] if with_cp else [])
        # glibc raises its mmap threshold as large blocks are freed and then keeps freed tensor
        # memory in the heap, so the peak RSS stops following the memory in use; a fixed
        # threshold returns every large tensor to the system when it is freed.
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        results[with_cp] = json.loads(out.strip().splitlines()[-1])
    plain, cp = results[False], results[True]
    where = 'peak RSS growth' if args.device == 'cpu' else 'peak CUDA allocation'
    print(f'{args.backbone} {args.arch}, T={args.frames}, {args.size}x{args.size}, batch '
          f'{args.batch}, {args.device}, one training step ({where}):')
    print(f'  with_cp=False: {plain["peak_step_bytes"] / 2**20:9.1f} MiB  loss {plain["loss"]:.6g}')
    print(f'  with_cp=True : {cp["peak_step_bytes"] / 2**20:9.1f} MiB  loss {cp["loss"]:.6g}')
    print(f'  ratio with_cp / plain: {cp["peak_step_bytes"] / plain["peak_step_bytes"]:.3f}')
    return results


if __name__ == '__main__':
    main()
