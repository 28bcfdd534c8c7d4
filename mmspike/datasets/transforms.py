import zlib

import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class ShuffleFrames(BaseTransform):
    """Randomly permute the decoded frames of a clip (a control for temporal modelling).

    A model that uses temporal order loses accuracy on shuffled clips; a model that only looks
    at frame content does not.  The permutation is a deterministic function of ``seed`` and the
    video's file name, so repeated evaluations see the same shuffled clips.

    Place it after the decode step and before ``FormatShape``.  With several clips per video
    (``num_clips > 1``) each clip is permuted on its own.

    Args:
        seed (int): seed of the permutations. Defaults to 0.
    """

    def __init__(self, seed=0):
        self.seed = seed

    def transform(self, results):
        if 'imgs' not in results:
            raise KeyError('ShuffleFrames needs decoded frames ("imgs"): put it after the '
                           'decode step (e.g. DecordDecode)')
        imgs = results['imgs']
        clip_len = results.get('clip_len', len(imgs))
        if clip_len <= 0 or len(imgs) % clip_len:
            raise ValueError(f'ShuffleFrames: {len(imgs)} frames do not split into clips of '
                             f'{clip_len}')
        name = str(results.get('filename', ''))
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        order = np.concatenate([start + rng.permutation(clip_len)
                                for start in range(0, len(imgs), clip_len)])
        results['imgs'] = [imgs[i] for i in order]
        return results

    def __repr__(self):
        return f'{type(self).__name__}(seed={self.seed})'
