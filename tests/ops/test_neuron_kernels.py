"""The fused neurons (compiled CPU kernels and their PyTorch loop) against the reference loop:
spikes, membranes and gradients (input, PLIF ``w``, the carried state) in float64 and float32,
state kept across calls, any memory layout."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch

from mmspike.layers import temporal as layers
from mmspike.neurons import build_neuron
from mmspike.neurons import (BaseMultiStepNeuron, MultiStepILIF, MultiStepLIF,
                                       MultiStepPLIF)
from mmspike.ops import neuron_kernels, neuron_triton
from mmspike.ops.neuron_kernels import NeuronKernelKind

NEURONS = {
    'lif': lambda **kw: MultiStepLIF(**kw),
    'lif_atan_no_decay_input': lambda **kw: MultiStepLIF(tau=3.0, decay_input=False,
                                                         surrogate='atan', **kw),
    'lif_reset_not_detached': lambda **kw: MultiStepLIF(detach_reset=False, v_reset=-0.2,
                                                        v_threshold=0.7, **kw),
    'plif_atan': lambda **kw: MultiStepPLIF(init_tau=3.0, surrogate='atan', **kw),
    'plif_no_decay_input_not_detached': lambda **kw: MultiStepPLIF(
        decay_input=False, detach_reset=False, **kw),
    'ilif': lambda **kw: MultiStepILIF(**kw),
    'ilif_d2_not_detached': lambda **kw: MultiStepILIF(levels=2, tau=3.0, detach_reset=False,
                                                       **kw),
}


@pytest.fixture(params=['kernel', 'torch_loop'])
def fused_path(request, monkeypatch):
    """Run the fused backend through the compiled kernels or through its PyTorch loop."""
    if request.param == 'torch_loop':
        monkeypatch.setattr(BaseMultiStepNeuron, '_kernel_args', lambda self, x: None)
    else:
        assert neuron_kernels.load_cpu_kernels() is not None, neuron_kernels.cpu_kernel_status()
    return request.param


def _two_calls(make, backend, dtype, store_v_seq, layout=None):
    """Two calls (state carried), a loss on spikes, on the final membrane and (store_v_seq) on
    the membrane sequence; returns outputs and all gradients."""
    torch.manual_seed(0)
    neuron = make(backend=backend, store_v_seq=store_v_seq).to(dtype)
    gen = torch.Generator().manual_seed(1)
    first = torch.randn(6, 2, 3, 4, 5, generator=gen, dtype=dtype) * 1.5 + 0.8
    second = torch.randn(4, 2, 3, 4, 5, generator=gen, dtype=dtype) * 1.5 + 0.8
    if layout is not None:
        first, second = layout(first), layout(second)
    first.requires_grad_(True)
    second.requires_grad_(True)
    s1 = neuron(first)
    v_seq = neuron.v_seq
    s2 = neuron(second)
    w1 = torch.linspace(-1, 1, s1.numel(), dtype=dtype).view(s1.shape)
    loss = (s1 * w1).sum() + 0.7 * (s2 * w1[:4]).sum() + 0.3 * neuron.v.sum()
    if store_v_seq:
        loss = loss + 0.2 * (v_seq * w1).sum()
    loss.backward()
    out = dict(s1=s1, s2=s2, v=neuron.v, g1=first.grad, g2=second.grad)
    if isinstance(neuron, MultiStepPLIF):
        out['w'] = neuron.w.grad
    if store_v_seq:
        out['v_seq'] = v_seq
    return {k: v.detach() for k, v in out.items()}


@pytest.mark.parametrize('name', sorted(NEURONS))
@pytest.mark.parametrize('dtype,atol', [(torch.float64, 1e-6), (torch.float32, 1e-5)],
                         ids=['float64', 'float32'])
@pytest.mark.parametrize('store_v_seq', [False, True], ids=['v_last', 'v_seq'])
def test_fused_equals_reference(name, dtype, atol, store_v_seq, fused_path):
    fused = _two_calls(NEURONS[name], 'fused', dtype, store_v_seq)
    reference = _two_calls(NEURONS[name], 'reference', dtype, store_v_seq)
    assert fused.keys() == reference.keys()
    spikes = reference['s1']
    assert 0.05 < (spikes > 0).float().mean() < 0.95, 'the input should give spikes and silence'
    for key in reference:
        torch.testing.assert_close(fused[key], reference[key], rtol=atol, atol=atol,
                                   msg=lambda m: f'{name} [{fused_path}] {key}: {m}')
    assert reference['g1'].abs().sum() > 0 and reference['g2'].abs().sum() > 0
    if 'w' in reference:
        assert reference['w'].abs() > 0


@pytest.mark.parametrize('name', sorted(NEURONS))
def test_kernel_equals_reference_across_threads_and_tiles(name):
    """M = 2 * 8 * 37 * 41 = 24272 elements per step: more than one thread's grain (8192) and
    several of the backward's 2048-element tiles, the last one partial; two calls, so that the
    second starts from a membrane; float64, 1e-10."""
    assert neuron_kernels.load_cpu_kernels() is not None, neuron_kernels.cpu_kernel_status()
    results = {}
    for backend in ('fused', 'reference'):
        torch.manual_seed(0)
        neuron = NEURONS[name](backend=backend).double()
        gen = torch.Generator().manual_seed(3)
        x = (torch.randn(8, 2, 8, 37, 41, generator=gen, dtype=torch.float64) * 1.5 + 0.8)
        x.requires_grad_(True)
        # two calls: the second starts from the first's membrane (v0 != 0)
        spikes = torch.cat([neuron(x[:5]), neuron(x[5:])])
        weights = torch.randn(spikes.shape, generator=gen, dtype=torch.float64)
        ((spikes * weights).sum() + 0.3 * neuron.v.sum()).backward()
        results[backend] = dict(spikes=spikes.detach(), v=neuron.v.detach(), grad=x.grad)
        if isinstance(neuron, MultiStepPLIF):
            results[backend]['w'] = neuron.w.grad
    for key, expected in results['reference'].items():
        torch.testing.assert_close(results['fused'][key], expected, rtol=1e-10, atol=1e-10,
                                   msg=lambda m: f'{name} {key}: {m}')


@pytest.mark.parametrize('layout', ['channels_last', 'transposed'])
def test_fused_kernels_take_any_layout(layout, fused_path):
    """Channels-last maps run in place (their layout is kept); other views give the same
    values."""
    def to_layout(x):
        if layout == 'channels_last':
            return x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(
                0, x.shape[:2])
        return x.transpose(3, 4).contiguous().transpose(3, 4)  # same shape, other strides
    for name in ('lif', 'plif_atan', 'ilif'):
        fused = _two_calls(NEURONS[name], 'fused', torch.float64, False, to_layout)
        reference = _two_calls(NEURONS[name], 'reference', torch.float64, False)
        for key in reference:
            torch.testing.assert_close(fused[key], reference[key], rtol=1e-6, atol=1e-6)
    x = to_layout(torch.randn(3, 2, 3, 4, 5))
    spikes = MultiStepLIF()(x)
    assert spikes.stride() == x.stride(), 'the output keeps the input layout'


def test_fused_inference_stores_nothing_and_matches(fused_path):
    x = torch.randn(5, 2, 7) + 0.8
    with torch.no_grad():
        fused = MultiStepILIF()(x)
    reference = MultiStepILIF(backend='reference')(x)
    torch.testing.assert_close(fused, reference, rtol=0, atol=0)
    assert not fused.requires_grad and fused.grad_fn is None


def test_cpu_kernels_are_built():
    """tools/setup_env.sh builds the kernels; without them the fused neurons fall back to the
    slower PyTorch loop, which this suite must not hide."""
    assert neuron_kernels.load_cpu_kernels() is not None, neuron_kernels.cpu_kernel_status()
    assert neuron_kernels.cpu_kernel_status() == 'built'


def test_backend_and_surrogate_errors():
    with pytest.raises(ValueError, match=r"backend must be one of \('fused', 'reference'\), "
                                         r"got 'cuda'"):
        MultiStepLIF(backend='cuda')

    class NoDerivative(torch.nn.Module):
        def forward(self, x):
            return (x >= 0).to(x)

    with pytest.raises(ValueError, match="needs a surrogate with a derivative.*NoDerivative.*"
                                         "backend='reference'"):
        MultiStepLIF(surrogate=NoDerivative())
    assert MultiStepLIF(surrogate=NoDerivative(), backend='reference')(
        torch.ones(2, 3)).shape == (2, 3)
    assert 'backend' in repr(MultiStepILIF(backend='reference'))
    assert build_neuron(dict(type='PLIF', backend='reference')).backend == 'reference'


def test_seq_to_ann_channels_last_equals_contiguous():
    torch.manual_seed(0)
    conv = layers.SeqToANN(torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.BatchNorm2d(6))
    x = torch.randn(3, 2, 4, 9, 9, dtype=torch.float64)
    conv = conv.double()
    conv.channels_last = True
    y_cl = conv(x)
    conv.channels_last = False
    y_cf = conv(x)
    torch.testing.assert_close(y_cl, y_cf, rtol=1e-10, atol=1e-10)
    assert y_cl.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    assert y_cf.is_contiguous()
    conv.channels_last = None  # default: channels-last on the CPU
    assert conv(x).flatten(0, 1).is_contiguous(memory_format=torch.channels_last)


def test_integer_spikes_round_half_to_even_like_torch_round(fused_path):
    # first step, tau = 2: H = X / 2 = 0.5, 1.5, 2.5, 3.5, 4.5 -> 0, 2, 2, 4, 4 (clamped to D)
    x = torch.tensor([[1.0, 3.0, 5.0, 7.0, 9.0]])
    for dtype in (torch.float32, torch.float64):
        fused = MultiStepILIF(levels=4)(x.to(dtype))
        assert fused.flatten().tolist() == [0.0, 2.0, 2.0, 4.0, 4.0]
        torch.testing.assert_close(fused, MultiStepILIF(levels=4, backend='reference')(
            x.to(dtype)), rtol=0, atol=0)


@pytest.mark.parametrize('backbone', [
    dict(type='SVFormer', arch='tiny', num_frames=4, img_size=32),
    dict(type='SpikeVideoFormer', arch=dict(embed_dims=(8, 16, 32, 48), depths=(1, 1, 1, 1),
                                            num_heads=(0, 0, 2, 2), mlp_ratio=2),
         attention='joint', num_frames=4, neuron_cfg=dict(type='ILIF', levels=4)),
], ids=['svformer', 'spikevideoformer'])
def test_backbone_channels_last_equals_contiguous_in_float64(backbone):
    """A training step's outputs and gradients do not depend on the maps' layout (float64:
    in float32 the other summation order changes rounding, which flips a spike here and
    there)."""
    from mmspike.neurons import reset_neurons
    from mmspike.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(backbone).double().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 4, 32, 32, dtype=torch.float64)
    results = []
    for channels_last in (False, True):
        model.load_state_dict(state)
        model.zero_grad()
        for m in model.modules():
            if isinstance(m, layers.SeqToANN):
                m.channels_last = channels_last
        reset_neurons(model)
        outs = model(x)
        gen = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).mean()
                   for o in outs)
        loss.backward()
        results.append((loss.detach(), [o.detach() for o in outs],
                        [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (loss_cf, outs_cf, grads_cf), (loss_cl, outs_cl, grads_cl) = results
    assert any(o.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
               for o in outs_cl) or all(o.shape[-1] == 1 for o in outs_cl)
    torch.testing.assert_close(loss_cl, loss_cf, rtol=1e-10, atol=1e-12)
    for a, b in zip(outs_cl, outs_cf):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert len(grads_cl) == len(grads_cf) > 10
    for a, b in zip(grads_cl, grads_cf):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_cpp_kernel_kinds_mirror_the_python_enum():
    """``enum NeuronKernelKind`` of csrc/neuron_cpu.cpp has the IntEnum's members (``kLifDecay``
    for ``LIF_DECAY``) with the same values."""
    with open(osp.join(osp.dirname(neuron_kernels.__file__), 'csrc', 'neuron_cpu.cpp')) as f:
        source = f.read()
    body = re.search(r'enum\s+NeuronKernelKind\s*:\s*int\s*\{(.*?)\};', source, re.S)
    assert body is not None, 'enum NeuronKernelKind not found in neuron_cpu.cpp'
    cpp = {name: int(value) for name, value in re.findall(r'\bk(\w+)\s*=\s*(\d+)',
                                                          body.group(1))}
    python = {''.join(part.capitalize() for part in kind.name.split('_')): int(kind)
              for kind in NeuronKernelKind}
    assert cpp == python


def test_python_and_triton_name_the_kinds():
    """The neurons give their kind as a NeuronKernelKind, Triton's compile-time constants equal
    the enum's values, and no kind is written as a bare number in the Python sources."""
    for neuron in (MultiStepLIF(), MultiStepLIF(decay_input=False), MultiStepPLIF(),
                   MultiStepPLIF(decay_input=False), MultiStepILIF()):
        assert isinstance(neuron.kernel_params()[0], NeuronKernelKind)
    assert {MultiStepLIF().kernel_params()[0], MultiStepILIF().kernel_params()[0]} == {
        NeuronKernelKind.LIF_DECAY, NeuronKernelKind.INTEGER_LIF}
    if neuron_triton.triton is not None:
        for kind in NeuronKernelKind:
            assert getattr(neuron_triton, f'_{kind.name}').value == int(kind)
    from mmspike.neurons import multistep
    bare = re.compile(r'\b(?:KIND|kind)\s*(?:[=!]=|(?:not\s+)?in)\s*\(?\s*\d|'
                      r'return\s*\(?\s*\d+\s*(?:if\b|,)')
    for module in (multistep, neuron_triton, neuron_kernels):
        with open(module.__file__) as f:
            source = f.read()
        assert not bare.findall(source), (module.__name__, bare.findall(source))


