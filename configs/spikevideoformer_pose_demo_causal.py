# The pose demo (configs/spikevideoformer_pose_demo.py) with causal attention, for frame-by-frame
# (online) inference with tools/stream.py:
#   python tools/stream.py configs/spikevideoformer_pose_demo_causal.py CKPT VIDEO --json out.json
# Why: the demo's joint space-time attention lets every frame of a clip attend to later frames,
# so its joints of frame t need the whole clip.  Causal attention (frame t attends to frames
# <= t, with the key-value sum carried from frame to frame) makes the backbone causal; the head
# regresses each step on its own, so the whole model runs one frame per call with constant
# memory and gives the joints the whole-clip forward would.  Same parameters as the demo; not
# trained (train it with tools/train.py as the demo; no measured results).
_base_ = ['spikevideoformer_pose_demo.py']

model = dict(backbone=dict(attention='causal'))
