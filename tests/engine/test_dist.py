"""Distributed training on the CPU: torchrun (gloo) through ``tools/dist_train.sh`` equals one
process on the same global batch, with SyncBN; the pieces behind it (backend choice, CPU DDP
wrapper config, all-reduce SyncBN, dataset preparation behind a barrier)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmspike.engine.dist import (AllReduceSyncBatchNorm, backend_for_device, convert_sync_batchnorm,
                          cpu_model_wrapper_cfg)
from mmspike.layers.temporal import TemporalBatchNorm1d, TemporalBatchNorm2d

from helpers import REPO  # noqa: E402
PER_RANK_BATCH = 2
ITERS = 3

# Recorded on every rank: the loss, the clips and whether the neurons were reset before each
# iteration; the parameters at the end; the val metrics (FiringRateHook's rates included).
RECORD_HOOK = '''
import json, os
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmspike.neurons import is_spiking_neuron
from torch.nn.modules.batchnorm import _BatchNorm


@HOOKS.register_module()
class RecordRankHook(Hook):
    priority = 'LOWEST'

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.iters = []

    def _model(self, runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        neurons = [m for m in self._model(runner).modules() if is_spiking_neuron(m)]
        self.iters.append(dict(
            files=[os.path.basename(s.filename) for s in data_batch['data_samples']],
            neurons=len(neurons), reset=all(m.v is None for m in neurons)))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        neurons = [m for m in self._model(runner).modules() if is_spiking_neuron(m)]
        self.iters[-1].update(loss=float(outputs['loss']),
                              charged=all(m.v is not None for m in neurons),
                              sync_bn=sorted({type(m).__name__ for m in self._model(runner)
                                              .modules() if isinstance(m, _BatchNorm)}))

    def after_val_epoch(self, runner, metrics=None):
        self.val = {k: float(v) for k, v in (metrics or {}).items()}

    def after_train(self, runner):
        params = {k: v.detach().double().flatten().tolist()
                  for k, v in self._model(runner).state_dict().items()
                  if torch.is_floating_point(v)}
        with open(os.path.join(self.out_dir, f'rank{get_rank()}.json'), 'w') as f:
            json.dump(dict(iters=self.iters, params=params, val=getattr(self, 'val', None),
                           world_size=runner.world_size), f)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_config(tmp_path, batch_size: int) -> str:
    """The SVFormer demo shrunk to 4 frames of 32 x 32 on a tiny embedded dataset in
    ``tmp_path``, ``ITERS`` deterministic iterations in dataset order, then one validation."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'svformer_demo.py'))
    frames, size = 4, 32
    root = str(tmp_path / 'motion_clips')
    cfg.embedded_dataset = dict(root=root, seed=0, train_per_class=2, val_per_class=1,
                                test_per_class=1, num_frames=frames, size=size)
    cfg.model.backbone.update(num_frames=frames, img_size=size)
    cfg.model.cls_head.update(num_frames=frames, feat_size=size // 32)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=batch_size if split == 'train' else PER_RANK_BATCH,
                      num_workers=0, persistent_workers=False)
        loader.sampler = dict(type='DefaultSampler', shuffle=False)
        loader.dataset.ann_file = f'{root}/motion_clips_{split}_list_videos.txt'
        loader.dataset.data_prefix = dict(video=f'{root}/videos')
        for step in loader.dataset.pipeline:
            if step['type'] == 'SampleFrames':
                step['clip_len'] = frames
            if step['type'] == 'Resize':
                step['scale'] = (size, size)
            if step['type'] == 'PackActionInputs':  # RecordRankHook logs the clips' files
                step['meta_keys'] = ('img_shape', 'filename')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=ITERS, val_interval=ITERS)
    cfg.val_evaluator = [dict(type='AccMetric'), dict(type='SpikeEnergyMetric')]
    cfg.param_scheduler = []
    # SGD, not the demo's AdamW: Adam's first steps are about lr * sign(gradient), which turns
    # float rounding in near-zero gradients into lr-sized differences
    cfg.optim_wrapper.optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=ITERS, by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='RecordRankHook',
                                                      out_dir=str(tmp_path / 'out'))]
    cfg.custom_imports = dict(imports=['mmspike', 'mmspike.action', 'record_rank_hook'],
                              allow_failed_imports=False)
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.sync_bn = 'torch'  # mmengine's key; on the CPU: mmspike's all-reduce SyncBN
    path = str(tmp_path / f'svformer_b{batch_size}.py')
    cfg.dump(path)
    return path


