"""The pose and segmentation configs with the stock OpenMMLab entry points: mmengine's
inferencers' collate function, MMPose's ``init_model`` without a checkpoint (the dataset's
MMPose metainfo), and the stock ``tools/test.py --show-dir`` of MMPose and MMSeg on the demo
configs, whose embedded dataset the stock tool does not write (EmbeddedDatasetHook does)."""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from helpers import REPO, run_tool, shrink_pose_config

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
POSE_DEMO = osp.join(REPO, 'configs', 'spikevideoformer_pose_demo.py')
SEG_DEMO = osp.join(REPO, 'configs', 'spikevideoformer_seg_demo.py')


def stock_test_tool(codebase: str) -> str:
    """The stock ``tools/test.py`` of ``codebase`` as pip installs it (``<package>/.mim``)."""
    module = pytest.importorskip(codebase)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools', 'test.py')
    if not osp.isfile(path):
        pytest.skip(f'{codebase} was installed without its .mim tools: no {path}')
    return path


def save_random_checkpoint(cfg_path, ckpt_path):
    """A checkpoint of the config's model with its initial weights, as the stock tools load
    it (``state_dict``)."""
    import torch

    from mmspike.apis import init_model
    model = init_model(str(cfg_path))
    torch.save({'state_dict': model.state_dict()}, str(ckpt_path))
    return ckpt_path


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_inferencers_find_the_collate_function(path):
    """mmengine's BaseInferencer._init_collate looks ``test_dataloader.collate_fn`` up by name
    and falls back to pseudo_collate without one: a dict there fails."""
    from mmengine.dataset import pseudo_collate
    from mmengine.infer import BaseInferencer
    cfg = Config.fromfile(path)
    fake_inferencer = SimpleNamespace(scope=cfg.get('default_scope'))
    assert BaseInferencer._init_collate(fake_inferencer, cfg) is pseudo_collate
    cfg.test_dataloader.collate_fn = dict(type='pseudo_collate')  # what the configs had
    with pytest.raises(TypeError, match='must be a str, got .*ConfigDict'):
        BaseInferencer._init_collate(fake_inferencer, cfg)


def test_mmpose_init_model_without_checkpoint_reads_the_dataset_metainfo():
    pytest.importorskip('mmpose')
    from mmpose.apis import init_model
    from mmpose.apis.inference import dataset_meta_from_config

    from mmspike.datasets.pose.base import skeleton_links
    from mmspike.datasets.synthetic.pose_clips import SMPL_JOINT_NAMES, SMPL_PARENTS
    model = init_model(POSE_DEMO, None, device='cpu')
    meta = model.dataset_meta
    assert meta['dataset_name'] == 'mmhpsd' and meta['num_keypoints'] == 24
    assert meta['keypoint_id2name'] == dict(enumerate(SMPL_JOINT_NAMES))
    assert meta['skeleton_links'] == skeleton_links(SMPL_PARENTS)
    assert meta['num_skeleton_links'] == 23 and meta['skeleton_link_colors'].shape == (23, 3)
    h36m = dataset_meta_from_config(
        Config.fromfile(osp.join(REPO, 'configs', 'spikevideoformer_pose_h36m.py')))
    assert h36m['num_keypoints'] == 17 and h36m['num_skeleton_links'] == 16


def test_mmpose_stock_test_show_dir_writes_pose_videos(tmp_path):
    tool = stock_test_tool('mmpose')
    root, work_dir, show_dir = tmp_path / 'pose_clips', tmp_path / 'work', tmp_path / 'show'
    cfg = shrink_pose_config(Config.fromfile(POSE_DEMO), root, work_dir, clip_len=4, size=32)
    # the stock tool has to write it: the hook in the runtime bases does
    cfg.embedded_dataset = dict(root=str(root), generator='pose_clips', subjects=(1, 3),
                                sequences_per_subject=1, frames_per_sequence=12,
                                img_size=32, seed=0)
    cfg_path = tmp_path / 'pose_demo_tiny.py'
    cfg.dump(str(cfg_path))
    ckpt = save_random_checkpoint(cfg_path, tmp_path / 'random.pth')
    assert not root.exists()
    run_tool([tool, cfg_path, ckpt, '--show-dir', show_dir, '--work-dir', work_dir], tmp_path)
    assert (root / 'meta.json').is_file()
    # the test split is subject 1's one action: one clip, one video
    assert [p.name for p in show_dir.iterdir()] == ['subject01_group1_time1_0.mp4']
    assert (show_dir / 'subject01_group1_time1_0.mp4').stat().st_size > 1000


def test_mmseg_stock_test_show_dir_writes_overlays(tmp_path):
    tool = stock_test_tool('mmseg')
    root, work_dir, show_dir = tmp_path / 'seg_clips', tmp_path / 'work', tmp_path / 'show'
    cfg = Config.fromfile(SEG_DEMO)
    cfg.embedded_dataset = dict(root=str(root), generator='seg_clips', train_videos=1,
                                val_videos=1, test_videos=1, frames_per_video=8, img_size=32,
                                seed=0)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=1, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = str(root)
    cfg.log_level = 'WARNING'
    cfg_path = tmp_path / 'seg_demo_tiny.py'
    cfg.dump(str(cfg_path))
    ckpt = save_random_checkpoint(cfg_path, tmp_path / 'random.pth')
    assert not root.exists()
    run_tool([tool, cfg_path, ckpt, '--show-dir', show_dir, '--work-dir', work_dir], tmp_path)
    assert (root / 'meta.json').is_file()
    # the test video (video_00002, 8 frames) from frame 0: the strip and one PNG per frame,
    # beside the visualizer's own vis_data (its save_dir is the show dir)
    drawn = sorted(p.name for p in show_dir.iterdir() if p.name != 'vis_data')
    assert drawn == ['video_00002_0', 'video_00002_0.jpg']
    frames = sorted(p.name for p in (show_dir / 'video_00002_0').iterdir())
    assert frames == [f'{i:08d}.png' for i in range(8)]
