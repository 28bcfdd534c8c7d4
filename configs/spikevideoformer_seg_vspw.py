# SpikeVideoFormer for video semantic segmentation on VSPW (Zou et al., ICML 2025: 37.9 mIoU;
# not reproduced).  Needs the VSPW_480p release at data_root (layout in
# _base_/datasets/vspw.py) and GPUs, e.g.
#   torchrun --nproc_per_node=8 tools/train.py configs/spikevideoformer_seg_vspw.py \
#       --launcher pytorch
#   python tools/test.py configs/spikevideoformer_seg_vspw.py <checkpoint> --show-dir vis
# What follows the paper: SpikeVideoFormer with joint space-time Hamming attention, multi-scale
# features at strides 4/8/16/16, mIoU and mVC_8 / mVC_16 as VSPW defines them.  A recipe, not the
# paper's: arch 'small' with binary LIF neurons, T = 8 clips, the spike-driven SegFormer-style
# head, 480 x 480 crops and SegFormer's AdamW + poly schedule.  The paper's model starts from
# ImageNet weights (random init: 61.3 vs 73.1 mIoU on Cityscapes in its ablation).
_base_ = ['_base_/datasets/vspw.py', '_base_/models/spikevideoformer_seg.py',
          '_base_/schedules/adamw_seg_160k.py', '_base_/runtime_mmseg.py']

model = dict(backbone=dict(num_frames=8), decode_head=dict(num_classes=124),
             test_cfg=dict(mode='whole', clip_len=8, clip_stride=8))

# iteration-based checkpoints (the best by mIoU) and logs, for the 160k-iteration schedule
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=16000, save_best='mIoU'),
                     logger=dict(log_metric_by_epoch=False))
log_processor = dict(by_epoch=False)
