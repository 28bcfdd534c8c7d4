"""BaseSegClipDataset: the data_info of a clip and the label-set rules, on a dataset of
listed clips."""
import pytest

pytest.importorskip('mmseg')

from mmspike.datasets.seg.base import BaseSegClipDataset  # noqa: E402


class ListedClips(BaseSegClipDataset):
    METAINFO = dict(classes=('sky', 'road', 'car'), palette=[[0, 0, 255], [128, 128, 128],
                                                             [255, 0, 0]])

    def __init__(self, clips, **kwargs):
        self.clips = clips
        super().__init__(**kwargs)

    def load_data_list(self):
        return [self._info([f'{video}/{i}.jpg' for i in ids],
                           [f'{video}/{i}.png' if i % 2 else None for i in ids], video, ids)
                for video, ids in self.clips]


def test_info_and_selected_classes():
    dataset = ListedClips([('v0', [1, 2, 3])], data_root='/data', reduce_zero_label=True)
    info = dataset[0]
    assert info['img_paths'] == ['v0/1.jpg', 'v0/2.jpg', 'v0/3.jpg']
    assert info['seg_map_paths'] == ['v0/1.png', None, 'v0/3.png']
    assert info['video'] == 'v0' and info['frame_ids'] == [1, 2, 3] and info['clip_len'] == 3
    assert info['reduce_zero_label'] is True and info['num_classes'] == 3
    assert info['seg_fields'] == [] and info['label_map'] is None
    assert dataset.data_prefix == {}  # the clips name their files; no prefix is joined

    chosen = ListedClips([('v0', [0])], metainfo=dict(classes=('car', 'sky')))[0]
    assert chosen['num_classes'] == 2 and chosen['label_map'] == {0: 1, 1: 255, 2: 0}


def test_own_label_set():
    with pytest.raises(ValueError, match=r'ListedClips: .*own_classes=True'):
        ListedClips([('v0', [0])], metainfo=dict(classes=('a', 'b')))
    own = ListedClips([('v0', [0])], metainfo=dict(classes=('a', 'b'), own_classes=True))
    assert own[0]['label_map'] is None and len(own.metainfo['palette']) == 2


def test_a_subclass_must_list_its_clips():
    class Unlisted(BaseSegClipDataset):
        METAINFO = ListedClips.METAINFO

    with pytest.raises(NotImplementedError):
        Unlisted()
