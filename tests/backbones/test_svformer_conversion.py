"""Official SVFormer checkpoints -> mmspike (mmspike.backbones.svformer_conversion and its
command line, tools/convert_svformer.py).

``tests/data/svformer_official_keys.txt`` lists the state-dict keys and shapes of the released
UCF101 model, written out by instantiating the official class (see the file's header), not from
the converter's table.  ``svformer_official_tiny.pt`` is an official-format checkpoint of a small
configuration with random weights, and ``svformer_official_tiny_io.pt`` an input clip with the
official model's eval-mode logits and per-neuron spike counts for it; both come from
``tests/data/svformer_make_official_fixture.py`` run on the official code.
"""
import copy
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmspike.action  # noqa: F401  (registers SVFormerHead in MMAction2)
from mmspike.backbones import svformer_conversion as conversion
from mmspike.neurons import MultiStepPLIF

from helpers import REPO  # noqa: E402
DATA = osp.join(REPO, 'tests', 'data')
TOOL = osp.join(REPO, 'tools', 'convert_svformer.py')
KEYS_FILE = osp.join(DATA, 'svformer_official_keys.txt')
TINY_CKPT = osp.join(DATA, 'svformer_official_tiny.pt')
TINY_IO = osp.join(DATA, 'svformer_official_tiny_io.pt')
# the tiny fixture's model, written out from the generator's configuration: EMBED_DIM
# [12, 24, 36, 48], DEPTH [1, 1, 2, 1], HEAD_DIM 12, MLP_RATIO 2, 4 frames of 64 x 64, 5 classes
TINY_BACKBONE = dict(arch=dict(embed_dims=(12, 24, 36, 48), depths=(1, 1, 2, 1),
                               num_heads=(0, 0, 3, 4), mlp_ratio=2.0),
                     num_frames=4, img_size=(64, 64), in_channels=3)
TINY_HEAD = dict(num_classes=5, in_channels=96, num_frames=4, feat_size=(2, 2), conv_groups=48)
# float32 on the CPU; every conv/linear/attention sum of the fixture is exact (dyadic weights and
# input) and no membrane potential lies within 1e-6 of the threshold, so the logits agree up to
# the rounding of the elementwise layers and of the final Linear (measured: 0.0)
LOGITS_ATOL = 1e-5



def read_official_keys():
    """``[(key, shape)]`` in the official registration order."""
    entries = []
    with open(KEYS_FILE) as f:
        for line in f:
            if line.strip() and not line.startswith('#'):
                key, shape = line.split()
                entries.append((key, () if shape == '()' else
                                tuple(int(s) for s in shape.split(','))))
    return entries


