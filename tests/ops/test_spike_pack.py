"""Lossless spike packing: exact round trips against a naive bit loop, and training with the
saved spike tensors packed gives the loss, gradients and BatchNorm statistics of plain training
bit for bit (float64 and float32), for both backbones, binary and integer neurons."""
import pytest
import torch

from mmspike.energy import spike_value_range
from mmspike.ops.spike_pack import (compressed_saved_spikes, is_dense, pack_spikes, spike_bits,
                                    unpack_spikes)


def naive_bits(x, bits):
    """Bit ``b`` of element ``i`` (in memory order) at ``[b][i]``, one Python int at a time."""
    order = sorted(range(x.dim()), key=lambda d: x.stride(d), reverse=True)
    values = [int(v) for v in x.permute(order).reshape(-1).tolist()]
    return [[(v >> b) & 1 for v in values] for b in range(bits)]


@pytest.mark.parametrize('levels,shape,permute,dtype', [
    (1, (3, 5, 7), None, torch.float32), (1, (2, 8), None, torch.float64),
    (1, (4, 3, 6, 5), (0, 2, 1, 3), torch.float32), (4, (3, 11), None, torch.float32),
    (4, (2, 3, 4, 5), (3, 1, 0, 2), torch.float64), (2, (17, ), None, torch.float16),
    (7, (5, 9), (1, 0), torch.float32)])
def test_round_trip_is_exact_and_matches_a_naive_bit_loop(levels, shape, permute, dtype):
    torch.manual_seed(levels)
    x = torch.randint(0, levels + 1, shape).to(dtype)
    if levels == 1:
        x = (torch.rand(shape) < 0.3).to(dtype)
    if permute:
        x = x.permute(permute)
    packed = pack_spikes(x, levels)
    assert packed.bits == spike_bits(levels) == max(1, (levels).bit_length())
    assert packed.nbytes == packed.bits * -(-x.numel() // 8)
    # the stored bits, unpacked by hand
    stored = [[(int(byte) >> k) & 1 for byte in plane.tolist() for k in range(8)][:x.numel()]
              for plane in packed.data]
    assert stored == naive_bits(x, packed.bits)
    y = unpack_spikes(packed)
    assert torch.equal(x, y) and y.dtype == x.dtype and y.stride() == x.stride()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match='max_spike_value must be >= 1'):
        spike_bits(0)
    with pytest.raises(ValueError, match='values outside 0..4'):
        pack_spikes(torch.tensor([0.0, 5.0]), 4)
    strided = torch.zeros(4, 6)[:, ::2]
    assert not is_dense(strided) and is_dense(torch.zeros(3, 4).t())
    with pytest.raises(ValueError, match='dense layout'):
        pack_spikes(strided)


def _backbone(name, neuron, dtype):
    from mmspike.backbones import SpikeVideoFormer, SVFormer
    torch.manual_seed(0)
    cfg = dict(neuron_cfg=dict(type=neuron))
    if name == 'SVFormer':
        model = SVFormer(arch='tiny', num_frames=4, img_size=32, **cfg)
    else:
        model = SpikeVideoFormer(arch='tiny', num_frames=4, **cfg)
    return model.to(dtype).train()


def _train_step(model, x, compress):
    model.zero_grad(set_to_none=True)
    if compress:
        with compressed_saved_spikes(spike_value_range(model)) as stats:
            loss = sum(out.pow(2).mean() for out in model(x))
    else:
        stats = None
        loss = sum(out.pow(2).mean() for out in model(x))
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    buffers = [b.clone() for name, b in model.named_buffers() if 'running' in name]
    return loss.detach(), grads, buffers, stats


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('name,neuron', [('SVFormer', 'PLIF'), ('SpikeVideoFormer', 'LIF'),
                                         ('SpikeVideoFormer', 'ILIF'), ('SVFormer', 'ILIF')])