def test_kernels_reject_unknown_kinds():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match='is not a valid NeuronKernelKind'):
        neuron_triton.neuron_forward(x, x[0], False, False, 7, 2.0, 1.0, 0.0, True, 2.0, 0.0,
                                     True)
    module = neuron_kernels.load_cpu_kernels()
    if module is not None:
        with pytest.raises(RuntimeError, match='unknown neuron kind 7'):
            module.neuron_forward(x, x[0], False, False, 7, 2.0, 1.0, 0.0, True, 2.0, 0.0, True)


def test_kernel_build_key_follows_the_sources_bytes_not_their_path(tmp_path):
    """Byte-identical sources at other paths share a build directory; other bytes, another
    file name, another torch, CUDA or Python version, toolchain or flags get their own."""
    source = neuron_kernels._SOURCES[0]
    name = osp.basename(source)
    with open(source, 'rb') as f:
        content = f.read()
    paths = {}
    for folder, data, file_name in (('a', content, name), ('b/c', content, name),
                                    ('edited', content + b'\n', name),
                                    ('renamed', content, 'other.cpp')):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / file_name).write_bytes(data)
        paths[folder] = str(tmp_path / folder / file_name)

    def key(path, torch_version='2.14.1+cu130', cuda_version='13.0', **kwargs):
        return neuron_kernels.kernel_build_key([path], torch_version, cuda_version, **kwargs)

    base = key(source)
    assert key(paths['a']) == key(paths['b/c']) == base
    assert re.fullmatch(r'torch2\.14\.1-cu130-py\d+-[0-9a-f]{12}', base), base
    others = [key(paths['edited']), key(paths['renamed']), key(source, '2.14.2+cu130'),
              key(source, '2.14.1+cu130.post1'), key(source, cuda_version='12.8'),
              key(source, cuda_version=None), key(source, python_tag='py312'),
              key(source, toolchain=('c++', '/other/torch', '/usr/include/python3.11')),
              key(source, flags=('-O2', ))]
    assert base not in others and len(set(others)) == len(others), (base, others)
    assert key(source, cuda_version=None).startswith('torch2.14.1-cpu-')


