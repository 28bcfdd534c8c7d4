"""NonFiniteLossHook: it stops training at the first NaN / infinite loss term with an error that
names the iteration, the loss terms and the batch's files, before that iteration's checkpoint;
``tools/train.py`` (:func:`merge_train_args`) adds it unless ``--allow-nonfinite``."""
import argparse
import glob
import importlib.util
import math
import os.path as osp
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmpose.structures import PoseDataSample
from mmseg.structures import SegDataSample

import mmspike.pose  # noqa: F401  (the pose parts, registered in mmpose's registries)
from helpers import REPO, shrink_pose_config
from mmspike.datasets.synthetic.pose_clips import write_dataset
from mmspike.engine.runner import ensure_nonfinite_loss_check, merge_train_args
from mmspike.hooks import NonFiniteLossError, NonFiniteLossHook

POSE_DEMO = osp.join(REPO, 'configs', 'spikevideoformer_pose_demo.py')


class RecordingLogger:

    def __init__(self):
        self.errors = []

    def error(self, message):
        self.errors.append(message)


def fake_runner(iter_, epoch=0, batches=10, last_ckpt=None):
    """What the hook reads of a Runner in an epoch-based loop: iter, epoch, the loop's
    dataloader length, the logger and the message hub's ``last_ckpt``."""
    hub = MessageHub.get_instance(f'nonfinite_{iter_}_{epoch}_{last_ckpt}')
    if last_ckpt is not None:
        hub.update_info('last_ckpt', last_ckpt)
    return SimpleNamespace(iter=iter_, epoch=epoch, max_iters=1000,
                           train_loop=SimpleNamespace(dataloader=[None] * batches),
                           logger=RecordingLogger(), message_hub=hub)


def action_batch(*names):
    samples = []
    for name in names:
        sample = ActionDataSample()
        sample.set_metainfo(dict(img_shape=(32, 32), filename=f'/data/videos/{name}'))
        samples.append(sample)
    return dict(inputs=[torch.zeros(1)] * len(samples), data_samples=samples)


