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


def test_transform_repr_names_the_arguments():
    from mmspike.datasets.transforms import EventFlip, FormatEventShape, LoadClipFrames
    from mmspike.datasets.transforms.clip_transforms import transform_repr

    assert repr(LoadClipFrames(size=(8, 6), to_rgb=False)) == \
        'LoadClipFrames(size=(8, 6), to_rgb=False)'
    assert repr(EventFlip(0.25, 'vertical')) == "EventFlip(flip_ratio=0.25, direction='vertical')"
    assert repr(FormatEventShape()) == 'FormatEventShape()'
    assert repr(ShuffleFrames(seed=3)) == 'ShuffleFrames(seed=3)'
    flip = EventFlip()
    assert transform_repr(flip, 'direction', 'flip_ratio') == \
        "EventFlip(direction='horizontal', flip_ratio=0.5)"


def test_clip_frames_and_clip_tensor():
    from mmspike.datasets.transforms.clip_transforms import clip_frames, clip_tensor

    frames = [np.full((4, 5, 3), t, np.uint8) for t in range(2)]
    clip = clip_frames(dict(img=frames), 'Owner', channels=3)
    assert clip.shape == (2, 4, 5, 3) and clip.dtype == np.uint8
    assert clip_frames(dict(img=clip), 'Owner') is not None
    inputs = clip_tensor(clip)
    assert tuple(inputs.shape) == (3, 2, 4, 5) and inputs.is_contiguous()
    assert int(inputs[2, 1, 3, 4]) == 1 and int(inputs[0, 0, 0, 0]) == 0
    with pytest.raises(KeyError, match='Owner needs "img": put LoadClipFrames before it'):
        clip_frames(dict(imgs=frames), 'Owner')
    with pytest.raises(ValueError, match=r'Owner: img must be a clip \[T, H, W, 3\], got shape '
                                         r'\(2, 4, 5, 1\)'):
        clip_frames(dict(img=np.zeros((2, 4, 5, 1))), 'Owner', channels=3)
    with pytest.raises(ValueError, match=r'Owner: img must be a clip \[T, H, W, C\], got shape '
                                         r'\(4, 5, 3\)'):
        clip_frames(dict(img=np.zeros((4, 5, 3))), 'Owner')
