# The tiny spiking CNN on the embedded motion-clips dataset: a CPU demo that trains in minutes.
#   python tools/train.py configs/spiking_convnet_demo.py
_base_ = [
    '_base_/models/spiking_convnet_tiny.py', '_base_/datasets/motion_clips.py',
    '_base_/schedules/adamw_demo.py', '_base_/runtime_mmaction.py'
]
randomness = dict(seed=0, deterministic=False)
