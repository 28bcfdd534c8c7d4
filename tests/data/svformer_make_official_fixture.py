"""Regenerate the official-SVFormer test data (not run by the tests; needs the official code).

    python tests/data/svformer_make_official_fixture.py SVFORMER_CLONE [OUT_DIR]

Writes into OUT_DIR (default: this folder)

* ``svformer_official_keys.txt``: state-dict keys and shapes of the released UCF101 model;
* ``svformer_official_tiny.pt``: a small official-format checkpoint (``epoch``, ``model_state``,
  ``cfg``) with random weights;
* ``svformer_official_tiny_io.pt``: an input clip and the official model's eval-mode logits
  and per-neuron spike counts for it.

The official model (``slowfast/models/uniformer2d_psnn_try.py``) is imported unchanged except
for one line: ``act_layer`` drops ``backend='cupy'`` (spikingjelly >= 0.0.0.0.14 on the CPU;
spikingjelly 2.0's PLIF takes no ``backend``).  Its other imports (three timm helpers, the
SlowFast registry and logger) get stand-ins here, and the module-level ``TN`` (16 in the release,
the ``T`` of every per-step BatchNorm) is set to the clip length of each configuration.

Random weights are dyadic (multiples of 1/256) and the input a multiple of 1/8, so every conv,
linear and attention product of the model is exact in float32 whatever the summation order
(channels-last or not); only elementwise ops (BatchNorm, PLIF) round.  The seed is chosen so
that every PLIF layer fires (1-90 %) and no membrane potential lies within 1e-6 of the
threshold, so an ulp-level difference cannot flip a spike.
"""
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
from types import SimpleNamespace

import torch
from torch import nn

RELEASE = dict(embed_dim=[128, 256, 384, 512], depth=[1, 1, 3, 1], head_dim=64, mlp_ratio=2,
               num_frames=16, crop=224, num_classes=101)  # exp/svformer_ucf101_scratch
TINY = dict(embed_dim=[12, 24, 36, 48], depth=[1, 1, 2, 1], head_dim=12, mlp_ratio=2,
            num_frames=4, crop=64, num_classes=5)
MODEL_FILE = 'slowfast/models/uniformer2d_psnn_try.py'
MIN_MARGIN = 1e-6

_STUBS = {
    'timm/__init__.py': '',
    'timm/models/__init__.py': '',
    'timm/models/vision_transformer.py': 'def _cfg(**kwargs):\n    return kwargs\n',
    'timm/models/layers.py': (
        'from torch import nn\n'
        'from torch.nn.init import trunc_normal_  # noqa: F401\n\n\n'
        'def to_2tuple(x):\n'
        '    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)\n\n\n'
        'class DropPath(nn.Identity):  # drop rate 0 in every configuration used here\n'
        '    def __init__(self, drop_prob=0.0):\n'
        '        assert drop_prob == 0.0\n'
        '        super().__init__()\n'),
    'slowfast/__init__.py': '',
    'slowfast/utils/__init__.py': '',
    'slowfast/utils/logging.py': 'import logging\nget_logger = logging.getLogger\n',
    'official/__init__.py': '',
    'official/build.py': ('class _Registry:\n    def register(self):\n'
                          '        return lambda cls: cls\n\n\nMODEL_REGISTRY = _Registry()\n'),
}