def pose_sample(first):
    sample = PoseDataSample()
    ids = list(range(first, first + 8, 2))
    sample.set_metainfo(dict(
        img_paths=[f'/pose/subject03/imgs/fullpic{i:04d}.jpg' for i in ids],
        action='subject03_group1_time1', subject=3, frame_ids=ids, sample_idx=first // 4))
    return sample


def raise_from(hook, runner, outputs, data_batch, batch_idx=0):
    with pytest.raises(NonFiniteLossError) as info:
        hook.after_train_iter(runner, batch_idx, data_batch, outputs)
    message = str(info.value)
    assert runner.logger.errors == [message]  # logged as it is raised
    return info.value, message


@pytest.mark.parametrize('bad, shown', [(math.nan, 'nan'), (math.inf, 'inf'),
                                        (-math.inf, '-inf')])
def test_tensor_terms_name_iteration_terms_and_files(bad, shown):
    runner = fake_runner(iter_=14, epoch=1, batches=10, last_ckpt='/runs/demo/epoch_1.pth')
    outputs = dict(loss=torch.tensor(bad) + 0.5, loss_cls=torch.tensor(bad),
                   loss_aux=torch.tensor(0.25), top1_acc=torch.tensor(0.5))
    error, message = raise_from(NonFiniteLossHook(), runner, outputs,
                                action_batch('a.mp4', 'b.mp4'), batch_idx=4)
    assert isinstance(error, FloatingPointError)
    assert 'non-finite loss at iteration 15 (epoch 2, batch 5 of 10): ' in message, message
    assert (f'loss={shown}, loss_cls={shown}, loss_aux=0.25 (non-finite: loss, loss_cls); '
            'other outputs: top1_acc=0.5.') in message, message
    assert '[0] filename=/data/videos/a.mp4\n' in message, message
    assert '[1] filename=/data/videos/b.mp4\n' in message, message
    assert 'The last checkpoint written is /runs/demo/epoch_1.pth.' in message, message
    assert '--allow-nonfinite' in message
    assert error.iteration == 15 and error.ranks == [0]
    assert set(error.losses) == {'loss', 'loss_cls', 'loss_aux'}
    assert error.losses['loss_aux'] == 0.25 and str(error.losses['loss_cls']) == shown
    assert error.samples == ['[0] filename=/data/videos/a.mp4',
                             '[1] filename=/data/videos/b.mp4']


@pytest.mark.parametrize('bad, shown', [(math.nan, 'nan'), (math.inf, 'inf')])
def test_float_terms_and_pose_samples(bad, shown):
    """Floats (a model's own train_step may return them), the pose clips' file lists (the first
    and the count) and identifiers; no checkpoint yet."""
    runner = fake_runner(iter_=0)
    outputs = dict(loss=bad, loss_pose=np.float32(bad), loss_velocity=0.125, mpjpe=310.5)
    batch = dict(inputs=torch.zeros(2), data_samples=[pose_sample(0), pose_sample(8)])
    error, message = raise_from(NonFiniteLossHook(), runner, outputs, batch)
    assert 'at iteration 1 (epoch 1, batch 1 of 10): ' in message, message
    assert (f'loss={shown}, loss_pose={shown}, loss_velocity=0.125 (non-finite: loss, '
            'loss_pose); other outputs: mpjpe=310.5.') in message, message
    assert ('[1] img_paths=[/pose/subject03/imgs/fullpic0008.jpg, ... (4 files)], '
            'sample_idx=2, action=subject03_group1_time1, subject=3, '
            'frame_ids=[8, 10, 12, 14]\n') in message, message
    assert '[0] img_paths=[/pose/subject03/imgs/fullpic0000.jpg, ... (4 files)]' in message
    assert 'No checkpoint has been written in this run.' in message
    assert error.iteration == 1 and error.losses['loss_velocity'] == 0.125


def test_finite_losses_pass_and_only_loss_terms_count():
    hook = NonFiniteLossHook()
    runner = fake_runner(iter_=3)
    batch = action_batch('a.mp4')
    for outputs in (dict(loss=torch.tensor(0.7), loss_cls=torch.tensor(0.7),
                         top1_acc=torch.tensor(math.nan)),  # a metric, not a loss
                    dict(loss=0.7, loss_cls=np.float64(0.7), loss_list=[torch.ones(3), 1.0]),
                    dict(loss=torch.tensor([1.0, 2.0]), loss_name='l1'),
                    dict(acc=torch.tensor(math.inf)), {}, None):
        hook.after_train_iter(runner, 3, batch, outputs)
    assert runner.logger.errors == []


def test_multi_element_and_list_terms():
    runner = fake_runner(iter_=6)
    outputs = dict(loss=torch.tensor(1.0), loss_aux=[torch.tensor(0.5), torch.tensor(math.nan)],
                   loss_map=torch.tensor([[1.0, math.inf], [math.nan, 2.0]]))
    error, message = raise_from(NonFiniteLossHook(), runner, outputs, action_batch('c.mp4'))
    assert ('loss=1, loss_aux=1 of 2 values non-finite (first nan), loss_map=2 of 4 values '
            'non-finite (first inf) (non-finite: loss_aux, loss_map)') in message, message
    assert math.isnan(error.losses['loss_aux']) and error.losses['loss_map'] == math.inf


def test_segmentation_files_other_path_keys_and_sample_limit():
    samples = []
    for i in range(5):
        sample = SegDataSample()
        sample.set_metainfo(dict(img_path=f'/seg/img/{i}.png', seg_map_path=f'/seg/ann/{i}.png',
                                 depth_path=f'/seg/depth/{i}.npy', img_shape=(16, 16)))
        samples.append(sample)
    runner = fake_runner(iter_=0)
    error, message = raise_from(NonFiniteLossHook(max_samples=2), runner,
                                dict(loss=torch.tensor(math.nan)), dict(data_samples=samples))
    assert error.samples == [
        '[0] img_path=/seg/img/0.png, seg_map_path=/seg/ann/0.png, depth_path=/seg/depth/0.npy',
        '[1] img_path=/seg/img/1.png, seg_map_path=/seg/ann/1.png, depth_path=/seg/depth/1.npy',
        '... and 3 more samples']
    # dict samples (a model whose data_samples are dicts) and a frame directory
    error, _ = raise_from(NonFiniteLossHook(), fake_runner(iter_=0),
                          dict(loss=math.nan), dict(data_samples=[
                              dict(frame_dir='/rawframes/v1', total_frames=30)]))
    assert error.samples == ['[0] frame_dir=/rawframes/v1']


def test_samples_without_file_names_say_how_to_keep_them():
    """MMAction2's PackActionInputs keeps no file name by default: the message says so."""
    sample = ActionDataSample()
    sample.set_metainfo(dict(img_shape=(32, 32)))
    runner = fake_runner(iter_=0)
    error, message = raise_from(NonFiniteLossHook(), runner, dict(loss=math.nan),
                                dict(data_samples=[sample, sample]))
    assert ("(the 2 data samples name no file; their metainfo keys: img_shape.  Keep a file "
            "key in the packing step, e.g. PackActionInputs(meta_keys=('img_shape', "
            "'filename')) for MMAction2 videos)") in message, message
    assert error.samples == [message.split('samples:\n  ')[1].split('\n')[0]]
    # identifiers without files (MMAction2's AVA keeps video_id and timestamp) are listed
    sample = ActionDataSample()
    sample.set_metainfo(dict(img_shape=(32, 32), video_id='abc', timestamp=902))
    error, message = raise_from(NonFiniteLossHook(), fake_runner(iter_=0),
                                dict(loss=math.nan), dict(data_samples=[sample]))
    assert error.samples[0] == '[0] video_id=abc, timestamp=902'
    assert error.samples[1].startswith('(the 1 data samples name no file; their metainfo keys: '
                                       'img_shape, timestamp, video_id.'), error.samples
    error, message = raise_from(NonFiniteLossHook(), fake_runner(iter_=0),
                                dict(loss=math.nan), None)
    assert '(the batch has no data_samples: its files are unknown)' in message


def test_max_samples_must_be_positive():
    with pytest.raises(ValueError, match='max_samples must be >= 1, got 0'):
        NonFiniteLossHook(max_samples=0)


# --- a real training run --------------------------------------------------------------------

CLIP_LEN, SIZE, BAD_FRAME = 4, 32, 12


@pytest.fixture(scope='module')
def pose_clips_with_absurd_joint(tmp_path_factory):
    """One training sequence (subject 3) of 16 frames: with 4-frame clips, gap 2 and stride 4 its
    clips are frames 0-6, 4-10 and 8-14.  Frame 12's joint 5 is put at 3e38 m, as corrupt bytes
    in an annotation file would: a finite value (it passes the datasets' NaN / Inf check and
    float32), but the third clip's losses overflow to inf."""
    root = tmp_path_factory.mktemp('nonfinite') / 'pose_clips'
    write_dataset(root, subjects=(3, ), sequences_per_subject=1, frames_per_sequence=16,
                  img_size=SIZE)
    path, = glob.glob(str(root / 'mmhpsd_events' / '*' / 'poses' / f'pose_{BAD_FRAME:04d}.npz'))
    with np.load(path) as pose:
        arrays = dict(pose)
    arrays['joints3d'][5] = 3e38
    np.savez(path, **arrays)
    return root


def test_training_stops_at_the_corrupt_target_before_its_checkpoint(
        pose_clips_with_absurd_joint, tmp_path):
    """The pose demo (arch 'tiny', batches of one clip, in order) through tools/train.py's
    config step and mmengine's Runner, saving a checkpoint every iteration: the third clip's
    corrupt target stops training at iteration 3 with its files named; iterations 1 and 2 were
    checkpointed and logged, iteration 3 neither."""
    work_dir = tmp_path / 'work'
    cfg = shrink_pose_config(Config.fromfile(POSE_DEMO), pose_clips_with_absurd_joint,
                             work_dir, clip_len=CLIP_LEN, size=SIZE, tiny=True)
    cfg.train_dataloader.batch_size = 1
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    # the mean pose of the training targets would be absurd too, and so every loss from the start
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'MeanPoseInitHook']
    cfg.train_cfg.max_iters = 5
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    args = argparse.Namespace(amp=False, resume=None, no_validate=True, seed=None)
    cfg = merge_train_args(cfg, args)  # adds the hook, as tools/train.py does
    # a name of its own: mmengine shares the logger and visualizer of runners with the same
    # experiment name (the timestamp, to the second), whose files would be another test's
    cfg.experiment_name = f'nonfinite_loss_{uuid.uuid4().hex}'
    runner = Runner.from_cfg(cfg)
    order = [type(h).__name__ for h in runner.hooks]
    assert order.index('NonFiniteLossHook') < min(order.index('CheckpointHook'),
                                                  order.index('LoggerHook')), order
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert info.value.iteration == 3 and runner.iter == 2, message
    assert message.startswith('non-finite loss at iteration 3 of 5: loss=inf, loss_pose=inf, '
                              'loss_velocity=inf (non-finite: loss, loss_pose, loss_velocity); '
                              'other outputs: mpjpe=inf.'), message
    frames = pose_clips_with_absurd_joint / 'mmhpsd_grayscale_img'
    action, = (p.name for p in frames.iterdir())
    first = str(frames / action / 'imgs' / 'fullpic0008.jpg')
    assert (f'[0] img_paths=[{first}, ... (4 files)], sample_idx=2, action={action}, '
            'subject=3, frame_ids=[8, 10, 12, 14]') in message, message
    assert f'The last checkpoint written is {work_dir / "iter_2.pth"}.' in message, message

    checkpoints = sorted(osp.basename(p) for p in glob.glob(str(work_dir / '*.pth')))
    assert checkpoints == ['iter_1.pth', 'iter_2.pth'], checkpoints
    assert (work_dir / 'last_checkpoint').read_text().strip() == str(work_dir / 'iter_2.pth')
    # the loss of iteration 3 reached no logger (the runner's own message hub: its log files
    # and visualizer can be shared with other runners of the process, whose files they keep)
    logged = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(logged) == 2 and all(math.isfinite(v) for v in logged), logged


# --- tools/train.py's wiring ----------------------------------------------------------------


def train_args(**kwargs):
    return argparse.Namespace(**dict(dict(amp=False, resume=None, no_validate=False, seed=None),
                                     **kwargs))


def sgd_config(**kwargs):
    return Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD')), **kwargs))


def test_merge_train_args_adds_the_hook_once_unless_allowed():
    # a Namespace without allow_nonfinite (as older callers build) gets the hook
    cfg = merge_train_args(sgd_config(custom_hooks=[dict(type='SpikeResetHook')]), train_args())
    assert cfg.custom_hooks == [dict(type='SpikeResetHook'), dict(type='NonFiniteLossHook')]
    cfg = merge_train_args(cfg, train_args(allow_nonfinite=False))
    assert cfg.custom_hooks == [dict(type='SpikeResetHook'), dict(type='NonFiniteLossHook')]
    assert merge_train_args(sgd_config(), train_args(allow_nonfinite=False)).custom_hooks == [
        dict(type='NonFiniteLossHook')]
    # --allow-nonfinite: none added, and the config's own is taken out
    assert 'custom_hooks' not in merge_train_args(sgd_config(),
                                                  train_args(allow_nonfinite=True))
    cfg = merge_train_args(sgd_config(custom_hooks=[dict(type='NonFiniteLossHook'),
                                                    dict(type='SpikeResetHook')]),
                           train_args(allow_nonfinite=True))
    assert cfg.custom_hooks == [dict(type='SpikeResetHook')]


@pytest.mark.parametrize('configured', [
    dict(type='NonFiniteLossHook', max_samples=4), dict(type='mmspike.NonFiniteLossHook'),
    dict(type=NonFiniteLossHook), NonFiniteLossHook()])
def test_a_configured_hook_is_kept_and_not_added_again(configured):
    cfg = ensure_nonfinite_loss_check(sgd_config(custom_hooks=[configured]))
    assert len(cfg.custom_hooks) == 1 and cfg.custom_hooks[0] == configured
    cfg = ensure_nonfinite_loss_check(sgd_config(default_hooks=dict(nonfinite=configured)))
    assert 'custom_hooks' not in cfg or cfg.custom_hooks == []


def test_train_tool_option():
    spec = importlib.util.spec_from_file_location('train_tool',
                                                  osp.join(REPO, 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.parse_args(['c.py']).allow_nonfinite is False
    assert tool.parse_args(['c.py', '--allow-nonfinite']).allow_nonfinite is True


@pytest.mark.parametrize('rank, local_loss', [(0, 0.5), (1, math.nan)])
def test_distributed_every_rank_stops_and_the_bad_one_names_its_batch(rank, local_loss,
                                                                       monkeypatch):
    """Two processes, rank 1's loss NaN: the hook's all-reduce of one flag per rank (simulated
    here: the other rank's flag is added as torch.distributed would) stops both at the same
    iteration, so rank 0 saves no checkpoint and nobody waits in the next step's all-reduce."""
    import mmengine.dist

    from mmspike.hooks import nonfinite_loss_hook as module
    calls = []

    def all_reduce(flags, op):
        calls.append((flags.tolist(), op))
        flags[1 - rank] += 1.0 if rank == 0 else 0.0  # the other rank's flag

    monkeypatch.setattr(module, '_world_size', lambda: 2)
    monkeypatch.setattr(module, '_rank', lambda: rank)
    monkeypatch.setattr(mmengine.dist, 'all_reduce', all_reduce)
    runner = fake_runner(iter_=7, last_ckpt='/runs/demo/iter_7.pth')
    error, message = raise_from(NonFiniteLossHook(), runner,
                                dict(loss=torch.tensor(local_loss)), action_batch(f'r{rank}.mp4'))
    assert calls == [([0.0, 0.0] if rank == 0 else [0.0, 1.0], 'sum')]
    assert error.ranks == [1] and error.iteration == 8
    if rank == 0:
        assert message.startswith('non-finite loss at iteration 8 (epoch 1, batch 1 of 10) on '
                                  "rank(s) 1 (their error names the loss terms and the batch's "
                                  'files); this rank (0) stops with them. The last checkpoint '
                                  'written is /runs/demo/iter_7.pth.'), message
        assert 'r0.mp4' not in message and error.samples == []
    else:
        assert message.startswith('non-finite loss at iteration 8 (epoch 1, batch 1 of 10) on '
                                  'rank 1: loss=nan (non-finite: loss).'), message
        assert '[0] filename=/data/videos/r1.mp4' in message, message
    # no rank non-finite: no error, one all-reduce per iteration
    monkeypatch.setattr(mmengine.dist, 'all_reduce', lambda flags, op: calls.append(op))
    NonFiniteLossHook().after_train_iter(fake_runner(iter_=8), 0, action_batch('x.mp4'),
                                         dict(loss=torch.tensor(0.5)))
    assert calls[-1] == 'sum'
