"""mmspike's neurons against spikingjelly 2.0 (spikes, membrane, input gradients to 1e-6)."""
import math

import pytest
import torch

from mmspike.neurons import BaseMultiStepNeuron, MultiStepLIF, MultiStepPLIF, reset_neurons
from mmspike.neurons.surrogates import heaviside_atan, heaviside_sigmoid

sj_neuron = pytest.importorskip('spikingjelly.activation_based.neuron',
                                reason='spikingjelly 2.0 is needed for the reference')
sj_surrogate = pytest.importorskip('spikingjelly.activation_based.surrogate')


def _run(neuron, x):
    """Forward + backward of a weighted sum of spikes; returns spikes, v_seq, input grad."""
    x = x.clone().requires_grad_(True)
    spikes = neuron(x)
    weights = torch.linspace(-1, 1, spikes.numel()).view_as(spikes)
    (spikes * weights).sum().backward()
    return spikes.detach(), neuron.v_seq.detach(), x.grad.detach()


def _inputs(seed, shape=(8, 3, 5, 7)):
    gen = torch.Generator().manual_seed(seed)
    # Values spread across the threshold so that many neurons fire and many do not.
    return torch.randn(shape, generator=gen, dtype=torch.float64) * 1.5 + 0.8


SURROGATES = [
    (dict(type='sigmoid', alpha=4.0), lambda: sj_surrogate.Sigmoid(alpha=4.0)),
    (dict(type='atan', alpha=2.0), lambda: sj_surrogate.ATan(alpha=2.0)),
]


@pytest.mark.parametrize('backend', ['fused', 'reference'])
@pytest.mark.parametrize('surrogate,sj_surrogate_fn', SURROGATES, ids=['sigmoid4', 'atan2'])
@pytest.mark.parametrize('tau,decay_input', [(2.0, True), (3.0, True), (2.0, False)])
def test_lif_matches_spikingjelly(surrogate, sj_surrogate_fn, tau, decay_input, backend):
    x = _inputs(0)
    ours = MultiStepLIF(tau=tau, decay_input=decay_input, surrogate=surrogate,
                        store_v_seq=True, backend=backend).double()
    ref = sj_neuron.LIFNode(tau=tau, decay_input=decay_input, surrogate_function=sj_surrogate_fn(),
                            detach_reset=True, step_mode='m', store_v_seq=True).double()
    s1, v1, g1 = _run(ours, x)
    s2, v2, g2 = _run(ref, x)
    assert 0.1 < s1.mean() < 0.9, 'the test input should make a mix of spikes and silence'
    torch.testing.assert_close(s1, s2, rtol=0, atol=1e-6)
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-6)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-6)
    assert g1.abs().sum() > 0


