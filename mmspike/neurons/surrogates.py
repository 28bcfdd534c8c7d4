"""Spike functions and their surrogate gradients.

A surrogate is a module whose forward is the Heaviside step ``S = [x >= 0]`` (``x`` is the
membrane minus the threshold) and whose backward multiplies by a smooth stand-in for the step's
derivative, which :meth:`SurrogateFunction.derivative` also gives, so that the fused neurons'
explicit backward uses the same formula.  Surrogates are registered in mmengine's root
``MODELS`` under a short name (``'atan'``, ``'sigmoid'``) and their class name; a neuron config
names one with ``surrogate=dict(type='atan', alpha=2.0)`` (see
:func:`mmspike.neurons.build_surrogate`), and a plugin adds its own by registering a
:class:`SurrogateFunction` subclass.
"""
import math

import torch
from torch import nn

from ..registry import MODELS

__all__ = ['SurrogateFunction', 'ATanSurrogate', 'SigmoidSurrogate', 'heaviside',
           'heaviside_atan', 'heaviside_sigmoid', 'atan_surrogate_grad', 'sigmoid_surrogate_grad']


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """The spike of a binary neuron: ``1`` where ``x >= 0``, else ``0`` (in ``x``'s dtype)."""
    return (x >= 0).to(x)


class _Heaviside(torch.autograd.Function):
    """Heaviside step forward (:func:`heaviside`); subclasses define the surrogate backward."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return heaviside(x)


def atan_surrogate_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """ATan surrogate derivative ``dS/dx = alpha / 2 / (1 + (pi / 2 * alpha * x)^2)``."""
    return alpha / 2 / (1 + (math.pi / 2 * alpha * x).square())


def sigmoid_surrogate_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Sigmoid surrogate derivative ``dS/dx = alpha sigmoid(alpha x) (1 - sigmoid(alpha x))``."""
    sig = torch.sigmoid(alpha * x)
    return (1 - sig) * sig * alpha


class _HeavisideATan(_Heaviside):
    """ATan surrogate (:func:`atan_surrogate_grad`)."""

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * atan_surrogate_grad(x, ctx.alpha), None


class _HeavisideSigmoid(_Heaviside):
    """Sigmoid surrogate (:func:`sigmoid_surrogate_grad`)."""

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * sigmoid_surrogate_grad(x, ctx.alpha), None


def heaviside_atan(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """:func:`heaviside` with the ATan surrogate gradient."""
    return _HeavisideATan.apply(x, alpha)


def heaviside_sigmoid(x: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """:func:`heaviside` with the sigmoid surrogate gradient."""
    return _HeavisideSigmoid.apply(x, alpha)


class SurrogateFunction(nn.Module):
    """Base of the surrogate spike functions: ``forward(x)`` is the spike ``[x >= 0]`` with the
    surrogate gradient, :meth:`derivative` the surrogate ``dS/dx``.

    A subclass sets ``spike_function`` (an autograd function of ``(x, alpha)``) and
    ``derivative_function`` (its derivative, same arguments), or overrides :meth:`forward` and
    :meth:`derivative`.  Registered in ``MODELS``, it can be named in a neuron config.

    Args:
        alpha (float): the sharpness of the surrogate.
    """

    spike_function = None  # a heaviside_* function
    derivative_function = None  # its surrogate derivative, a *_surrogate_grad function

    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return type(self).spike_function(x, self.alpha)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The surrogate ``dS/dx`` at ``x`` (what the backward of :meth:`forward` multiplies by)."""
        return type(self).derivative_function(x, self.alpha)

    def extra_repr(self):
        return f'alpha={self.alpha}'


@MODELS.register_module(name=['atan', 'ATanSurrogate'])
class ATanSurrogate(SurrogateFunction):
    """Spike function with the ATan surrogate gradient (spikingjelly's ``surrogate.ATan``).

    Args:
        alpha (float): the sharpness. Defaults to 2.0.
    """

    spike_function = staticmethod(heaviside_atan)
    derivative_function = staticmethod(atan_surrogate_grad)

    def __init__(self, alpha: float = 2.0):
        super().__init__(alpha)


@MODELS.register_module(name=['sigmoid', 'SigmoidSurrogate'])
class SigmoidSurrogate(SurrogateFunction):
    """Spike function with the sigmoid surrogate gradient (spikingjelly's ``surrogate.Sigmoid``).

    Args:
        alpha (float): the sharpness. Defaults to 4.0.
    """

    spike_function = staticmethod(heaviside_sigmoid)
    derivative_function = staticmethod(sigmoid_surrogate_grad)

    def __init__(self, alpha: float = 4.0):
        super().__init__(alpha)
