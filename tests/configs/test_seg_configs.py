"""The video segmentation configs: they load and build in MMSeg's scope; the VSPW and
Cityscapes-sequence recipes train and test through tools/train.py and tools/test.py on tiny trees
in the real layouts (with SpikeEnergyMetric beside the IoU metric), and the demo config trains
through mmengine's Runner in the mmseg scope."""
import math
import os.path as osp
import re
from pathlib import Path

import pytest

pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402

import mmspike.seg  # noqa: E402,F401
from helpers import run_tool, train_then_test, train_two_iterations  # noqa: E402
from mmspike.backbones import SpikeVideoFormer  # noqa: E402
from mmspike.datasets.synthetic.seg_clips import write_dataset  # noqa: E402
from mmspike.estimators.seg import VideoEncoderDecoder  # noqa: E402
from mmspike.neurons import MultiStepILIF, MultiStepLIF  # noqa: E402
from seg_fixtures import write_cityscapes, write_vspw  # noqa: E402

from helpers import REPO  # noqa: E402
from mmspike.apis import build_model  # noqa: E402
CONFIGS = osp.join(REPO, 'configs')
VSPW = osp.join(CONFIGS, 'spikevideoformer_seg_vspw.py')
CITYSCAPES = osp.join(CONFIGS, 'spikevideoformer_seg_cityscapes_ilif4.py')
DEMO = osp.join(CONFIGS, 'spikevideoformer_seg_demo.py')
T = 4


@pytest.mark.parametrize('path, arch, clip_len, classes, neuron', [
    (VSPW, 'small', 8, 124, MultiStepLIF), (CITYSCAPES, 'small', 4, 19, MultiStepILIF),
    (DEMO, 'tiny', 8, 6, MultiStepLIF)])
def test_config_loads_and_builds(path, arch, clip_len, classes, neuron):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mmspike.seg' in cfg.custom_imports['imports']
    model = build_model(cfg)
    assert type(model) is VideoEncoderDecoder
    assert isinstance(model.backbone, SpikeVideoFormer)
    assert model.backbone.embed_dims == SpikeVideoFormer.arch_zoo[arch]['embed_dims']
    assert model.backbone.num_frames == clip_len
    assert tuple(model.backbone.out_indices) == (0, 1, 2, 3)
    assert model.decode_head.num_classes == classes
    assert list(model.decode_head.in_channels) == list(model.backbone.embed_dims)
    for part in (model.backbone, model.decode_head):
        neurons = [m for m in part.modules() if isinstance(m, (MultiStepLIF, MultiStepILIF))]
        assert neurons and all(type(m) is neuron for m in neurons)
    assert cfg.train_dataloader.dataset.clip_len == clip_len
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoIoUMetric', 'SpikeEnergyMetric']


def test_demo_config_names_the_embedded_dataset_and_its_classes():
    from mmspike.datasets.synthetic import seg_clips
    cfg = Config.fromfile(DEMO)
    assert cfg.embedded_dataset['generator'] == 'seg_clips'
    assert cfg.embedded_dataset['root'] == cfg.train_dataloader.dataset.data_root
    meta = cfg.train_dataloader.dataset.metainfo
    assert tuple(meta['classes']) == seg_clips.CLASSES and meta['own_classes']
    # one overlay colour per class, unlike the objects' own colours (readable --show-dir)
    assert len(meta['palette']) == len(seg_clips.CLASSES)
    assert not {tuple(c) for c in meta['palette']} & {tuple(c) for c in seg_clips.PALETTE}
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.test_dataloader.dataset.clip_len is None  # whole videos: mVC_8 and mVC_16