def test_the_ninja_on_path_has_a_build_of_its_own(tmp_path, monkeypatch):
    """Two ninja versions record a build's commands differently and rebuild each other's
    objects: the ninja that runs the build is part of the key."""
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'ninja').write_text('#!/bin/sh\n')
    (fake / 'ninja').chmod(0o755)
    before = neuron_kernels._toolchain()
    monkeypatch.setenv('PATH', f'{fake}{os.pathsep}{os.environ.get("PATH", "")}')
    after = neuron_kernels._toolchain()
    assert after[-1] == str(fake / 'ninja') and after != before


def test_sources_are_copied_once_into_the_build_directory(tmp_path, monkeypatch):
    """The build compiles a copy in the build directory, written once: a second call leaves it
    (and its modification time, which ninja compares) as it is; a copy with other bytes is
    replaced."""
    monkeypatch.setenv('MMSPIKE_EXT_DIR', str(tmp_path))
    build = neuron_kernels._build_directory()
    assert osp.dirname(build) == str(tmp_path)
    assert osp.basename(build) == neuron_kernels.kernel_build_key(
        neuron_kernels._SOURCES, torch.__version__, torch.version.cuda,
        toolchain=neuron_kernels._toolchain())
    copies = neuron_kernels._copy_sources(build)
    assert [osp.dirname(c) for c in copies] == [build]
    with open(neuron_kernels._SOURCES[0], 'rb') as f:
        content = f.read()
    with open(copies[0], 'rb') as f:
        assert f.read() == content
    os.utime(copies[0], ns=(10**18, 10**18))
    assert neuron_kernels._copy_sources(build) == copies
    assert os.stat(copies[0]).st_mtime_ns == 10**18
    with open(copies[0], 'wb') as f:
        f.write(content[:100])
    neuron_kernels._copy_sources(build)
    with open(copies[0], 'rb') as f:
        assert f.read() == content
    assert not [n for n in os.listdir(build) if n.endswith('.tmp')]


