"""The compiled CPU kernels of the fused multi-step neurons and of the per-time-step
BatchNorm (``csrc/neuron_cpu.cpp``, :mod:`mmspike.ops.temporal_norm`); :func:`forward` and
:func:`backward` hand CUDA tensors to the neurons' Triton kernels
(:mod:`mmspike.ops.neuron_triton`, not yet run on a GPU).  The neurons the kernels implement
are the members of :class:`NeuronKernelKind`; any other neuron runs its PyTorch loop.

The kernels are built with :func:`torch.utils.cpp_extension.load` on first use (about a minute;
``tools/setup_env.sh`` builds them while it sets up the environment) into a directory of
``$MMSPIKE_EXT_DIR`` (default ``~/.cache/mmspike/torch_extensions``) named by
:func:`kernel_build_key`: the hash of the sources' bytes, the compile flags, the torch, CUDA and
Python versions and the toolchain paths the build file names.  The sources are compiled from a
copy in that directory, so the build file is the same for every copy of mmspike (two clones, a
wheel and a clone) and they share one build instead of rebuilding each other's.  Where
they cannot be built (no C++ compiler, no ninja) or where ``MMSPIKE_NEURON_KERNELS=0``, the
fused neurons run their PyTorch loop instead, which gives the same results more slowly; the
reason is given once as a warning and by :func:`cpu_kernel_status`.

Tensors of any dense memory layout (e.g. channels-last maps) are passed without copies:
``[T, ...]`` whose first dimension is the outermost in memory is, element for element, a
``[T, M]`` block of rows, and an elementwise kernel does not care in which order a row's
elements lie.
"""
import enum
import hashlib
import logging
import os
import os.path as osp
import shutil
import sys
import sysconfig
import tempfile
import warnings
from typing import List, Optional, Sequence, Tuple

import torch


class NeuronKernelKind(enum.IntEnum):
    """The neurons the compiled kernels implement: which charge, fire and reset formulas they
    run (``enum NeuronKernelKind`` in ``csrc/neuron_cpu.cpp`` and the constants of
    :mod:`mmspike.ops.neuron_triton` mirror these values).  ``rate`` is ``tau`` for the LIF and
    I-LIF kinds and ``k = 1/tau`` for the PLIF kinds."""

    LIF_DECAY = 0  # H = V + (X - (V - V_reset)) / tau, binary spikes, hard reset
    LIF_NO_DECAY = 1  # H = V - (V - V_reset) / tau + X
    PLIF_DECAY = 2  # H = V + (X - (V - V_reset)) * k
    PLIF_NO_DECAY = 3  # H = V - (V - V_reset) * k + X
    INTEGER_LIF = 4  # H = V + (X - V) / tau, integer spikes round(clamp(H, 0, D)), soft reset

    @property
    def divides_by_rate(self) -> bool:
        """Whether the charge divides by ``rate`` (``tau``) rather than multiplying (``k``)."""
        return self in (NeuronKernelKind.LIF_DECAY, NeuronKernelKind.LIF_NO_DECAY,
                        NeuronKernelKind.INTEGER_LIF)

    @property
    def decays_input(self) -> bool:
        """Whether the input is scaled by ``1/tau`` too (``dH/dX = 1/tau``, else 1)."""
        return self not in (NeuronKernelKind.LIF_NO_DECAY, NeuronKernelKind.PLIF_NO_DECAY)

    @property
    def learns_rate(self) -> bool:
        """Whether the kind has a learnable ``k`` (PLIF), whose gradient the backward sums."""
        return self in (NeuronKernelKind.PLIF_DECAY, NeuronKernelKind.PLIF_NO_DECAY)


_SOURCES = (osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'neuron_cpu.cpp'), )
_NAME = 'mmspike_neuron_cpu'
# -ffp-contract=off: no fused multiply-adds, so each operation rounds as PyTorch's elementwise
# kernels do and the spikes equal the reference's; -fno-trapping-math lets the compiler turn
# branches into selects and vectorise
_CFLAGS = ('-O3', '-fopenmp', '-ffp-contract=off', '-fno-trapping-math')
_LDFLAGS = ('-fopenmp', )
_state = dict(module=None, error=None, tried=False)


def _extension_root() -> str:
    return os.environ.get('MMSPIKE_EXT_DIR',
                          osp.join(osp.expanduser('~'), '.cache', 'mmspike', 'torch_extensions'))


def _toolchain() -> Tuple[str, ...]:
    """What ``build.ninja`` names besides the sources and flags: the C++ compiler (as
    :mod:`torch.utils.cpp_extension` picks it), torch's headers and libraries and Python's
    headers; and the ninja that runs the build (the first on ``PATH``: two ninja versions
    record a build's commands differently in its log and rebuild each other's objects).  A
    change of any of them changes the build, so each gets a build of its own."""
    return (os.environ.get('CXX', 'c++'), osp.dirname(osp.abspath(torch.__file__)),
            sysconfig.get_paths()['include'], shutil.which('ninja') or 'no ninja')


