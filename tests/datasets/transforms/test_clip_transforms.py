import numpy as np
import pytest

from mmspike.datasets import ShuffleFrames


def _clip(num_frames):
    return dict(imgs=[np.full((2, 2, 3), i, np.uint8) for i in range(num_frames)],
                clip_len=4, filename='a.mp4')


def test_shuffle_frames_permutes_within_each_clip_deterministically():
    out = ShuffleFrames(seed=0)(_clip(8))
    order = [int(img[0, 0, 0]) for img in out['imgs']]
    assert sorted(order[:4]) == [0, 1, 2, 3] and sorted(order[4:]) == [4, 5, 6, 7]
    assert order != list(range(8))
    again = [int(img[0, 0, 0]) for img in ShuffleFrames(seed=0)(_clip(8))['imgs']]
    assert again == order
    other_seed = [int(img[0, 0, 0]) for img in ShuffleFrames(seed=1)(_clip(8))['imgs']]
    assert other_seed != order


def test_shuffle_frames_errors_name_the_problem():
    with pytest.raises(KeyError, match='after the decode step'):
        ShuffleFrames()(dict(clip_len=4))
    with pytest.raises(ValueError, match='6 frames do not split into clips of 4'):
        ShuffleFrames()(_clip(6))
