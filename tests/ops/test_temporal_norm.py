"""The per-time-step BatchNorm's copy-free path (mmspike.ops.temporal_norm) against T separate
``nn.BatchNorm`` modules, one per time step, in every memory layout SVFormer feeds it."""
import pytest
import torch
from torch import nn

from mmspike.layers.temporal import TemporalBatchNorm1d, TemporalBatchNorm2d
from mmspike.ops import temporal_norm
from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
from mmspike.ops.temporal_norm import temporal_batch_norm

STEPS, BATCH, CHANNELS = 3, 2, 5


@pytest.fixture(params=['kernel', 'torch'])
def implementation(request, monkeypatch):
    """Run a test with the compiled CPU kernel and with the PyTorch-operations path."""
    if request.param == 'kernel' and load_cpu_kernels() is None:
        pytest.skip(f'the compiled CPU kernels are not available: {cpu_kernel_status()}')
    monkeypatch.setattr(temporal_norm, '_USE_KERNELS', request.param == 'kernel')
    return request.param


def _scaled_input(shape, dtype):
    """Each time step gets its own scale and offset, so shared statistics would be caught."""
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=dtype)
    view = (-1, ) + (1, ) * (len(shape) - 1)
    steps = torch.arange(1, shape[0] + 1, dtype=dtype).view(view)
    return x * steps + steps


def _layouts(dtype):
    """(name, module class, input) with the memory layouts met in SVFormer."""
    maps = _scaled_input((STEPS, BATCH, CHANNELS, 4, 3), dtype)
    channels_last = maps.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    tokens = _scaled_input((STEPS, BATCH, 7, CHANNELS), dtype)
    return [
        ('maps, contiguous', TemporalBatchNorm2d, maps),
        ('maps, channels-last', TemporalBatchNorm2d, channels_last.unflatten(0, (STEPS, BATCH))),
        ('tokens [T, B, C, L] as a transposed view', TemporalBatchNorm1d, tokens.transpose(2, 3)),
        ('vectors [T, B, C]', TemporalBatchNorm1d, _scaled_input((STEPS, BATCH, CHANNELS), dtype)),
    ]


def _per_step_reference(module, dtype):
    cls = nn.BatchNorm2d if isinstance(module, TemporalBatchNorm2d) else nn.BatchNorm1d
    refs = []
    for t in range(STEPS):
        ref = cls(CHANNELS, momentum=module.bn.momentum).to(dtype)
        with torch.no_grad():  # parameter layout of the module: index t * C + c
            ref.weight.copy_(module.bn.weight.view(STEPS, CHANNELS)[t])
            ref.bias.copy_(module.bn.bias.view(STEPS, CHANNELS)[t])
        refs.append(ref)
    return refs


