"""The neurons' Triton kernels (mmspike/ops/neuron_triton.py, the CUDA path of the fused
neurons), run on the CPU by Triton's interpreter: against the compiled CPU kernel call for call,
and, through the fused neurons' autograd node, against the reference neurons.  No GPU runs
them here; the module says so."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import REPO  # noqa: E402

triton = pytest.importorskip('triton', reason='triton is not installed (it comes with torch\'s '
                             'CUDA wheels on Linux), so its kernels cannot be run or tested')

# run in a fresh interpreter: TRITON_INTERPRET must be set before the kernels are defined
SCRIPT = textwrap.dedent('''
    import itertools, sys, torch
    sys.path.insert(0, REPO)
    from mmspike.ops import neuron_kernels, neuron_triton
    from mmspike.neurons import MultiStepILIF, MultiStepLIF, MultiStepPLIF
    cpu = neuron_kernels.load_cpu_kernels()
    assert cpu is not None, neuron_kernels.cpu_kernel_status()
    gen = torch.Generator().manual_seed(0)
    steps, m = 5, 1500  # two programs of 1024 elements, the second partial
    h = torch.randn(steps, m, generator=gen) * 1.5 + 0.5
    x = torch.randn(steps, m, generator=gen) * 1.5 + 0.8
    v0 = torch.randn(m, generator=gen) * 0.3
    gs = torch.randn(steps, m, generator=gen)
    gv_seq = torch.randn(steps, m, generator=gen)
    gv_last = torch.randn(m, generator=gen)
    empty = torch.empty(0)
    calls = 0
    for kind, atan, detach in itertools.product(range(5), (False, True), (False, True)):
        rate = 0.4 if kind in (2, 3) else 2.5
        consts = (kind, rate, 0.9, -0.1 if kind != 4 else 0.0, atan, 3.0, 4.0, detach)
        for keep_v_seq in (False, True):
            a = cpu.neuron_forward(x, v0, keep_v_seq, True, *consts)
            b = neuron_triton.neuron_forward(x, v0, keep_v_seq, True, *consts)
            for name, p, q in zip(('spikes', 'v', 'h'), a, b):
                torch.testing.assert_close(q, p, rtol=1e-6, atol=1e-6,
                                           msg=lambda s: f'forward {consts} {name}: {s}')
        for learn, grad_v, v_seq, spikes_grad in itertools.product(
                (False, True) if kind in (2, 3) else (False, ), ('none', 'last', 'seq'),
                (False, True), (gs, empty)):
            gv = {'none': empty, 'last': gv_last, 'seq': gv_seq}[grad_v]
            if (grad_v == 'seq') != v_seq:
                continue
            args = (h, v0, x if learn and kind == 2 else empty, spikes_grad, gv, v_seq, learn,
                    *consts)
            a = cpu.neuron_backward(*args)
            b = neuron_triton.neuron_backward(*args)
            for name, p, q in zip(('grad_x', 'grad_v0', 'grad_rate'), a, b):
                torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-5,
                                           msg=lambda s: f'backward {consts} {name}: {s}')
            calls += 1
    # the fused neurons' autograd node on the Triton kernels against the reference neurons
    neuron_kernels.kernel_module = lambda tensor: neuron_triton
    for make in (lambda **kw: MultiStepLIF(**kw), lambda **kw: MultiStepPLIF(init_tau=3.0, **kw),
                 lambda **kw: MultiStepPLIF(surrogate='atan', decay_input=False,
                                            detach_reset=False, **kw),
                 lambda **kw: MultiStepILIF(**kw)):
        out = {}
        for backend in ('fused', 'reference'):
            torch.manual_seed(0)
            neuron = make(backend=backend)
            inp = (torch.randn(6, 2, 3, 17, 19, generator=torch.Generator().manual_seed(2))
                   * 1.5 + 0.8).requires_grad_(True)
            spikes = torch.cat([neuron(inp[:4]), neuron(inp[4:])])
            weights = torch.linspace(-1, 1, spikes.numel()).view(spikes.shape)
            ((spikes * weights).sum() + 0.3 * neuron.v.sum()).backward()
            out[backend] = [spikes, neuron.v, inp.grad] + (
                [neuron.w.grad] if hasattr(neuron, 'w') else [])
        for p, q in zip(out['reference'], out['fused']):
            torch.testing.assert_close(q.detach(), p.detach(), rtol=1e-5, atol=1e-5)
    print(f'triton kernels agree: {calls} backward calls, 4 neurons end to end')
''')


def test_triton_kernels_equal_the_cpu_kernel_and_the_reference_neurons():
    env = dict(os.environ, TRITON_INTERPRET='1', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', SCRIPT.replace('REPO', repr(REPO))],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'triton kernels agree' in result.stdout


def test_cuda_tensors_go_to_the_triton_kernels(monkeypatch):
    """The dispatch: CPU tensors to the compiled module, other devices to the Triton module;
    off with MMSPIKE_TRITON_NEURONS=0, and never for float64 (the PyTorch loop runs those)."""
    from mmspike.ops import neuron_kernels, neuron_triton
    assert neuron_kernels.kernel_module(torch.zeros(1)) is neuron_kernels.load_cpu_kernels()
    assert neuron_kernels.kernel_module(torch.zeros(1, device='meta')) is neuron_triton
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    assert not neuron_triton.triton_available(torch.zeros(1))  # CPU, no interpreter
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    assert neuron_triton.triton_available(torch.zeros(1))
    assert not neuron_triton.triton_available(torch.zeros(1, dtype=torch.float64))
    monkeypatch.setenv('MMSPIKE_TRITON_NEURONS', '0')
    assert not neuron_triton.triton_available(torch.zeros(1))
    with pytest.raises(ValueError, match='contiguous float32'):
        neuron_triton.neuron_forward(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(3),
                                     False, True, 0, 2.0, 1.0, 0.0, False, 4.0, 0.0, True)
