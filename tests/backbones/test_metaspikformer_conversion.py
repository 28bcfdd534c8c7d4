"""Meta-SpikeFormer -> SpikeVideoFormer checkpoint conversion against the official key names.

``tests/data/metaspikformer_small_keys.txt`` lists the state-dict keys and shapes of the official
15M Meta-SpikeFormer (BICLab/Spike-Driven-Transformer-V2, classification/models.py, see the
file's header), written down independently of mmspike's converter tables.  The expected target
names below are likewise written out by hand from reading both model definitions.
"""
import os.path as osp

import pytest
from helpers import REPO, TEST_DATA  # noqa: E402
import torch

import mmspike  # noqa: F401
from mmspike.backbones import SpikeVideoFormer
from mmspike.backbones.spikevideoformer import convert_metaspikformer_state_dict

KEYS_FILE = osp.join(TEST_DATA, 'metaspikformer_small_keys.txt')
HEAD_KEYS = ['head.weight', 'head.bias']
KD_KEYS = {'head_kd.weight': (1000, 360), 'head_kd.bias': (1000, )}


def read_official_keys():
    """``[(key, shape)]`` in the official registration order."""
    entries = []
    with open(KEYS_FILE) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, shape = line.split()
            dims = () if shape == '()' else tuple(int(s) for s in shape.split(','))
            entries.append((key, dims))
    return entries


def official_state_dict(prefix='', kd=False, seed=0):
    """Random tensors with the official keys and shapes (DDP checkpoints use ``module.``)."""
    generator = torch.Generator().manual_seed(seed)
    entries = read_official_keys()
    if kd:
        entries += list(KD_KEYS.items())
    state = {}
    for key, shape in entries:
        if key.endswith('num_batches_tracked'):
            state[prefix + key] = torch.zeros(shape, dtype=torch.long)
        else:
            state[prefix + key] = torch.randn(shape, generator=generator)
    return state


@pytest.fixture(scope='module')
def model():
    # sim='dot' is Meta-SpikeFormer's own attention (no SDHA BatchNorm), i.e. the same modules.
    return SpikeVideoFormer(arch='small', sim='dot')