def test_two_copies_of_the_package_share_one_build(tmp_path):
    """Two copies of the package at other paths load the kernel this process built (in the same
    ``$MMSPIKE_EXT_DIR``) without compiling it again."""
    assert neuron_kernels.load_cpu_kernels() is not None, neuron_kernels.cpu_kernel_status()
    build = neuron_kernels._build_directory()
    outputs = [osp.join(build, name) for name in ('neuron_cpu.o', 'mmspike_neuron_cpu.so')]
    before = [os.stat(path).st_mtime_ns for path in outputs]
    package = osp.dirname(osp.dirname(osp.abspath(neuron_kernels.__file__)))
    script = ('from mmspike.ops import neuron_kernels as k\n'
              'module = k.load_cpu_kernels()\n'
              'print(k.__file__)\n'
              'print(module.__file__ if module is not None else k.cpu_kernel_status())\n')
    for name in ('a', 'b'):
        root = tmp_path / name
        shutil.copytree(package, root / 'mmspike',
                        ignore=shutil.ignore_patterns('__pycache__'))
        env = dict(os.environ, MMSPIKE_EXT_DIR=neuron_kernels._extension_root(),
                   PYTHONPATH=os.pathsep.join(
                       p for p in (str(root), os.environ.get('PYTHONPATH')) if p))
        result = subprocess.run([sys.executable, '-c', script], env=env, cwd=str(tmp_path),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        module_file, loaded = result.stdout.split('\n')[-3:-1]
        assert module_file == str(root / 'mmspike' / 'ops' / 'neuron_kernels.py')
        assert loaded == outputs[1], f'copy {name} loaded {loaded}, expected {outputs[1]}'
    after = [os.stat(path).st_mtime_ns for path in outputs]
    assert after == before, f'a copy of the package rebuilt the kernel in {build}'