@pytest.mark.parametrize('backend', ['fused', 'reference'])
@pytest.mark.parametrize('surrogate,sj_surrogate_fn', SURROGATES, ids=['sigmoid4', 'atan2'])
@pytest.mark.parametrize('init_tau', [2.0, 4.0])
def test_plif_matches_spikingjelly(surrogate, sj_surrogate_fn, init_tau, backend):
    x = _inputs(1)
    ours = MultiStepPLIF(init_tau=init_tau, surrogate=surrogate, store_v_seq=True,
                         backend=backend).double()
    ref = sj_neuron.ParametricLIFNode(init_tau=init_tau, surrogate_function=sj_surrogate_fn(),
                                      detach_reset=True, step_mode='m',
                                      store_v_seq=True).double()
    torch.testing.assert_close(ours.w.detach(), ref.w.detach(), rtol=0, atol=1e-12)
    s1, v1, g1 = _run(ours, x)
    s2, v2, g2 = _run(ref, x)
    torch.testing.assert_close(s1, s2, rtol=0, atol=1e-6)
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-6)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-6)
    # the learnable time constant gets the same gradient too
    torch.testing.assert_close(ours.w.grad, ref.w.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('backend', ['fused', 'reference'])
def test_float32_state_and_spikes_match_spikingjelly(backend):
    x = _inputs(2).float()
    ours = MultiStepLIF(store_v_seq=True, backend=backend)
    ref = sj_neuron.LIFNode(detach_reset=True, step_mode='m', store_v_seq=True)
    for a, b in zip(_run(ours, x), _run(ref, x)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_plif_initial_tau_and_defaults():
    neuron = MultiStepPLIF(init_tau=2.0)
    assert math.isclose(neuron.w.item(), 0.0, abs_tol=1e-7)
    assert math.isclose(neuron.tau, 2.0, rel_tol=1e-6)
    assert math.isclose(MultiStepPLIF(init_tau=4.0).tau, 4.0, rel_tol=1e-6)
    lif = MultiStepLIF()
    assert (lif.tau, lif.v_threshold, lif.v_reset, lif.detach_reset, lif.decay_input) == \
        (2.0, 1.0, 0.0, True, True)
    assert lif.surrogate.alpha == 4.0 and type(lif.surrogate).__name__ == 'SigmoidSurrogate'


def test_hand_computed_lif_trace():
    # tau=2, decay_input: H = V + (X - V) / 2; threshold 1, hard reset to 0.
    x = torch.tensor([[1.5], [1.5], [0.4], [2.0]])
    neuron = MultiStepLIF(store_v_seq=True)
    spikes = neuron(x)
    # H: 0.75 -> 1.125 (spike, V=0) -> 0.2 -> 1.1 (spike, V=0)
    assert spikes.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    torch.testing.assert_close(neuron.v_seq.flatten(), torch.tensor([0.75, 0.0, 0.2, 0.0]))


def test_surrogate_gradients_match_formulas():
    x = torch.linspace(-2, 2, 41, requires_grad=True)
    heaviside_atan(x, 2.0).sum().backward()
    expected = 2.0 / 2 / (1 + (math.pi / 2 * 2.0 * x.detach()) ** 2)
    torch.testing.assert_close(x.grad, expected)
    x.grad = None
    heaviside_sigmoid(x, 4.0).sum().backward()
    sig = torch.sigmoid(4.0 * x.detach())
    torch.testing.assert_close(x.grad, 4.0 * sig * (1 - sig))


def test_state_persists_until_reset_and_mismatch_is_an_error():
    neuron = MultiStepLIF()
    x = torch.full((2, 3), 1.2)  # H: 0.6, 0.9 then 1.05 (spike) in the next call
    first = neuron(x)
    second = neuron(x)
    assert not torch.equal(first, second), 'state must carry over between calls'
    assert reset_neurons(torch.nn.Sequential(neuron)) == 1
    torch.testing.assert_close(neuron(x), first)
    with pytest.raises(RuntimeError, match='reset'):
        neuron(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r'\[T, B'):
        MultiStepLIF()(torch.zeros(5))


def test_bad_arguments():
    with pytest.raises(ValueError, match='tau'):
        MultiStepLIF(tau=1.0)
    with pytest.raises(ValueError, match='init_tau'):
        MultiStepPLIF(init_tau=0.5)
    with pytest.raises(ValueError, match='surrogate'):
        MultiStepLIF(surrogate='relu')


def test_integer_lif_shares_the_base_state_rules():
    from mmspike.neurons import MultiStepILIF
    neuron = MultiStepILIF(levels=4)
    assert isinstance(neuron, BaseMultiStepNeuron)
    x = torch.tensor([[3.0], [3.0], [3.0]])  # [T=3, B=1]
    # H = V + (X - V) / 2; S = round(clamp(H, 0, 4)); V = H - S
    # t0: H 1.5 -> S 2, V -0.5; t1: H 1.25 -> S 1, V 0.25; t2: H 1.625 -> S 2, V -0.375
    assert neuron(x).flatten().tolist() == [2.0, 1.0, 2.0]
    assert neuron.v.item() == pytest.approx(-0.375)
    # state is kept between calls (streaming) and a different step shape is refused
    with pytest.raises(RuntimeError, match=r'holds state of shape \(1,\) but got input steps '
                                           r'of shape \(2,\)'):
        neuron(torch.zeros(2, 2))
    neuron.reset()
    assert neuron(torch.zeros(2, 2)).shape == (2, 2)


def test_one_predicate_for_spiking_neurons():
    from mmspike.neurons import MultiStepILIF, MultiStepPLIF, is_spiking_neuron
    assert all(is_spiking_neuron(m) for m in (MultiStepLIF(), MultiStepPLIF(), MultiStepILIF()))
    assert not any(is_spiking_neuron(m) for m in (torch.nn.ReLU(), torch.nn.Conv2d(1, 1, 1)))
