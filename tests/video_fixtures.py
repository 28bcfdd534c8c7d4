"""Short generated clips and random-weight checkpoints of the three demo configs, for the tests
of the video inferencers and ``demo/video_demo.py``."""
import os.path as osp

import numpy as np

from helpers import REPO, write_mp4

#: the demo config of every task
DEMO_CONFIGS = dict(action=osp.join(REPO, 'configs', 'svformer_demo.py'),
                    pose=osp.join(REPO, 'configs', 'spikevideoformer_pose_demo.py'),
                    seg=osp.join(REPO, 'configs', 'spikevideoformer_seg_demo.py'))


def moving_square(frames, size=64, seed=0):
    """RGB uint8 frames ``[T, size, size, 3]``: a gradient with a bright square moving across,
    plus a little noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    video = []
    for t in range(frames):
        frame = np.stack([(xs * 4 + t * 7) % 256, (ys * 4) % 256,
                          np.full_like(xs, 80)], -1).astype(np.uint8)
        top, left = 8 + t % (size // 2), 4 + (2 * t) % (size // 2)
        frame[top:top + size // 4, left:left + size // 4] = (250, 230, 40)
        video.append(frame)
    video = np.stack(video).astype(int) + rng.integers(0, 16, (frames, size, size, 3))
    return np.clip(video, 0, 255).astype(np.uint8)


def write_clip(path, frames, size=64, fps=8, seed=0):
    """:func:`moving_square` written to the MP4 ``path``; returns the path."""
    return write_mp4(path, moving_square(frames, size, seed), fps=fps)


def random_checkpoint(config, path, seed=0):
    """Save ``{'state_dict': ...}`` of the config's model with its initial (random) weights to
    ``path``; return the path."""
    import torch

    from mmspike.apis import init_model
    torch.manual_seed(seed)
    model = init_model(config)
    torch.save({'state_dict': model.state_dict()}, str(path))
    return str(path)