def kernel_build_key(sources: Sequence[str], torch_version: str, cuda_version: Optional[str],
                     python_tag: str = f'py{sys.version_info[0]}{sys.version_info[1]}',
                     toolchain: Sequence[str] = (), flags: Sequence[str] = _CFLAGS + _LDFLAGS
                     ) -> str:
    """The name of the build directory of the kernels compiled from ``sources``, e.g.
    ``torch2.14.1-cu130-py311-<12 hex digits>``: the same for byte-identical sources wherever
    they lie, another one when a source's bytes or name, the flags, the torch, CUDA or Python
    version or the toolchain change.

    Args:
        sources (Sequence[str]): Paths of the source files (read; only their file names and
            bytes count).
        torch_version (str): ``torch.__version__``.
        cuda_version (str, optional): ``torch.version.cuda``; None for a CPU-only torch.
        python_tag (str): The Python version the module is built for, e.g. ``'py311'``.
        toolchain (Sequence[str]): Compiler and include/library paths (:func:`_toolchain`).
        flags (Sequence[str]): The compile and link flags.
    """
    digest = hashlib.sha256()
    fields = (_NAME, torch_version, str(cuda_version), python_tag, *toolchain, *flags)
    for field in fields:
        digest.update(field.encode() + b'\0')
    for path in sources:
        with open(path, 'rb') as f:
            content = f.read()
        digest.update(osp.basename(path).encode() + b'\0' + str(len(content)).encode() + b'\0')
        digest.update(content)
    cuda = f'cu{cuda_version.replace(".", "")}' if cuda_version else 'cpu'
    version = torch_version.split('+')[0]
    return f'torch{version}-{cuda}-{python_tag}-{digest.hexdigest()[:12]}'


def _build_directory() -> str:
    """The build directory of this torch and these sources (created)."""
    path = osp.join(_extension_root(), kernel_build_key(
        _SOURCES, torch.__version__, torch.version.cuda, toolchain=_toolchain()))
    os.makedirs(path, exist_ok=True)
    return path


def _copy_sources(build_directory: str) -> List[str]:
    """Copies of the sources in ``build_directory`` (written once, atomically, under the lock
    :func:`torch.utils.cpp_extension.load` takes there), which the build compiles: the build
    file then names the same paths for every copy of mmspike.  An existing copy is left as it
    is (its modification time tells ninja the object is up to date) unless its bytes differ."""
    from filelock import FileLock  # a dependency of torch, whose own lock it is
    names = [osp.basename(path) for path in _SOURCES]
    if len(set(names)) != len(names):
        raise ValueError(f'the kernel sources need distinct file names, got {names}')
    copies = []
    with FileLock(osp.join(build_directory, 'lock')):
        for path, name in zip(_SOURCES, names):
            with open(path, 'rb') as f:
                content = f.read()
            target = osp.join(build_directory, name)
            if osp.isfile(target):
                with open(target, 'rb') as f:
                    if f.read() == content:
                        copies.append(target)
                        continue
            fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=build_directory)
            try:
                with os.fdopen(fd, 'wb') as f:
                    f.write(content)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                if osp.exists(tmp):
                    os.remove(tmp)
                raise
            copies.append(target)
    return copies


def load_cpu_kernels(verbose: bool = False):
    """The compiled kernel module, building it on the first call; None (with one warning) when
    it cannot be built or is switched off by ``MMSPIKE_NEURON_KERNELS=0``."""
    if _state['tried']:
        return _state['module']
    _state['tried'] = True
    if os.environ.get('MMSPIKE_NEURON_KERNELS', '1') == '0':
        _state['error'] = 'switched off by MMSPIKE_NEURON_KERNELS=0'
        return None
    try:
        # importing cpp_extension on a machine without CUDA logs "No CUDA runtime is found";
        # these kernels are CPU-only, so that line says nothing to the user
        cpp_logger = logging.getLogger('torch.utils.cpp_extension')
        level = cpp_logger.level
        cpp_logger.setLevel(logging.ERROR)
        try:
            from torch.utils.cpp_extension import load
        finally:
            cpp_logger.setLevel(level)
        build_directory = _build_directory()
        _state['module'] = load(
            name=_NAME, sources=_copy_sources(build_directory), build_directory=build_directory,
            extra_cflags=list(_CFLAGS), extra_ldflags=list(_LDFLAGS), verbose=verbose)
    except Exception as exc:  # no compiler, no ninja, a build error: fall back, loudly
        _state['error'] = f'{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}'
        warnings.warn('mmspike: the C++ kernels of the fused neurons could not be built '
                      f'({_state["error"]}); the neurons use their PyTorch loop (same '
                      'results, slower). Set MMSPIKE_NEURON_KERNELS=0 to silence this.')
    return _state['module']


def cpu_kernel_status() -> str:
    """``'built'``, ``'not tried yet'`` or why the CPU kernels are not used."""
    if not _state['tried']:
        return 'not tried yet'
    return 'built' if _state['module'] is not None else f'unavailable: {_state["error"]}'