def test_packed_training_equals_plain_training_bit_for_bit(name, neuron, dtype):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 32, 32, dtype=dtype) * 2
    plain = _train_step(_backbone(name, neuron, dtype), x, compress=False)
    packed = _train_step(_backbone(name, neuron, dtype), x, compress=True)
    stats = packed[3]
    assert stats['packed'] > 5, stats  # the spike inputs of the convolutions and products
    assert stats['packed_bytes'] * 8 <= stats['dense_bytes']
    assert torch.equal(plain[0], packed[0])
    assert len(plain[1]) == len(packed[1]) and all(
        torch.equal(a, b) for a, b in zip(plain[1], packed[1]))
    assert len(plain[2]) > 0 and all(torch.equal(a, b) for a, b in zip(plain[2], packed[2]))
    assert any(g.abs().max() > 0 for g in plain[1])


@pytest.mark.parametrize('name', ['SVFormer', 'SpikeVideoFormer', 'SpikingConvNet'])
def test_backbone_option_compress_spikes(name):
    """``compress_spikes=True`` in the backbone's config: the same training step bit for bit,
    alone and with ``with_cp`` (against ``with_cp`` alone); nothing is packed in eval mode."""
    from mmengine.registry import MODELS
    extra = dict(img_size=32, num_frames=4) if name == 'SVFormer' else dict(num_frames=4)
    if name == 'SpikingConvNet':
        extra = {}

    def build(**kwargs):
        torch.manual_seed(0)
        return MODELS.build(dict(type=name, arch='tiny', **extra, **kwargs)).double().train()

    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 32, 32, dtype=torch.float64) * 2
    for kwargs in (dict(), dict(with_cp=True)):
        plain = _train_step(build(**kwargs), x, compress=False)
        model = build(compress_spikes=True, **kwargs)
        packed = _train_step(model, x, compress=False)
        assert torch.equal(plain[0], packed[0])
        assert all(torch.equal(a, b) for a, b in zip(plain[1], packed[1]))
        assert model._memory_contexts == []
    # the backbone's own hooks take every saved tensor in training, none in eval mode
    for train, expect_seen in ((True, False), (False, True)):
        seen = []
        model.train(train)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: seen.append(1) or t,
                                                      lambda t: t):
            sum(out.sum() for out in model(x))
        assert bool(seen) == expect_seen, (train, len(seen))


def test_compress_spikes_hooks_come_and_go_with_the_option():
    import copy

    from mmspike.backbones import SpikeVideoFormer
    model = SpikeVideoFormer(arch='tiny', num_frames=4)
    assert not model._forward_pre_hooks and not model._forward_hooks
    model.compress_spikes = True
    assert len(model._forward_pre_hooks) == 1 and len(model._forward_hooks) == 1
    twin = copy.deepcopy(model)  # e.g. an EMA copy: its own hooks, still packing
    assert twin.compress_spikes and len(twin._forward_hooks) == 1
    model.compress_spikes = False
    assert not model._forward_pre_hooks and not model._forward_hooks


@pytest.mark.parametrize('levels', [1, 4, 300])
def test_numpy_and_torch_bit_planes_agree(levels):
    """The CPU path (numpy's packbits) and the device path (PyTorch operations) write and read
    the same planes."""
    from mmspike.ops import spike_pack
    torch.manual_seed(levels)
    values = torch.randint(0, levels + 1, (1003, ))
    bits = spike_bits(levels)
    source = values.bool() if levels == 1 else values
    planes = spike_pack._pack_planes_numpy(source, bits)
    assert torch.equal(planes, spike_pack._pack_planes_torch(values, bits))
    packed = spike_pack.PackedSpikes(planes, bits, values.numel(), (values.numel(), ), (1, ),
                                     torch.float32)
    assert torch.equal(spike_pack._unpack_values_numpy(packed).long(), values)
    assert torch.equal(spike_pack._unpack_values_torch(packed).long(), values)


def test_pack_if_spikes_refuses_what_is_not_spikes():
    from mmspike.ops.spike_pack import pack_if_spikes
    spikes = (torch.rand(4, 300) < 0.3).float()
    assert torch.equal(unpack_spikes(pack_if_spikes(spikes)), spikes)
    for other in (spikes * 0.5, spikes - 1, spikes + float('nan'), spikes.long(),
                  spikes.t().contiguous().t()[:, ::2]):
        assert pack_if_spikes(other) is None
    integers = torch.randint(0, 5, (6, 7)).double()
    assert pack_if_spikes(integers, 3) is None
    assert torch.equal(unpack_spikes(pack_if_spikes(integers, 4)), integers)