def official_state_dict(prefix='', seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in read_official_keys():
        if key.endswith('num_batches_tracked'):
            state[prefix + key] = torch.tensor(600)
        else:
            state[prefix + key] = torch.randn(shape, generator=generator)
    return state


def build_recognizer(config, backbone=None, cls_head=None):
    from mmaction.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    cfg.model.backbone.update(backbone or {})
    cfg.model.cls_head.update(cls_head or {})
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def base_model():
    return build_recognizer('_base_/models/svformer_base.py')


def test_key_list_is_the_released_model():
    entries = read_official_keys()
    keys = [key for key, _ in entries]
    assert len(keys) == len(set(keys)) == 247
    assert keys[0] == 'patch_embed1.proj.weight' and entries[-1] == ('head.bias', (101, ))
    params = sum(torch.Size(shape).numel() for key, shape in entries if not key.endswith(
        ('running_mean', 'running_var', 'num_batches_tracked')))
    assert params == 13_801_612  # the count the authors' training log prints
    plif = [(key, shape) for key, shape in entries if key.endswith('.w')]
    assert len(plif) == 39 and all(shape == () for _, shape in plif)
    assert dict(entries)['dwconv_bf_head.weight'] == (1024, 2, 16, 7, 7)


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_every_official_key_maps_and_loads_strictly(base_model, prefix):
    official = official_state_dict(prefix)
    converted = conversion.convert_svformer_state_dict(official)
    assert len(converted) == len(official)  # one target per key, none merged

    target = base_model.state_dict()
    assert sorted(set(target) - set(converted)) == []
    assert sorted(set(converted) - set(target)) == []
    wrong_shape = {key: (tuple(value.shape), tuple(target[key].shape))
                   for key, value in converted.items() if value.shape != target[key].shape}
    assert wrong_shape == {}
    result = base_model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


# official key -> mmspike Recognizer3D key, written out from the two model definitions
EXPECTED_TARGETS = {
    'patch_embed1.proj.weight': 'backbone.stem.conv.module.weight',
    'patch_embed1.norm.running_var': 'backbone.stem.bn.bn.running_var',
    'patch_embed2.in_lif.w': 'backbone.downsamples.0.neuron.w',
    'patch_embed4.proj.bias': 'backbone.downsamples.2.conv.module.bias',
    'patch_embed3.norm.weight': 'backbone.downsamples.1.bn.bn.weight',
    'blocks1.0.act1.w': 'backbone.stages.0.0.neuron.w',
    'blocks1.0.conv1.weight': 'backbone.stages.0.0.mixer.module.0.weight',
    'blocks2.0.attn.weight': 'backbone.stages.1.0.mixer.module.1.weight',  # depthwise 5x5
    'blocks2.0.conv2.bias': 'backbone.stages.1.0.mixer.module.2.bias',
    'blocks2.0.norm2.running_mean': 'backbone.stages.1.0.bn.bn.running_mean',
    'blocks1.0.mlp.act2.w': 'backbone.stages.0.0.mlp.neuron2.w',
    'blocks2.0.mlp.fc1.weight': 'backbone.stages.1.0.mlp.fc1.module.weight',
    'blocks1.0.mlp.norm2.bias': 'backbone.stages.0.0.mlp.bn2.bn.bias',
    'blocks3.0.attn.in_lif.w': 'backbone.stages.2.0.attn.in_neuron.w',
    'blocks3.2.attn.q_lif.w': 'backbone.stages.2.2.attn.q_neuron.w',
    'blocks3.1.attn.k_lif.w': 'backbone.stages.2.1.attn.k_neuron.w',
    'blocks4.0.attn.v_lif.w': 'backbone.stages.3.0.attn.v_neuron.w',
    'blocks4.0.attn.proj_lif.w': 'backbone.stages.3.0.attn.proj_neuron.w',
    'blocks3.1.attn.qkv.weight': 'backbone.stages.2.1.attn.qkv.linear.weight',
    'blocks3.2.attn.norm1.running_var': 'backbone.stages.2.2.attn.qkv.bn.bn.running_var',
    'blocks4.0.attn.proj.bias': 'backbone.stages.3.0.attn.proj.linear.bias',
    'blocks4.0.attn.norm2.weight': 'backbone.stages.3.0.attn.proj.bn.bn.weight',
    'blocks3.2.mlp.act1.w': 'backbone.stages.2.2.mlp.neuron1.w',
    'blocks3.2.mlp.fc2.weight': 'backbone.stages.2.2.mlp.fc2.linear.weight',
    'blocks4.0.mlp.norm1.running_mean': 'backbone.stages.3.0.mlp.fc1.bn.bn.running_mean',
    'lplif.w': 'backbone.local_path.0.w',
    'lpDWConv.weight': 'backbone.local_path.1.module.0.weight',
    'lpPWConv.bias': 'backbone.local_path.1.module.1.bias',
    'lpBN.running_var': 'backbone.local_path.2.bn.running_var',
    'lif_bf_head.w': 'cls_head.neuron.w',
    'dwconv_bf_head.weight': 'cls_head.temporal_conv.weight',
    'dwconv_bn.running_mean': 'cls_head.temporal_bn.running_mean',
    'head.weight': 'cls_head.fc_cls.weight',
}


def test_values_are_carried_to_the_expected_parameters(base_model):
    official = official_state_dict(seed=1)
    model = copy.deepcopy(base_model)
    model.load_state_dict(conversion.convert_svformer_state_dict(official), strict=True)
    target = model.state_dict()
    for source, name in EXPECTED_TARGETS.items():
        assert torch.equal(target[name], official[source]), (source, name)


def test_plif_w_is_carried_to_every_neuron(base_model):
    """The 39 official ``w`` land on the 39 PLIF neurons of the mmspike model, each its own."""
    official = official_state_dict(seed=2)
    model = copy.deepcopy(base_model)
    model.load_state_dict(conversion.convert_svformer_state_dict(official), strict=True)
    neurons = [m for m in model.modules() if isinstance(m, MultiStepPLIF)]
    official_w = sorted(v.item() for k, v in official.items() if k.endswith('.w'))
    assert len(neurons) == len(official_w) == 39
    assert sorted(m.w.item() for m in neurons) == official_w
    assert model.cls_head.neuron.w.item() == official['lif_bf_head.w'].item()
    assert model.cls_head.neuron.tau == pytest.approx(
        1 / torch.sigmoid(official['lif_bf_head.w']).item())


@pytest.fixture(scope='module')
def tiny_io():
    return torch.load(TINY_IO, weights_only=True)


@pytest.fixture(scope='module')
def converted_tiny(tmp_path_factory):
    """The tiny official checkpoint run through the command-line tool."""
    dst = tmp_path_factory.mktemp('svformer') / 'tiny_mmspike.pth'
    result = subprocess.run([sys.executable, TOOL, TINY_CKPT, str(dst)], capture_output=True,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'matching mmspike model config' in result.stdout
    checkpoint = torch.load(dst, weights_only=True)
    checkpoint['path'] = str(dst)
    return checkpoint


def tiny_logits(state_dict, x, spike_counts=None):
    model = build_recognizer('svformer_demo.py', TINY_BACKBONE, TINY_HEAD)
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    handles = []
    if spike_counts is not None:
        for name, module in model.named_modules():
            if isinstance(module, MultiStepPLIF):
                handles.append(module.register_forward_hook(
                    lambda m, i, out, name=name: spike_counts.__setitem__(name, int(out.sum()))))
    with torch.no_grad():
        logits = model.cls_head(model.backbone(x))
    for handle in handles:
        handle.remove()
    return logits


def test_tool_infers_the_model_config(converted_tiny):
    # HEAD_DIM 12 comes from the checkpoint's cfg: the default 64 would not divide 36
    model_cfg = converted_tiny['meta']['model_cfg']
    assert model_cfg == dict(backbone=TINY_BACKBONE, cls_head=TINY_HEAD)


def test_mmengine_loads_the_output_strictly(converted_tiny):
    from mmengine.runner import load_checkpoint
    model = build_recognizer('svformer_demo.py', TINY_BACKBONE, TINY_HEAD)
    load_checkpoint(model, converted_tiny['path'], map_location='cpu', strict=True)
    assert torch.equal(model.backbone.local_path[0].w,
                       torch.load(TINY_CKPT, weights_only=True)['model_state']['lplif.w'])


def test_converted_model_gives_the_official_logits(converted_tiny, tiny_io):
    x = tiny_io['input_codes'].float() / tiny_io['input_scale']
    assert x.shape == (2, 3, 4, 64, 64) and x.dtype == torch.float32
    counts = {}
    logits = tiny_logits(converted_tiny['state_dict'], x, counts)
    official = tiny_io['logits']
    diff = (logits - official).abs().max().item()
    print(f'max |mmspike - official| logit difference: {diff:.3g}')
    # same spikes in every layer (a per-layer diagnostic should the logits differ)
    expected_counts = {conversion.official_to_mmspike_key(name + '.w')[:-len('.w')]: count
                       for name, count in tiny_io['spike_counts'].items()}
    assert counts == expected_counts
    assert all(count > 0 for count in counts.values())
    torch.testing.assert_close(logits, official, rtol=0, atol=LOGITS_ATOL)


def test_the_logits_depend_on_the_carried_plif_w(converted_tiny, tiny_io):
    """Control: with every PLIF at its default tau 2 the logits move well past the tolerance."""
    state = dict(converted_tiny['state_dict'])
    for key in state:
        if key.endswith('.w'):
            state[key] = torch.tensor(0.0)  # sigmoid(0) = 1/2
    x = tiny_io['input_codes'].float() / tiny_io['input_scale']
    diff = (tiny_logits(state, x) - tiny_io['logits']).abs().max().item()
    assert diff > 100 * LOGITS_ATOL


def test_unknown_key_is_named():
    official = official_state_dict()
    official['blocks3.0.attn.t_attn.qkv.weight'] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"blocks3\.0\.attn\.t_attn\.qkv\.weight"):
        conversion.convert_svformer_state_dict(official)
    official = official_state_dict()
    official['head_kd.weight'] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"not part of the official SVFormer.*head_kd\.weight"):
        conversion.convert_svformer_state_dict(official)


