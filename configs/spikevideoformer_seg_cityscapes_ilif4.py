# SpikeVideoFormer with integer spikes (I-LIF, D = 4) for video semantic segmentation on Cityscapes
# sequences, the paper's setting (Zou et al., ICML 2025: 73.1 mIoU, 17.8M parameters, 65.3 mJ;
# SegFormer 74.1 mIoU at 270.2 mJ; not reproduced).  Needs Cityscapes with
# leftImg8bit_sequence and gtFine (labelTrainIds) at data_root (_base_/datasets/cityscapes_seq.py)
# and GPUs, e.g.
#   torchrun --nproc_per_node=8 tools/train.py configs/spikevideoformer_seg_cityscapes_ilif4.py \
#       --launcher pytorch
# What follows the paper: I-LIF neurons emitting integer spikes 0..4 in the backbone and the
# head (energy counts a spike s as s binary spikes, SpikeEnergyMetric), joint space-time Hamming
# attention, multi-scale features at strides 4/8/16/16, 19 classes.  A recipe, not the paper's:
# arch 'small' (the paper's 17.8M model is of about this size), clips of the annotated frame and
# three earlier ones (every 3rd frame), 512 x 1024 crops, the head and SegFormer's schedule.
_base_ = ['_base_/datasets/cityscapes_seq.py', '_base_/models/spikevideoformer_seg.py',
          '_base_/schedules/adamw_seg_160k.py', '_base_/runtime_mmseg.py']

neuron_cfg = dict(type='ILIF', levels=4)
model = dict(backbone=dict(num_frames=4, neuron_cfg=neuron_cfg),
             decode_head=dict(num_classes=19, neuron_cfg=neuron_cfg),
             test_cfg=dict(mode='whole', clip_len=4))

# iteration-based checkpoints (the best by mIoU) and logs, for the 160k-iteration schedule
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=16000, save_best='mIoU'),
                     logger=dict(log_metric_by_epoch=False))
log_processor = dict(by_epoch=False)