def import_official(repo: str, workdir: str):
    """Import the official model file from ``repo`` with the stand-ins of the docstring."""
    if osp.isfile(osp.join(repo, MODEL_FILE)):
        with open(osp.join(repo, MODEL_FILE)) as f:
            source = f.read()
    else:  # a bare clone / mirror
        source = subprocess.run(['git', '-C', repo, 'show', f'HEAD:{MODEL_FILE}'], check=True,
                                capture_output=True, text=True).stdout
    patched = source.replace(", backend='cupy')", ')', 1)
    assert patched != source, 'the backend=cupy line of act_layer was not found'
    files = dict(_STUBS, **{'official/uniformer2d_psnn_try.py': patched})
    for name, text in files.items():
        path = osp.join(workdir, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
    sys.path.insert(0, workdir)
    import official.uniformer2d_psnn_try as module
    return module


def build(module, embed_dim, depth, head_dim, mlp_ratio, num_frames, crop, num_classes):
    ns = SimpleNamespace
    cfg = ns(
        UNIFORMER=ns(DEPTH=depth, EMBED_DIM=embed_dim, HEAD_DIM=head_dim, MLP_RATIO=mlp_ratio,
                     QKV_BIAS=True, QKV_SCALE=None, REPRESENTATION_SIZE=None, DROPOUT_RATE=0,
                     ATTENTION_DROPOUT_RATE=0, DROP_DEPTH_RATE=0.0, SPLIT=False, STD=False, T=1),
        MODEL=ns(NUM_CLASSES=num_classes, USE_CHECKPOINT=False, CHECKPOINT_NUM=[0, 0, 0, 0]),
        DATA=ns(TRAIN_CROP_SIZE=crop, INPUT_CHANNEL_NUM=[3], NUM_FRAMES=num_frames))
    module.TN = num_frames
    return module.Uniformer2d_psnn_try(cfg)


def cfg_yaml(c):
    return (f'DATA:\n  NUM_FRAMES: {c["num_frames"]}\n  TRAIN_CROP_SIZE: {c["crop"]}\n'
            f'MODEL:\n  ARCH: uniformer2d_psnn_try\n  NUM_CLASSES: {c["num_classes"]}\n'
            f'UNIFORMER:\n  DEPTH: {c["depth"]}\n  EMBED_DIM: {c["embed_dim"]}\n'
            f'  HEAD_DIM: {c["head_dim"]}\n  MLP_RATIO: {c["mlp_ratio"]}\n')


def write_keys(model, path, repo_commit):
    state = model.state_dict()
    params = sum(p.numel() for p in model.parameters())
    with open(path, 'w') as f:
        f.write(f'''\
# State-dict keys and tensor shapes of the official SVFormer model as released for UCF101
# (13,801,612 parameters, 39 PLIF neurons), the format tools/convert_svformer.py converts.
#
# Source: https://github.com/yult0821/SVFormer commit {repo_commit}, {MODEL_FILE},
#   class Uniformer2d_psnn_try built with exp/svformer_ucf101_scratch/config.yaml and run.sh:
#   EMBED_DIM [128, 256, 384, 512], DEPTH [1, 1, 3, 1], HEAD_DIM 64, MLP_RATIO 2, NUM_FRAMES 16
#   (= the module constant TN), TRAIN_CROP_SIZE 224, NUM_CLASSES 101.  {params:,} parameters.
# Obtained by instantiating that class (spikingjelly 2.0 instead of 0.0.0.0.14: both keep the
# PLIF's 1/tau = sigmoid(w) as a 0-dim parameter "w" and no other state-dict entry) and printing
# state_dict() keys and shapes in registration order, by
# tests/data/svformer_make_official_fixture.py.  Cross-checked against the module tree printed by
# the authors' own run (exp/svformer_ucf101_scratch/test.log, lines 326-603): the same 101
# modules with tensors, with the same types and sizes.  Checkpoints of the SlowFast code hold
# these keys under "model_state" (no "module." prefix: it saves model.module.state_dict()).
#
# Format: "<key> <shape>", shape comma-separated; "()" for 0-dim tensors.
''')
        for key, value in state.items():
            shape = ','.join(map(str, value.shape)) if value.dim() else '()'
            f.write(f'{key} {shape}\n')


def dyadic(t, scale=256):
    return torch.round(t * scale) / scale


@torch.no_grad()
def randomise(model, generator):
    """Random dyadic weights and BatchNorm affines, PLIF taus in [1.5, 3.5]."""
    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(dyadic(randn(*m.weight.shape) * 1.5 / math.sqrt(fan_in)))
            m.bias.copy_(dyadic(randn(*m.bias.shape) * 0.1))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.copy_(dyadic(0.5 + rand(*m.weight.shape)))
            # Q, K and V spike often enough that the attention output reaches proj_lif's
            # threshold (it has no BatchNorm in front)
            shift = 1.5 if name.endswith('attn.norm1') else 0.3
            m.bias.copy_(dyadic(shift + 0.5 * randn(*m.bias.shape)))
        elif hasattr(m, 'w') and isinstance(m.w, nn.Parameter):
            tau = 1.5 + 2.0 * rand(())
            m.w.copy_(-torch.log(tau - 1.0))


def quantised_input(generator, shape):
    codes = torch.clamp(torch.round(torch.randn(*shape, generator=generator) * 8), -24, 24)
    return codes.to(torch.int8)


def calibrate(model, functional, clips):
    """Running statistics of one train-mode pass (cumulative average, i.e. this batch)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model(clips)
    functional.reset_net(model)
    for bn in bns:
        bn.momentum = 0.1
        bn.num_batches_tracked.fill_(600)
    model.eval()


def plif_hooks(model, neuron_cls, records):
    """Record, per PLIF, its spike count and the smallest |h - threshold| over its charges."""
    def hook(m, inputs, output):
        x_seq = inputs[0]
        k = torch.sigmoid(m.w.detach())
        v = torch.zeros_like(x_seq[0])
        margin = math.inf
        for t in range(x_seq.shape[0]):
            h = v + (x_seq[t] - v) * k
            spike = (h >= m.v_threshold).to(h.dtype)
            assert torch.equal(spike, output[t]), 'PLIF re-computation differs'
            margin = min(margin, (h - m.v_threshold).abs().min().item())
            v = h * (1.0 - spike)
        records[names[m]] = (int(output.sum().item()), output.numel(), margin)

    names = {}
    for name, m in model.named_modules():
        if isinstance(m, neuron_cls):
            names[m] = name
            m.register_forward_hook(hook)


def make_tiny(module, seed):
    from spikingjelly.activation_based import functional, neuron
    generator = torch.Generator().manual_seed(seed)
    model = build(module, **TINY)
    randomise(model, generator)
    shape = (2, 3, TINY['num_frames'], TINY['crop'], TINY['crop'])
    calibrate(model, functional, quantised_input(generator, (8, ) + shape[1:]).float() / 8)
    codes = quantised_input(generator, shape)
    records = {}
    plif_hooks(model, neuron.ParametricLIFNode, records)
    with torch.no_grad():
        logits = model(codes.float() / 8)
    functional.reset_net(model)
    return model, codes, logits, records


def main():
    repo = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else osp.dirname(osp.abspath(__file__))
    commit = subprocess.run(['git', '-C', repo, 'rev-parse', 'HEAD'], capture_output=True,
                            text=True).stdout.strip() or 'unknown'
    with tempfile.TemporaryDirectory() as workdir:
        module = import_official(repo, workdir)
        write_keys(build(module, **RELEASE), osp.join(out, 'svformer_official_keys.txt'), commit)
        for seed in range(100):
            model, codes, logits, records = make_tiny(module, seed)
            rates = [count / total for count, total, _ in records.values()]
            margin = min(m for _, _, m in records.values())
            print(f'seed {seed}: firing rates {min(rates):.3f}-{max(rates):.3f}, '
                  f'margin {margin:.2e}')
            if 0.01 <= min(rates) and max(rates) <= 0.9 and margin >= MIN_MARGIN:
                break
        else:
            raise RuntimeError('no seed in 0..99 meets the firing-rate and margin conditions')
    state = model.state_dict()
    torch.save(dict(epoch=600, model_state=state, cfg=cfg_yaml(TINY)),
               osp.join(out, 'svformer_official_tiny.pt'))
    torch.save(dict(input_codes=codes, input_scale=8, logits=logits,
                    spike_counts={name: count for name, (count, _, _) in records.items()},
                    seed=seed, margin=margin, config=TINY, official_commit=commit),
               osp.join(out, 'svformer_official_tiny_io.pt'))
    print(f'seed {seed}; logits {logits.tolist()}')


if __name__ == '__main__':
    main()
