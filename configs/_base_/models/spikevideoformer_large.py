# SpikeVideoFormer (Zou et al., ICML 2025), the paper's Kinetics-400 model: arch 'large'
# (widths 128/256/512/640), joint space-time spike-driven Hamming attention, LIF neurons.
# Head: global average over H, W -> neuron -> Linear -> mean over T (SpikingClsHead).
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SpikeVideoFormer', arch='large', attention='joint', sim='hamming'),
    cls_head=dict(type='SpikingClsHead', num_classes=400, in_channels=640,
                  average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
