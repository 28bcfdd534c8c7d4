# SVFormer on UCF101 split 1 from scratch, the paper recipe (84.03 / 95.59 top-1 / top-5 with
# 5 clips x 3 crops in the paper).  Batch 64 in total: 4 GPUs x 16.
#   torchrun --nproc_per_node=4 tools/train.py configs/svformer_ucf101.py --launcher pytorch
_base_ = [
    '_base_/models/svformer_base.py', '_base_/datasets/ucf101_svformer.py',
    '_base_/schedules/svformer_600e.py', '_base_/runtime_mmaction.py'
]
num_classes = 101
model = dict(
    cls_head=dict(num_classes=num_classes, label_smooth_eps=0.1),
    data_preprocessor=dict(blending=dict(
        type='RandomBatchAugment',
        augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                  dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
randomness = dict(seed=6666, deterministic=False)