@pytest.mark.parametrize('momentum', [0.1, None])
@pytest.mark.parametrize('layout', range(4))
def test_equals_one_batchnorm_per_step_forward_backward_and_statistics(layout, momentum,
                                                                       implementation):
    dtype = torch.float64
    name, cls, x = _layouts(dtype)[layout]
    module = cls(CHANNELS, STEPS, momentum=momentum).to(dtype)
    with torch.no_grad():
        module.bn.weight.uniform_(0.5, 1.5)
        module.bn.bias.uniform_(-1, 1)
    refs = _per_step_reference(module, dtype)
    grad = torch.randn(x.shape, dtype=dtype)
    for _ in range(2):  # two training steps: running statistics and num_batches_tracked move
        xa = x.detach().clone().requires_grad_()
        ya = module(xa)
        ya.backward(grad)
        xb = x.detach().clone().requires_grad_()
        yb = torch.stack([ref(xb[t]) for t, ref in enumerate(refs)])
        yb.backward(grad)
        torch.testing.assert_close(ya, yb, rtol=1e-12, atol=1e-12, msg=name)
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-10, msg=name)
    if x.movedim(2, -1).is_contiguous():  # the copy-free path keeps channel-innermost memory
        assert ya.stride() == x.stride(), f'{name}: the output must keep the input layout'
    weight_grad = torch.stack([ref.weight.grad for ref in refs]).flatten()
    bias_grad = torch.stack([ref.bias.grad for ref in refs]).flatten()
    torch.testing.assert_close(module.bn.weight.grad, weight_grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(module.bn.bias.grad, bias_grad, rtol=1e-10, atol=1e-10)
    for key in ('running_mean', 'running_var'):
        expected = torch.stack([getattr(ref, key) for ref in refs]).flatten()
        torch.testing.assert_close(getattr(module.bn, key), expected, rtol=1e-12, atol=1e-12)
    assert int(module.bn.num_batches_tracked) == 2 == int(refs[0].num_batches_tracked)

    module.eval()
    for ref in refs:
        ref.eval()
    with torch.no_grad():
        expected = torch.stack([ref(x[t]) for t, ref in enumerate(refs)])
        torch.testing.assert_close(module(x), expected, rtol=1e-12, atol=1e-12)


def test_without_running_statistics_uses_batch_statistics_in_eval_mode(implementation):
    dtype = torch.float64
    _, cls, x = _layouts(dtype)[2]
    module = cls(CHANNELS, STEPS, track_running_stats=False, affine=False).to(dtype).eval()
    ref = nn.BatchNorm1d(CHANNELS, track_running_stats=False, affine=False).to(dtype).eval()
    expected = torch.stack([ref(x[t]) for t in range(STEPS)])
    torch.testing.assert_close(module(x), expected, rtol=1e-12, atol=1e-12)


def test_float32_matches_the_copying_path(implementation):
    """The channel-innermost fast path and the ``[B, T*C, ...]`` path agree in float32."""
    module = TemporalBatchNorm2d(CHANNELS, STEPS)
    x = _layouts(torch.float32)[1][2]
    fast = module(x)
    slow = module(x.contiguous())  # contiguous maps take the nn.BatchNorm path
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('index', [1, 2], ids=['channels-last maps', 'tokens'])
def test_copy_free_false_takes_the_copying_path_with_the_same_results(monkeypatch, index):
    """``copy_free`` (a constructor argument) chooses the path for channel-innermost inputs;
    both give the same outputs, gradients and running statistics."""
    from mmspike.layers.temporal import _TemporalBatchNorm
    calls = []
    original = _TemporalBatchNorm._forward_channel_last
    monkeypatch.setattr(_TemporalBatchNorm, '_forward_channel_last',
                        lambda self, x: calls.append(self) or original(self, x))
    _, cls, x = _layouts(torch.float64)[index]
    fast = cls(CHANNELS, STEPS).double()
    slow = cls(CHANNELS, STEPS, copy_free=False).double()
    assert fast.copy_free and not slow.copy_free and 'copy_free=False' in repr(slow)
    outputs = []
    for module in (fast, slow):
        xs = x.clone().requires_grad_()
        y = module(xs)
        y.backward(torch.arange(y.numel(), dtype=y.dtype).view(y.shape).cos())
        outputs.append((y, xs.grad, module.bn.running_mean, module.bn.running_var))
    assert calls == [fast]
    for a, b in zip(*outputs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_bad_input_names_the_problem():
    x = torch.randn(2, 1, 3)
    with pytest.raises(ValueError, match=r'Expected more than 1 value per channel when training, '
                       r'got M=1'):
        temporal_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r'contiguous \[T, M, C\] tensor, got shape \(2, 3, 4\)'):
        temporal_batch_norm(torch.randn(2, 4, 3).transpose(1, 2), None, None, None, None, True,
                            0.1, 1e-5)


def test_bfloat16_input_is_normalised_in_float32(implementation):
    """Under mixed precision the statistics are float32 (as nn.BatchNorm); the output keeps the
    input's dtype and layout."""
    module = TemporalBatchNorm2d(CHANNELS, STEPS)
    x = _layouts(torch.float32)[1][2]
    out = module(x.bfloat16())
    assert out.dtype == torch.bfloat16 and out.stride() == x.stride()
    expected = TemporalBatchNorm2d(CHANNELS, STEPS)(x.bfloat16().float())
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2)


def test_float32_paths_against_float64_with_a_large_mean(monkeypatch):
    """Forward and backward in float32 on SVFormer-like sizes with the mean 100 times the
    spread, against the same function in float64: the kernel (shifted double sums) within 1e-5
    of each output's largest value, the PyTorch-operations path within 1e-4."""
    torch.manual_seed(0)
    x = torch.randn(4, 3000, 48) + 100.0
    weight = torch.rand(4, 48) + 0.5
    bias = torch.randn(4, 48)
    grad = torch.randn(4, 3000, 48)

    def run(use_kernels, dtype):
        monkeypatch.setattr(temporal_norm, '_USE_KERNELS', use_kernels)
        xs, ws, bs = (t.to(dtype).clone().requires_grad_() for t in (x, weight, bias))
        y = temporal_batch_norm(xs, None, None, ws, bs, True, 0.1, 1e-5)
        y.backward(grad.to(dtype))
        return [t.double() for t in (y, xs.grad, ws.grad, bs.grad)]

    reference = run(False, torch.float64)
    paths = [(False, 1e-4)]
    if load_cpu_kernels() is not None:
        paths.append((True, 1e-5))
    else:
        print(f'kernel path not checked: {cpu_kernel_status()}')
    for use_kernels, tolerance in paths:
        for name, a, b in zip(('y', 'grad x', 'grad weight', 'grad bias'),
                              run(use_kernels, torch.float32), reference):
            error = ((a - b).abs().max() / b.abs().max()).item()
            assert error < tolerance, (use_kernels, name, error)