def save_tiny_variant(tmp_path, edit):
    checkpoint = torch.load(TINY_CKPT, weights_only=True)
    edit(checkpoint['model_state'])
    path = tmp_path / 'edited.pyth'
    torch.save(checkpoint, path)
    return str(path)


def test_wrong_shape_is_named(tmp_path):
    def edit(state):
        state['blocks3.1.mlp.fc1.weight'] = torch.zeros(72, 35)

    src = save_tiny_variant(tmp_path, edit)
    with pytest.raises(ValueError, match=r"'blocks3\.1\.mlp\.fc1\.weight' has shape \(72, 35\).*"
                                         r"needs \(72, 36\)"):
        conversion.convert_checkpoint(src, str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


def test_missing_tensor_is_named(tmp_path):
    src = save_tiny_variant(tmp_path, lambda state: state.pop('lpBN.running_var'))
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \['lpBN\.running_var'\]"):
        conversion.convert_checkpoint(src, str(tmp_path / 'out.pth'))


def run_tool_main(argv):
    """tools/convert_svformer.py in a subprocess: (return code, stdout, stderr)."""
    result = subprocess.run([sys.executable, TOOL] + [str(a) for a in argv], capture_output=True,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    return result.returncode, result.stdout, result.stderr


def test_missing_or_corrupt_src_is_a_clear_error(tmp_path):
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(FileNotFoundError, match=r"'.*missing\.pyth' does not exist"):
        conversion.convert_checkpoint(str(tmp_path / 'missing.pyth'), dst)

    with open(TINY_CKPT, 'rb') as f:
        head = f.read(4096)
    (tmp_path / 'truncated.pyth').write_bytes(head)
    (tmp_path / 'text.pyth').write_text('not a checkpoint\n')
    for name in ('truncated.pyth', 'text.pyth'):
        with pytest.raises(ValueError, match=f'{name}.* is not a readable PyTorch checkpoint'):
            conversion.convert_checkpoint(str(tmp_path / name), dst)

    torch.save({'epoch': 3, 'optimizer_state': {}}, tmp_path / 'no_model.pyth')
    with pytest.raises(ValueError, match="holds no state dict.*'optimizer_state'"):
        conversion.convert_checkpoint(str(tmp_path / 'no_model.pyth'), dst)
    assert not osp.exists(dst)

    # the command line prints the message (no traceback) and exits with status 1
    code, _, err = run_tool_main([tmp_path / 'text.pyth', dst])
    assert code == 1, err[-3000:]
    assert 'convert_svformer: error: ' in err and 'not a readable PyTorch checkpoint' in err
    assert 'Traceback' not in err and not osp.exists(dst)


class _WritesAFile:
    """Unpickling this runs ``open(path, 'w')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    checkpoint = torch.load(TINY_CKPT, weights_only=True)
    checkpoint['payload'] = _WritesAFile(str(marker))
    torch.save(checkpoint, tmp_path / 'evil.pyth')
    with pytest.raises(ValueError) as info:
        conversion.convert_checkpoint(str(tmp_path / 'evil.pyth'), str(tmp_path / 'out.pth'))
    message = str(info.value)
    assert "'io.open'" in message and 'weights_only=True' in message
    assert '--allow-pickle' in message and 'allow_pickle=True' in message
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()