def _contiguous_stride(shape: Sequence[int]) -> Tuple[int, ...]:
    stride, step = [], 1
    for size in reversed(tuple(shape)):
        stride.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(stride))


def _is_dense(tensor: torch.Tensor) -> bool:
    """Whether ``tensor``'s elements fill a block of memory without gaps or overlaps, in some
    order of its dimensions."""
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(tensor.shape, tensor.stride())
                               if sz > 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _kernel_layout(x_seq: torch.Tensor) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """``(shape, stride)`` to run the kernels in: ``x_seq``'s own when it is dense with the time
    dimension outermost (e.g. channels-last maps), else the contiguous layout (the input is
    then copied once)."""
    shape = tuple(x_seq.shape)
    step_numel = x_seq[0].numel() if shape[0] > 0 else 0
    if _is_dense(x_seq) and (shape[0] <= 1 or x_seq.stride(0) == step_numel):
        return shape, tuple(x_seq.stride())
    return shape, _contiguous_stride(shape)


def _rows(tensor: torch.Tensor, shape: Sequence[int], stride: Sequence[int],
          steps: bool = True) -> torch.Tensor:
    """``tensor`` (of ``shape``), laid out with ``stride`` (a dense layout from
    :func:`_kernel_layout`), as a contiguous ``[T, M]`` view (``steps``) or ``[M]`` view (a
    state without the time dimension); copies only when ``tensor`` has another layout."""
    shape, stride = tuple(shape), tuple(stride)
    if tensor.stride() != stride or not _is_dense(tensor):
        tensor = torch.empty_strided(shape, stride, dtype=tensor.dtype,
                                     device=tensor.device).copy_(tensor)
    numel = tensor.numel()
    if steps:
        return tensor.as_strided((shape[0], numel // max(shape[0], 1)),
                                 (numel // max(shape[0], 1), 1))
    return tensor.as_strided((numel, ), (1, ))


def _unrows(flat: torch.Tensor, shape: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`_rows` for a kernel output (a new contiguous ``[T, M]`` or ``[M]``)."""
    return flat.as_strided(tuple(shape), tuple(stride))


def kernel_module(tensor: torch.Tensor):
    """The kernels for ``tensor``'s device: the compiled CPU module, or for CUDA tensors the
    Triton kernels (:mod:`mmspike.ops.neuron_triton`), which take the same calls."""
    if tensor.device.type == 'cpu':
        return load_cpu_kernels()
    from . import neuron_triton
    return neuron_triton


def forward(x_seq: torch.Tensor, v0: torch.Tensor, keep_v_seq: bool, keep_h: bool,
            kernel_args: tuple):
    """A neuron's forward through the compiled kernel, in ``x_seq``'s memory layout: spikes,
    ``v_seq`` (``keep_v_seq``) or the last membrane, and ``H`` (``keep_h``, else None).
    ``kernel_args``: the neuron's ``_kernel_args``."""
    shape, stride = _kernel_layout(x_seq)
    spikes, v_out, h_seq = kernel_module(x_seq).neuron_forward(
        _rows(x_seq, shape, stride), _rows(v0, shape[1:], stride[1:], steps=False),
        keep_v_seq, keep_h, *kernel_args)
    v_out = (_unrows(v_out, shape, stride) if keep_v_seq
             else _unrows(v_out, shape[1:], stride[1:]))
    return (_unrows(spikes, shape, stride), v_out,
            _unrows(h_seq, shape, stride) if keep_h else None)


def backward(h_seq: torch.Tensor, v0: torch.Tensor, x_seq, grad_spikes, grad_v_out,
             keep_v_seq: bool, kernel_args: tuple):
    """The reverse loop through the compiled kernel (``h_seq`` as :func:`forward` returned it;
    ``x_seq`` only for a learnable ``1/tau``): ``grad_x``, the gradient of ``v0`` and the
    per-element ``g(1/tau)`` sums (None without ``x_seq``)."""
    shape, stride = tuple(h_seq.shape), tuple(h_seq.stride())
    empty = h_seq.new_empty(0)
    learn_rate = x_seq is not None
    gv = empty
    if grad_v_out is not None:
        gv = (_rows(grad_v_out, shape, stride) if keep_v_seq
              else _rows(grad_v_out, shape[1:], stride[1:], steps=False))
    grad_x, grad_v, grad_rate = kernel_module(h_seq).neuron_backward(
        _rows(h_seq, shape, stride), _rows(v0, shape[1:], stride[1:], steps=False),
        _rows(x_seq, shape, stride) if learn_rate else empty,
        _rows(grad_spikes, shape, stride) if grad_spikes is not None else empty,
        gv, keep_v_seq, learn_rate, *kernel_args)
    return (_unrows(grad_x, shape, stride), _unrows(grad_v, shape[1:], stride[1:]),
            grad_rate if learn_rate else None)