def run(command, tmp_path, **env):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}', PYTHON=sys.executable, **env)
    env.pop('LOCAL_RANK', None)
    result = subprocess.run(command, cwd=str(tmp_path), env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


def read_ranks(out_dir, world_size):
    records = []
    for rank in range(world_size):
        with open(osp.join(out_dir, f'rank{rank}.json')) as f:
            records.append(json.load(f))
    return records


def max_param_difference(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    worst = (0.0, '')
    for key in a:
        diff = (torch.tensor(a[key]) - torch.tensor(b[key])).abs().max().item()
        worst = max(worst, (diff, key))
    return worst


@pytest.mark.skipif(not torch.distributed.is_available() or not
                    torch.distributed.is_gloo_available(),
                    reason='torch.distributed with the gloo backend is not available')
def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    (tmp_path / 'record_rank_hook.py').write_text(RECORD_HOOK)
    tools = osp.join(REPO, 'tools')
    # two processes (torchrun, gloo: the configs say nccl), batch B each
    two = tmp_path / 'two'
    (tmp_path / 'out').mkdir()
    out = run(['bash', osp.join(tools, 'dist_train.sh'), write_config(tmp_path, PER_RANK_BATCH),
               '2', '--work-dir', str(two)], tmp_path, PORT=str(free_port()))
    assert "torch.distributed backend 'gloo' (the config asks for 'nccl'" in out, out[-3000:]
    ranks = read_ranks(tmp_path / 'out', 2)
    os.rename(tmp_path / 'out', tmp_path / 'out_two')
    # one process, batch 2B
    (tmp_path / 'out').mkdir()
    run([sys.executable, osp.join(tools, 'train.py'),
         write_config(tmp_path, 2 * PER_RANK_BATCH), '--work-dir', str(tmp_path / 'one')],
        tmp_path)
    single, = read_ranks(tmp_path / 'out', 1)

    assert [r['world_size'] for r in ranks] == [2, 2] and single['world_size'] == 1
    assert len(single['iters']) == ITERS and all(len(r['iters']) == ITERS for r in ranks)
    for it in range(ITERS):
        global_batch = ranks[0]['iters'][it]['files'] + ranks[1]['iters'][it]['files']
        one = single['iters'][it]
        # DefaultSampler interleaves the ranks' indices: the union is the 1-process batch
        assert sorted(global_batch) == sorted(one['files']), (it, global_batch, one['files'])
        assert len(set(global_batch)) == 2 * PER_RANK_BATCH
        for rank, record in enumerate(ranks):
            step = record['iters'][it]
            assert step['reset'] and step['charged'] and step['neurons'] == one['neurons'] > 0, \
                (rank, it, step)
            assert step['sync_bn'] == ['AllReduceSyncBatchNorm'], step['sync_bn']
        assert one['sync_bn'] != ['AllReduceSyncBatchNorm']  # one process: plain BatchNorms
        # the global loss is the mean of the ranks' losses (equal batch sizes)
        mean_loss = (ranks[0]['iters'][it]['loss'] + ranks[1]['iters'][it]['loss']) / 2
        assert mean_loss == pytest.approx(one['loss'], abs=1e-5), (it, mean_loss, one['loss'])
    # DDP keeps the ranks identical, and both equal the single process
    diff, key = max_param_difference(ranks[0]['params'], ranks[1]['params'])
    assert diff == 0.0, f'ranks differ by {diff} in {key}'
    diff, key = max_param_difference(ranks[0]['params'], single['params'])
    assert diff <= 1e-5, f'2 processes vs 1 differ by {diff} in {key}'
    # the val loop: FiringRateHook's rates and the energy metric are totals over both ranks
    for key in ('acc/top1', 'firing_rate_mean', 'firing_rate_overall'):
        assert ranks[0]['val'][key] == pytest.approx(single['val'][key], abs=1e-5), key
        assert ranks[1]['val'][key] == ranks[0]['val'][key], key
    energy = [k for k in single['val'] if 'energy' in k or 'mj' in k.lower()]
    assert energy, sorted(single['val'])
    for key in energy:
        assert ranks[0]['val'][key] == pytest.approx(single['val'][key], rel=1e-5), key


def test_backend_for_device():
    assert backend_for_device('nccl', cuda_available=False) == 'gloo'
    assert backend_for_device('NCCL', cuda_available=False) == 'gloo'
    assert backend_for_device('nccl', cuda_available=True) == 'nccl'
    assert backend_for_device('gloo', cuda_available=True) == 'gloo'
    assert backend_for_device('mpi', cuda_available=False) == 'mpi'


def test_cpu_model_wrapper_cfg_drops_device_ids():
    cfg = cpu_model_wrapper_cfg(None, find_unused_parameters=True)
    assert cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=True, device_ids=None)
    given = dict(type='MMDistributedDataParallel', broadcast_buffers=True)
    assert cpu_model_wrapper_cfg(given) == dict(given, device_ids=None)
    assert 'device_ids' not in given


def test_convert_sync_batchnorm_shares_parameters_and_keeps_single_process_results():
    torch.manual_seed(0)
    model = nn.ModuleDict(dict(t2=TemporalBatchNorm2d(3, 4), t1=TemporalBatchNorm1d(5, 4),
                               head=nn.BatchNorm3d(6)))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    inputs = dict(t2=torch.randn(4, 2, 3, 5, 5), t1=torch.randn(4, 2, 5, 7),
                  head=torch.randn(2, 6, 3, 2, 2))
    reference = {k: model[k](x) for k, x in inputs.items()}
    weight = model['t2'].bn.weight
    converted = convert_sync_batchnorm(model)
    assert converted is model
    kinds = [type(m) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert kinds == [AllReduceSyncBatchNorm] * 3, kinds
    assert model['t2'].bn.weight is weight
    assert int(model['t2'].bn.num_batches_tracked) == 1
    for key, x in inputs.items():  # no process group: an ordinary BatchNorm
        assert torch.allclose(model[key](x), reference[key], atol=1e-6), key
    model.eval()
    assert torch.allclose(model['head'](inputs['head']), nn.functional.batch_norm(
        inputs['head'], model['head'].running_mean, model['head'].running_var,
        model['head'].weight, model['head'].bias, False), atol=1e-6)


SYNC_BN_WORKER = '''
import importlib.util, os, sys, torch
import torch.distributed as dist
# the module alone (it imports only torch): ``import mmspike`` would double the start-up time
spec = importlib.util.spec_from_file_location('mmspike_dist', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
AllReduceSyncBatchNorm = module.AllReduceSyncBatchNorm
dist.init_process_group('gloo')
rank = dist.get_rank()
torch.manual_seed(0)
x = torch.randn(6, 3, 4, 4, requires_grad=True)
weight = torch.rand(3) + 0.5
bias = torch.randn(3)
# the reference: one BatchNorm on the whole batch, loss summed over both halves' means
ref = torch.nn.BatchNorm2d(3)
ref.weight.data.copy_(weight); ref.bias.data.copy_(bias)
y = ref(x)
loss = (y[:3] * torch.arange(48.).view(1, 3, 4, 4)).mean() + (y[3:] ** 2).mean()
loss.backward()
sync = AllReduceSyncBatchNorm(3)
sync.weight.data.copy_(weight); sync.bias.data.copy_(bias)
part = x.detach()[3 * rank:3 * rank + 3].clone().requires_grad_()
z = sync(part)
mine = (z * torch.arange(48.).view(1, 3, 4, 4)).mean() if rank == 0 else (z ** 2).mean()
mine.backward()
for p in (sync.weight, sync.bias):
    dist.all_reduce(p.grad)
checks = dict(
    out=(z - y.detach()[3 * rank:3 * rank + 3]).abs().max().item(),
    grad_x=(part.grad - x.grad[3 * rank:3 * rank + 3]).abs().max().item(),
    grad_w=(sync.weight.grad - ref.weight.grad).abs().max().item(),
    grad_b=(sync.bias.grad - ref.bias.grad).abs().max().item(),
    running_mean=(sync.running_mean - ref.running_mean).abs().max().item(),
    running_var=(sync.running_var - ref.running_var).abs().max().item())
print('RANK', rank, checks, flush=True)
bad = {k: v for k, v in checks.items() if v > 1e-5}
sys.exit(1 if bad else 0)
'''


def test_all_reduce_sync_batchnorm_equals_batchnorm_on_the_global_batch(tmp_path):
    """Two gloo processes, half a batch each: outputs, input and parameter gradients (the
    sum over processes, as DDP adds them) and running statistics equal one BatchNorm on the
    whole batch."""
    script = tmp_path / 'sync_bn_worker.py'
    script.write_text(SYNC_BN_WORKER)
    out = run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
               f'--master_port={free_port()}', str(script),
               osp.join(REPO, 'mmspike', 'engine', 'dist.py')], tmp_path)
    assert out.count('RANK') == 2, out