def test_fixture_is_the_15m_model():
    entries = read_official_keys()
    keys = [key for key, _ in entries]
    assert len(keys) == len(set(keys)) == 825
    assert keys[0] == 'downsample1_1.encode_conv.weight' and keys[-2:] == HEAD_KEYS
    assert sum(1 for key in keys if key.endswith('num_batches_tracked')) == 133
    params = sum(torch.Size(shape).numel() for key, shape in entries
                 if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    assert params == 15_112_208
    assert dict(entries)['block3.0.mlp.fc1_conv.weight'] == (1024, 256, 1)  # Conv1d


@pytest.mark.parametrize('prefix', ['', 'module.'])
@pytest.mark.parametrize('kd', [False, True])
def test_converted_official_keys_load_strictly(model, prefix, kd):
    official = official_state_dict(prefix, kd)
    converted, skipped = convert_metaspikformer_state_dict(official)

    # (c) only the classifier heads are dropped
    expected_skipped = [prefix + key for key in HEAD_KEYS]
    if kd:
        expected_skipped += [prefix + key for key in KD_KEYS]
    assert sorted(skipped) == sorted(expected_skipped)
    assert len(converted) == len(official) - len(expected_skipped)

    # (b) load_state_dict(strict=True) semantics, with readable failures first
    target = model.state_dict()
    missing = sorted(set(target) - set(converted))
    unexpected = sorted(set(converted) - set(target))
    assert missing == [] and unexpected == []
    wrong_shape = {key: (tuple(value.shape), tuple(target[key].shape))
                   for key, value in converted.items() if value.shape != target[key].shape}
    assert wrong_shape == {}
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_official_and_mmspike_register_tensors_in_the_same_order(model):
    """Both networks list their tensors in forward order, so the i-th official (non-head)
    tensor must land on the i-th SpikeVideoFormer(sim='dot') tensor."""
    official = official_state_dict()
    converted, _ = convert_metaspikformer_state_dict(official)
    target_keys = list(model.state_dict())
    source_keys = [key for key in official if key not in HEAD_KEYS]
    assert len(source_keys) == len(target_keys)
    moved = [(source, target) for source, target in zip(source_keys, target_keys)
             if converted.get(target) is None
             or not torch.equal(converted[target].reshape(official[source].shape),
                                official[source])]
    assert moved == []


# official key -> mmspike key, written out from the two model definitions
EXPECTED_TARGETS = {
    # stem: MS_DownSampling(first_layer=True) -> DownSampling(first=True)
    'downsample1_1.encode_conv.weight': 'stem.conv.module.0.weight',
    'downsample1_1.encode_conv.bias': 'stem.conv.module.0.bias',
    'downsample1_1.encode_bn.running_var': 'stem.conv.module.1.running_var',
    # conv blocks (SepConv + 3x3 conv MLP)
    'ConvBlock1_1.0.Conv.pwconv1.weight': 'stem_block.sepconv.pw1.module.0.weight',
    'ConvBlock1_1.0.Conv.dwconv.weight': 'stem_block.sepconv.dw_pw2.module.0.weight',
    'ConvBlock1_2.0.Conv.pwconv2.weight': 'stage1.0.sepconv.dw_pw2.module.1.weight',
    'ConvBlock1_2.0.Conv.bn2.bias': 'stage1.0.sepconv.dw_pw2.module.2.bias',
    'downsample1_2.encode_conv.weight': 'down1.conv.module.0.weight',
    'ConvBlock2_1.0.conv1.weight': 'stage2.0.conv1.module.0.weight',
    'ConvBlock2_2.0.bn2.running_var': 'stage2.1.conv2.module.1.running_var',
    'downsample3.encode_bn.running_mean': 'down3.conv.module.1.running_mean',
    # RepConv inside the attention: body.2 is Sequential(dw 3x3, pw 1x1, BN) in the official code
    'block3.0.attn.q_conv.0.body.0.weight': 'stage3.0.attn.q.module.0.body.0.weight',
    'block3.0.attn.q_conv.0.body.1.bn.running_var':
        'stage3.0.attn.q.module.0.body.1.bn.running_var',
    'block3.0.attn.q_conv.0.body.2.0.weight': 'stage3.0.attn.q.module.0.body.2.weight',
    'block3.0.attn.q_conv.0.body.2.1.weight': 'stage3.0.attn.q.module.0.body.3.weight',
    'block3.0.attn.q_conv.0.body.2.2.running_var': 'stage3.0.attn.q.module.0.body.4.running_var',
    'block3.0.attn.q_conv.1.weight': 'stage3.0.attn.q.module.1.weight',
    'block3.5.attn.k_conv.1.running_var': 'stage3.5.attn.k.module.1.running_var',
    'block3.3.attn.v_conv.0.body.2.0.weight': 'stage3.3.attn.v.module.0.body.2.weight',
    'block4.1.attn.proj_conv.0.body.2.1.weight': 'stage4.1.attn.proj.module.0.body.3.weight',
    # MLP (Conv1d + BatchNorm1d in the official code)
    'block3.2.mlp.fc1_conv.bias': 'stage3.2.mlp.fc1.module.0.bias',
    'block3.2.mlp.fc1_bn.running_var': 'stage3.2.mlp.fc1.module.1.running_var',
    'block4.0.mlp.fc2_bn.weight': 'stage4.0.mlp.fc2.module.1.weight',
    'downsample4.encode_conv.weight': 'down4.conv.module.0.weight',
}
# Conv1d (out, in, 1) -> Conv2d (out, in, 1, 1)
EXPECTED_CONV1D_TARGETS = {
    'block3.0.mlp.fc1_conv.weight': 'stage3.0.mlp.fc1.module.0.weight',
    'block3.2.mlp.fc1_conv.weight': 'stage3.2.mlp.fc1.module.0.weight',
    'block4.1.mlp.fc2_conv.weight': 'stage4.1.mlp.fc2.module.0.weight',
}


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_values_are_carried_to_the_expected_parameters(model, prefix):
    official = official_state_dict(prefix, seed=1)
    converted, _ = convert_metaspikformer_state_dict(official)
    model.load_state_dict(converted, strict=True)
    target = model.state_dict()
    for source, name in EXPECTED_TARGETS.items():
        assert torch.equal(target[name], official[prefix + source]), (source, name)
    for source, name in EXPECTED_CONV1D_TARGETS.items():
        value = official[prefix + source]
        assert value.dim() == 3 and target[name].shape == (*value.shape, 1), (source, name)
        assert torch.equal(target[name][..., 0], value), (source, name)


def test_keep_head_maps_only_the_classifier():
    official = official_state_dict('module.', kd=True, seed=2)
    converted, skipped = convert_metaspikformer_state_dict(official, keep_head=True)
    assert sorted(skipped) == ['module.head_kd.bias', 'module.head_kd.weight']
    assert torch.equal(converted['head.weight'], official['module.head.weight'])
    assert torch.equal(converted['head.bias'], official['module.head.bias'])
    assert converted['head.weight'].shape == (1000, 360)


def test_default_sdha_model_only_lacks_its_attention_batchnorms():
    """SpikeVideoFormer's default attention (sim='hamming', scale='code') adds one BatchNorm per
    transformer block (attn.attn_bn) that Meta-SpikeFormer does not have; nothing else differs."""
    converted, _ = convert_metaspikformer_state_dict(official_state_dict())
    sdha = SpikeVideoFormer(arch='small')
    target = sdha.state_dict()
    assert sorted(set(converted) - set(target)) == []
    assert all(value.shape == target[key].shape for key, value in converted.items())
    expected_missing = sorted(
        f'stage{stage}.{index}.attn.attn_bn.module.{name}'
        for stage, depth in ((3, 6), (4, 2)) for index in range(depth)
        for name in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'))
    assert sorted(set(target) - set(converted)) == expected_missing
    # (load_state_dict does not list a missing num_batches_tracked among missing_keys)
    result = sdha.load_state_dict(converted, strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == [
        key for key in expected_missing if not key.endswith('num_batches_tracked')]


def test_convert_tool_writes_a_loadable_checkpoint(tmp_path):
    import subprocess
    import sys

    import torch

    from mmspike.backbones import SpikeVideoFormer
    repo = REPO
    src, dst = tmp_path / 'sdt_v2_15M.pth', tmp_path / 'converted.pth'
    official = official_state_dict(prefix='module.')
    torch.save({'model': official}, src)
    result = subprocess.run([sys.executable, f'{repo}/tools/convert_metaspikformer.py', str(src),
                             str(dst)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'skipped 2' in result.stdout  # head.weight, head.bias
    state = torch.load(dst, weights_only=False)['state_dict']
    target = SpikeVideoFormer(arch='small', sim='dot')
    target.load_state_dict(state, strict=True)
    torch.testing.assert_close(target.stem.conv.module[0].weight,
                               official['module.downsample1_1.encode_conv.weight'])
    bad = subprocess.run([sys.executable, f'{repo}/tools/convert_metaspikformer.py',
                          str(tmp_path / 'missing.pth'), str(dst)], capture_output=True, text=True)
    assert bad.returncode != 0 and 'does not exist' in bad.stderr