def shrink(cfg, root, work_dir, whole_videos):
    """Tiny version of a segmentation config on ``root``: T-frame clips, small frames, the
    'tiny' backbone, batches of 1, no workers, 2 training iterations."""
    cfg.embedded_dataset = None
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=1, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=str(root))
        if split == 'train' or not whole_videos:
            loader.dataset.clip_len = T
        if split == 'train' and 'stride' in loader.dataset:
            loader.dataset.stride = T
        for step in loader.dataset.pipeline:
            if 'scale' in step:
                step['scale'] = (48, 32)
            if 'crop_size' in step:
                step['crop_size'] = (32, 32)
    widths = SpikeVideoFormer.arch_zoo['tiny']['embed_dims']
    cfg.model.backbone.update(arch='tiny', num_frames=T)
    cfg.model.decode_head.update(in_channels=widths, channels=16)
    cfg.model.test_cfg = dict(mode='whole', clip_len=T)
    train_two_iterations(cfg, work_dir)
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.parametrize('path', [VSPW, CITYSCAPES])
def test_config_trains_and_tests_with_tools(path, tmp_path):
    if path == VSPW:
        root = write_vspw(tmp_path / 'VSPW_480p')
    else:
        root = write_cityscapes(tmp_path / 'cityscapes', split='train')
        write_cityscapes(tmp_path / 'cityscapes', split='val')
    work_dir = tmp_path / 'work'
    cfg = shrink(Config.fromfile(path), root, work_dir, whole_videos=path == VSPW)
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoIoUMetric', 'SpikeEnergyMetric']
    cfg_path = tmp_path / 'tiny_seg.py'
    cfg.dump(str(cfg_path))
    ckpt, summary = train_then_test(cfg_path, work_dir, tmp_path)
    assert ckpt.endswith('iter_2.pth') and osp.isfile(ckpt)
    for key in ('mIoU=', 'aAcc=', 'energy/mJ_per_sample=', 'energy/mJ_per_frame=',
                'energy/firing_rate='):
        assert key in summary, summary
    values = dict(item.split('=') for item in summary.split(': ', 1)[1].split(', '))
    assert 0 <= float(values['mIoU']) <= 100
    assert float(values['energy/mJ_per_sample']) > 0
    if path == VSPW:  # the energy tool: per clip and per frame of the first test video
        out = run_tool([osp.join(REPO, 'tools', 'analysis', 'energy.py'), cfg_path, ckpt,
                        '--num-clips', '1', '--no-flops', '--out-dir', tmp_path / 'energy'],
                       tmp_path)
        found = re.search(r'compute model: ([0-9.]+) mJ per clip, ([0-9.]+) mJ per frame '
                          r'\(6 frames per clip\)', out)
        assert found, out
        per_clip, per_frame = float(found.group(1)), float(found.group(2))
        assert per_clip > 0 and per_frame == pytest.approx(per_clip / 6, abs=1e-4)


def test_demo_config_trains_through_the_runner_in_mmseg_scope(tmp_path):
    """Runner.from_cfg in the mmseg scope: 2 training iterations, then the test loop with the
    --show-dir hook, which draws ground truth | prediction for every frame of the test video."""
    import cv2
    from mmengine.runner import Runner
    root = tmp_path / 'seg_clips'
    write_dataset(root, train_videos=2, val_videos=1, test_videos=1, frames_per_video=8,
                  img_size=32)
    work_dir = tmp_path / 'work'
    cfg = shrink(Config.fromfile(DEMO), root, work_dir, whole_videos=True)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='SegClipVisualizationHook', out_dir='vis', max_frames=3, frame_step=2)]
    assert cfg.default_scope == 'mmseg'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2 and (Path(work_dir) / 'iter_2.pth').exists()
    loss = runner.message_hub.log_scalars['train/decode.loss_ce'].current()
    assert math.isfinite(float(loss))
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100 and metrics['energy/mJ_per_frame'] > 0
    strip = work_dir / 'vis' / 'video_00003_0.jpg'   # the test video, from frame 0
    image = cv2.imread(str(strip))
    assert image.shape == (3 * 32, 2 * 32, 3)           # frames 0, 2, 4: ground truth | prediction
    frames = sorted(p.name for p in (work_dir / 'vis' / 'video_00003_0').iterdir())
    assert frames == ['00000000.png', '00000002.png', '00000004.png']
