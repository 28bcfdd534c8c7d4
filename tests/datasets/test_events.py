"""Event-camera input: event files, the DVS128 Gesture dataset (an AEDAT 3.1 fixture written
here in the real format) and the event transforms, against spikingjelly 2.0's own reading,
cutting and integration; and 2 training iterations of configs/svformer_dvs128gesture.py."""
import json
import os
import os.path as osp
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import mmspike.action  # noqa: F401  (registers the event datasets)
from mmspike.datasets import (EventFileError, FormatEventShape, IntegrateEvents, LoadEvents,
                              ShuffleFrames, integrate_events, load_events, save_events)
from mmspike.datasets.transforms.event_transforms import (EventCenterCrop, EventFlip,
                                                          EventRandomCrop,
                                                          EventRandomTemporalCrop, EventResize)
from mmspike.datasets.events import check_aedat_file
from helpers import REPO, run_tool

sj_utils = pytest.importorskip('spikingjelly.datasets.utils',
                               reason='spikingjelly 2.0 is the reference reader and integrator')

SIZE = 128
T_OVERFLOW = 1 << 31


@pytest.fixture(autouse=True)
def mmaction_scope():
    """Datasets and pipelines built here resolve names as in an MMAction2 config (conftest
    removes the scope after each test)."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')


# --------------------------------------------------------------------------- AEDAT 3.1 writer
def aedat_packet(event_type, ts_overflow, words):
    """One AEDAT 3.1 packet: the 28-byte little-endian header, then 8-byte events."""
    n = len(words)
    header = struct.pack('<HHIIIIII', event_type, 1, 8, 4, ts_overflow, n, n, n)
    return header + b''.join(struct.pack('<Ii', data, ts) for data, ts in words)


def write_aedat31(path, t, x, y, p, packet_events=700):
    """Write polarity events as AEDAT 3.1 (DVS128 Gesture's format): data word = valid bit 0,
    polarity bit 1, y bits 2-16, x bits 17-31; int32 timestamp whose overflow (bit 31 and up)
    goes in the packet header.  A special-event packet (type 0) is written between the
    polarity packets (readers must skip it)."""
    text = (b'#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n'
            b'#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n')
    body = []
    for start in range(0, len(t), packet_events):
        chunk = slice(start, start + packet_events)
        overflow = int(t[chunk][0]) >> 31
        assert all(int(v) >> 31 == overflow for v in t[chunk]), 'split packets at overflows'
        words = [(1 | (int(pp) << 1) | (int(yy) << 2) | (int(xx) << 17),
                  int(tt) & 0x7FFFFFFF)
                 for tt, xx, yy, pp in zip(t[chunk], x[chunk], y[chunk], p[chunk])]
        body.append(aedat_packet(1, overflow, words))
        if start == 0:
            body.append(aedat_packet(0, overflow, [(0x5, int(t[0]) & 0x7FFFFFFF)] * 2))
    Path(path).write_bytes(text + b''.join(body))


def make_recording(rng, t0, windows, n_per_window=900, n_noise=300):
    """Events in every ``(start, end)`` window, noise outside, and events exactly at each
    window's start (kept) and end (dropped); sorted by time."""
    ts = [rng.integers(t0, windows[-1][1] + 200_000, n_noise)]
    for start, end in windows:
        ts += [rng.integers(start, end, n_per_window), np.array([start, end, end - 1])]
    t = np.sort(np.concatenate(ts)).astype(np.int64)
    n = t.size
    x = rng.integers(0, SIZE, n)
    y = rng.integers(0, SIZE, n)
    x[:2], y[:2] = SIZE - 1, SIZE - 1  # the sensor's edge
    return t, x, y, rng.integers(0, 2, n)


# recording -> (split, first timestamp, [(class 1..11, start, end), ...])
RECORDINGS = {
    'user01_fluorescent': ('train', 1_000_000,
                           [(3, 1_200_000, 1_700_000), (11, 1_900_000, 2_400_000)]),
    'user02_led': ('train', 500_000, [(1, 700_000, 1_300_000), (4, 1_400_000, 2_000_000)]),
    # past 2^31 us: timestamps need the packets' eventTSOverflow
    'user24_lab': ('test', T_OVERFLOW + 100_000,
                   [(2, T_OVERFLOW + 300_000, T_OVERFLOW + 800_000),
                    (10, T_OVERFLOW + 900_000, T_OVERFLOW + 1_500_000)]),
}


def write_dvs_gesture(root):
    """A DvsGesture/ folder in the release layout; returns the written events per recording."""
    root = Path(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(2017)
    written = {}
    for name, (split, t0, rows) in RECORDINGS.items():
        events = make_recording(rng, t0, [(s, e) for _, s, e in rows])
        write_aedat31(root / f'{name}.aedat', *events)
        csv = 'class,startTime_usec,endTime_usec\n' + ''.join(
            f'{c},{s},{e}\n' for c, s, e in rows)
        (root / f'{name}_labels.csv').write_text(csv)
        written[name] = events
    for split in ('train', 'test'):
        names = [f'{n}.aedat' for n, (s, _, _) in RECORDINGS.items() if s == split]
        (root / f'trials_to_{split}.txt').write_text('\n'.join(names) + '\n')
    return written


@pytest.fixture(scope='module')
def dvs_gesture(tmp_path_factory):
    root = tmp_path_factory.mktemp('dvs') / 'DvsGesture'
    written = write_dvs_gesture(root)
    return root, written


def spikingjelly_samples(root, split, tmp_path, frames=16):
    """spikingjelly's own cut (``_split_aedat_files_to_np``: the code of its DVS128Gesture)
    and integration (``integrate_events_by_fixed_frames_number``) of every recording of
    ``split``: ``[(label, frames [T, 2, 128, 128])]`` in csv row order."""
    from spikingjelly.datasets.dvs128_gesture import _split_aedat_files_to_np
    out = Path(tmp_path) / f'sj_{split}'
    for label in range(11):
        (out / str(label)).mkdir(parents=True)
    samples = []
    for name in (Path(root) / f'trials_to_{split}.txt').read_text().split():
        stem = osp.splitext(name)[0]
        _split_aedat_files_to_np(stem, Path(root) / name, Path(root) / f'{stem}_labels.csv',
                                 out)
        seen = [0] * 11
        for cls, _, _ in RECORDINGS[stem][2]:
            label = cls - 1
            with np.load(out / str(label) / f'{stem}_{seen[label]}.npz') as data:
                events = {k: data[k] for k in ('t', 'x', 'y', 'p')}
            seen[label] += 1
            samples.append((label, sj_utils.integrate_events_by_fixed_frames_number(
                events, 'number', frames, SIZE, SIZE)))
    return samples


def event_pipeline(frames=16, split_by='number'):
    return [dict(type='LoadEvents'), dict(type='IntegrateEvents', num_frames=frames,
                                          split_by=split_by),
            dict(type='FormatEventShape'), dict(type='PackActionInputs')]


# ------------------------------------------------------------------------------ acceptance 1
@pytest.mark.parametrize('split', ['train', 'test'])
def test_dvs128_gesture_equals_spikingjelly(dvs_gesture, tmp_path, split):
    """Acceptance 1: the AEDAT 3.1 fixture through DVS128GestureDataset, its pipeline and the
    data preprocessor gives (N, 2, T, H, W) batches equal to spikingjelly's integration of the
    same events cut by the same csv rows; the backbone receives exactly that tensor."""
    from mmaction.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    root, _ = dvs_gesture
    dataset = DATASETS.build(dict(type='DVS128GestureDataset', data_root=str(root), split=split,
                                  cache_dir=str(tmp_path / 'cache'), pipeline=event_pipeline()))
    reference = spikingjelly_samples(root, split, tmp_path)
    assert len(dataset) == len(reference) == sum(
        len(rows) for s, _, rows in RECORDINGS.values() if s == split)
    items = [dataset[i] for i in range(len(dataset))]
    for item, (label, frames) in zip(items, reference):
        assert item['inputs'].shape == (1, 2, 16, SIZE, SIZE)
        assert item['inputs'].dtype == torch.float32
        assert int(item['data_samples'].gt_label) == label
        assert frames.sum() > 0
        np.testing.assert_array_equal(item['inputs'][0].numpy(), frames.transpose(1, 0, 2, 3))

    cfg = Config.fromfile(osp.join(REPO, 'configs/svformer_dvs128gesture.py'))
    cfg.model.backbone.arch = 'tiny'
    cfg.model.cls_head.in_channels = 256
    model = MODELS.build(cfg.model).eval()
    batch = model.data_preprocessor(pseudo_collate(items), training=False)
    seen = {}

    class Seen(Exception):
        pass

    def catch(module, args):  # the backbone's input is all we need: stop the forward there
        seen['x'] = args[0]
        raise Seen

    model.backbone.register_forward_pre_hook(catch)
    with torch.no_grad(), pytest.raises(Seen):
        model(**batch, mode='predict')
    expected = torch.from_numpy(np.stack([f.transpose(1, 0, 2, 3) for _, f in reference]))
    assert seen['x'].shape == (len(items), 2, 16, SIZE, SIZE)
    torch.testing.assert_close(seen['x'], expected.float(), rtol=0, atol=0)


def labels(dataset):
    return [dataset.get_data_info(i)['label'] for i in range(len(dataset))]


def test_dvs128_cache_reused_and_rebuilt(dvs_gesture, tmp_path):
    """The cut samples are cached (event files in the module's format) and reused; a changed
    source file rebuilds the cache."""
    import shutil

    from mmaction.registry import DATASETS
    root, written = dvs_gesture
    copy = tmp_path / 'DvsGesture'
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns('mmspike_cache'))
    build = lambda: DATASETS.build(dict(type='DVS128GestureDataset',  # noqa: E731
                                        data_root=str(copy), split='train', pipeline=[]))
    dataset = build()
    cache = copy / 'mmspike_cache'
    files = sorted((cache / 'train').glob('*.npz'))
    assert [f.name for f in files] == ['user01_fluorescent_0.npz', 'user01_fluorescent_1.npz',
                                       'user02_led_0.npz', 'user02_led_1.npz']
    first = load_events(str(files[0]))
    t, x, y, p = written['user01_fluorescent']
    start, end = RECORDINGS['user01_fluorescent'][2][0][1:]
    keep = (t >= start) & (t < end)
    np.testing.assert_array_equal(first['t'], t[keep])
    np.testing.assert_array_equal(first['x'], x[keep])
    np.testing.assert_array_equal(first['p'], p[keep])
    assert (first['height'], first['width']) == (SIZE, SIZE)
    assert labels(dataset) == [2, 10, 0, 3]
    stamps = [f.stat().st_mtime_ns for f in files]
    build()
    assert [f.stat().st_mtime_ns for f in files] == stamps
    csv = copy / 'user02_led_labels.csv'
    csv.write_text(csv.read_text().replace('4,', '5,'))
    dataset = build()
    assert labels(dataset) == [2, 10, 0, 4]


def test_dvs128_layout_errors(dvs_gesture, tmp_path):
    import shutil

    from mmaction.registry import DATASETS
    root, _ = dvs_gesture

    def build(path):
        return DATASETS.build(dict(type='DVS128GestureDataset', data_root=str(path),
                                   split='train', pipeline=[]))

    with pytest.raises(FileNotFoundError, match='is not a folder'):
        build(tmp_path / 'nowhere')
    copy = tmp_path / 'DvsGesture'
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns('mmspike_cache'))
    (copy / 'user02_led_labels.csv').unlink()
    with pytest.raises(FileNotFoundError, match='user02_led_labels.csv'):
        build(copy)
    (copy / 'user02_led.aedat').unlink()
    with pytest.raises(FileNotFoundError, match='user02_led.aedat.*trials_to_train'):
        build(copy)
    (copy / 'trials_to_train.txt').unlink()
    with pytest.raises(FileNotFoundError, match='trials_to_train.txt'):
        build(copy)
    with pytest.raises(ValueError, match="split must be one of .*'val'"):
        DATASETS.build(dict(type='DVS128GestureDataset', data_root=str(root), split='val',
                            pipeline=[]))


def test_aedat_reader_matches_written_events(dvs_gesture):
    """load_events on .aedat (spikingjelly's reader behind the checks) returns the written
    events, special-event packets skipped, overflowed timestamps restored."""
    root, written = dvs_gesture
    for name, (t, x, y, p) in written.items():
        events = load_events(str(root / f'{name}.aedat'))
        assert check_aedat_file(str(root / f'{name}.aedat')) == t.size
        for key, value in zip('txyp', (t, x, y, p)):
            np.testing.assert_array_equal(events[key], value)
        assert events['t'].dtype == np.int64 and events['p'].dtype == np.uint8


# ---------------------------------------------------------------------------------- errors
def write_stream(path, n=500, seed=0, height=24, width=32):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50_000, n))
    x, y, p = rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)
    save_events(str(path), t, x, y, p, height, width)
    return str(path)


def test_event_file_round_trip_format(tmp_path):
    path = write_stream(tmp_path / 'a.npz')
    with np.load(path) as data:
        assert set(data.files) == {'t', 'x', 'y', 'p', 'height', 'width'}
        assert data['height'].shape == () and int(data['height']) == 24
        assert data['t'].dtype == np.int64 and data['p'].dtype == np.uint8
    events = load_events(path)
    assert (events['height'], events['width']) == (24, 32)
    assert np.all(np.diff(events['t']) >= 0)


def test_corrupt_truncated_empty_event_files(tmp_path):
    good = write_stream(tmp_path / 'good.npz')
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        load_events(str(tmp_path / 'missing.npz'))
    (tmp_path / 'zero.npz').write_bytes(b'')
    with pytest.raises(EventFileError, match='zero.npz: empty file'):
        load_events(str(tmp_path / 'zero.npz'))
    data = Path(good).read_bytes()
    (tmp_path / 'cut.npz').write_bytes(data[:len(data) // 2])
    with pytest.raises(EventFileError, match='cut.npz: corrupt or truncated'):
        load_events(str(tmp_path / 'cut.npz'))
    (tmp_path / 'noise.npz').write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(EventFileError, match='noise.npz: corrupt or truncated'):
        load_events(str(tmp_path / 'noise.npz'))
    np.savez(tmp_path / 'other.npz', frames=np.zeros(3))
    with pytest.raises(EventFileError, match=r"other.npz: not an event file: missing arrays "
                                             r"\['t', 'x', 'y', 'p', 'height', 'width'\]"):
        load_events(str(tmp_path / 'other.npz'))
    empty = dict(t=np.zeros(0, np.int64), x=np.zeros(0), y=np.zeros(0), p=np.zeros(0))
    with pytest.raises(EventFileError, match='no events'):
        save_events(str(tmp_path / 'empty.npz'), **empty, height=4, width=4)
    save_events(str(tmp_path / 'empty.npz'), **empty, height=4, width=4, allow_empty=True)
    with pytest.raises(EventFileError, match='empty.npz: the stream has no events'):
        load_events(str(tmp_path / 'empty.npz'))
    assert load_events(str(tmp_path / 'empty.npz'), allow_empty=True)['t'].size == 0
    np.savez(tmp_path / 'wide.npz', t=np.arange(3), x=np.array([0, 5, 32]), y=np.zeros(3, int),
             p=np.zeros(3, int), height=np.array(24), width=np.array(32))
    with pytest.raises(EventFileError, match=r'wide.npz: x must lie in \[0, 31\] .* got '
                                             r'\[0, 32\]'):
        load_events(str(tmp_path / 'wide.npz'))
    with pytest.raises(EventFileError, match=r't must be non-decreasing, got t\[1\]=5 > '
                                             r't\[2\]=4'):
        save_events(str(tmp_path / 'back.npz'), [1, 5, 4], [0, 0, 0], [0, 0, 0], [0, 1, 0],
                    2, 2)
    with pytest.raises(EventFileError, match='polarity p must be 0 or 1'):
        save_events(str(tmp_path / 'pol.npz'), [1, 2], [0, 0], [0, 0], [0, 2], 2, 2)
    assert not (tmp_path / 'back.npz').exists()
    # through the pipeline: LoadEvents names the file
    with pytest.raises(EventFileError, match='cut.npz'):
        LoadEvents()(dict(filename=str(tmp_path / 'cut.npz')))


def test_corrupt_truncated_empty_aedat_files(dvs_gesture, tmp_path):
    root, _ = dvs_gesture
    data = (root / 'user01_fluorescent.aedat').read_bytes()
    header_end = data.index(b'#!END-HEADER\r\n') + len(b'#!END-HEADER\r\n')
    cases = {
        'cut_data.aedat': (data[:header_end + 28 + 8 * 100 + 3], 'truncated: packet 0'),
        'cut_header.aedat': (data[:header_end + 10], 'truncated: packet 0 .* 10-byte header'),
        'no_magic.aedat': (b'hello\r\n' + data[header_end:], 'not an AEDAT 3 file'),
        'no_end.aedat': (data[:data.index(b'#!END-HEADER')] + b'\x01\x00' * 20,
                         'corrupt or truncated AEDAT header: no .*END-HEADER'),
        'header_only.aedat': (data[:header_end], 'the stream has no events'),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(EventFileError, match=f'{name}: {message}'):
            load_events(str(tmp_path / name))
    bad_size = bytearray(data)
    struct.pack_into('<I', bad_size, header_end + 4, 12)
    (tmp_path / 'bad_size.aedat').write_bytes(bytes(bad_size))
    with pytest.raises(EventFileError, match='bad_size.aedat: corrupt: .*eventSize 12'):
        load_events(str(tmp_path / 'bad_size.aedat'))


# ------------------------------------------------------------------------------ transforms
@pytest.fixture
def stream(tmp_path):
    return write_stream(tmp_path / 's.npz', n=3000, seed=1, height=48, width=64)


def run(steps, path, seed=None):
    if seed is not None:
        np.random.seed(seed)
    results = dict(filename=path)
    for step in steps:
        results = step(results)
    return results


def test_integration_matches_spikingjelly_and_handles_empty_slices(stream):
    events = load_events(stream)
    ref_events = {k: events[k] for k in 'txyp'}
    for split_by in ('number', 'time'):
        frames = integrate_events(events, 8, split_by)
        assert frames.dtype == np.float32 and frames.shape == (8, 2, 48, 64)
        np.testing.assert_array_equal(frames, sj_utils.integrate_events_by_fixed_frames_number(
            ref_events, split_by, 8, 48, 64))
    on = events['p'] == 1
    np.testing.assert_array_equal(integrate_events(events, 1)[0, 1].sum(), on.sum())
    # a gap in time: spikingjelly's 'time' split fails on the empty slice, ours leaves it empty
    gap = dict(events, t=np.where(np.arange(events['t'].size) < 1500, events['t'],
                                  events['t'] + 10**6))
    frames = integrate_events(gap, 8, 'time')
    assert frames.sum() == events['t'].size and frames[3:7].sum() == 0
    with pytest.raises(IndexError):
        sj_utils.integrate_events_by_fixed_frames_number(
            {k: gap[k] for k in 'txyp'}, 'time', 8, 48, 64)


def test_flip_keeps_polarity(stream):
    base = run([LoadEvents(), IntegrateEvents(4)], stream)['imgs']
    for direction, axis in (('horizontal', -1), ('vertical', -2)):
        flipped = run([LoadEvents(), EventFlip(1.0, direction), IntegrateEvents(4)], stream)
        assert flipped['flip'] is True
        np.testing.assert_array_equal(flipped['imgs'], np.flip(base, axis))
    kept = run([LoadEvents(), EventFlip(0.0), IntegrateEvents(4)], stream)
    np.testing.assert_array_equal(kept['imgs'], base)


def test_crop_and_resize_shapes_and_values(stream):
    full = run([LoadEvents(), IntegrateEvents(1)], stream)['imgs']
    out = run([LoadEvents(), EventCenterCrop((40, 20)), IntegrateEvents(1)], stream)
    assert out['imgs'].shape == (1, 2, 20, 40) and out['img_shape'] == (20, 40)
    np.testing.assert_array_equal(out['imgs'], full[..., 14:34, 12:52])
    out = run([LoadEvents(), EventRandomCrop(16), IntegrateEvents(1)], stream, seed=0)
    x0, y0, x1, y1 = out['crop_bbox']
    assert (x1 - x0, y1 - y0) == (16, 16)
    np.testing.assert_array_equal(out['imgs'], full[..., y0:y1, x0:x1])
    out = run([LoadEvents(), EventResize((32, 24)), IntegrateEvents(1)], stream)
    assert out['imgs'].shape == (1, 2, 24, 32)
    np.testing.assert_array_equal(out['imgs'],
                                  full.reshape(1, 2, 24, 2, 32, 2).sum(axis=(3, 5)))
    out = run([LoadEvents(), EventResize(16), IntegrateEvents(5),
               FormatEventShape()], stream)
    assert out['imgs'].shape == (1, 2, 5, 16, 16) and out['imgs'].dtype == np.float32
    with pytest.raises(ValueError, match=r'crop \(w, h\)=\(80, 10\) is larger than the sensor '
                                         r'\(w, h\)=\(64, 48\)'):
        run([LoadEvents(), EventRandomCrop((80, 10))], stream)
    with pytest.raises(KeyError, match='put it after LoadEvents and before IntegrateEvents'):
        run([LoadEvents(), IntegrateEvents(2), EventFlip()], stream)


def test_temporal_crop(stream):
    events = load_events(stream)
    span = int(events['t'][-1] - events['t'][0])
    out = run([LoadEvents(), EventRandomTemporalCrop(ratio=0.5)], stream, seed=3)
    start, end = out['event_window']
    assert end - start == int(np.ceil(0.5 * span))
    t = out['events']['t']
    assert 0 < t.size < events['t'].size
    assert t.min() >= start and t.max() < end
    inside = (events['t'] >= start) & (events['t'] < end)
    assert t.size == inside.sum()
    out = run([LoadEvents(), EventRandomTemporalCrop(duration=span + 1)], stream)
    assert out['events']['t'].size == events['t'].size
    with pytest.raises(ValueError, match='exactly one of ratio and duration'):
        EventRandomTemporalCrop(ratio=0.5, duration=10)


def test_random_transforms_are_seeded(stream):
    def steps():
        return [LoadEvents(), EventRandomTemporalCrop(ratio=0.6), EventRandomCrop(32),
                EventFlip(0.5), IntegrateEvents(4), FormatEventShape()]
    a = run(steps(), stream, seed=11)['imgs']
    b = run(steps(), stream, seed=11)['imgs']
    np.testing.assert_array_equal(a, b)
    others = [run(steps(), stream, seed=s)['imgs'] for s in (12, 13, 14)]
    assert any(not np.array_equal(a, o) for o in others)


def test_shuffle_frames_permutes_time_axis(stream):
    plain = run([LoadEvents(), IntegrateEvents(8), FormatEventShape()], stream)['imgs']
    shuffled = run([LoadEvents(), IntegrateEvents(8), ShuffleFrames(seed=0),
                    FormatEventShape()], stream)['imgs']
    assert shuffled.shape == plain.shape == (1, 2, 8, 48, 64)
    order = [next(j for j in range(8) if np.array_equal(shuffled[0, :, i], plain[0, :, j]))
             for i in range(8)]
    assert sorted(order) == list(range(8)) and order != list(range(8))


def test_event_clip_dataset(tmp_path, stream):
    from mmaction.registry import DATASETS
    os.makedirs(tmp_path / 'clips' / 'a')
    write_stream(tmp_path / 'clips' / 'a' / 'one.npz', seed=4)
    write_stream(tmp_path / 'clips' / 'two.npz', seed=5)
    (tmp_path / 'list.txt').write_text('a/one.npz 3\n\ntwo.npz 0\n')
    dataset = DATASETS.build(dict(type='EventClipDataset', ann_file=str(tmp_path / 'list.txt'),
                                  data_prefix=dict(events=str(tmp_path / 'clips')),
                                  pipeline=event_pipeline(frames=4)))
    assert len(dataset) == 2
    item = dataset[0]
    assert item['inputs'].shape == (1, 2, 4, 24, 32)
    assert int(item['data_samples'].gt_label) == 3
    (tmp_path / 'bad.txt').write_text('a/one.npz three\n')
    with pytest.raises(ValueError, match=r'bad.txt line 1: expected "relative/path.npz LABEL"'):
        DATASETS.build(dict(type='EventClipDataset', ann_file=str(tmp_path / 'bad.txt'),
                            pipeline=[]))


# ------------------------------------------------------------------------------ acceptance 3
def test_svformer_dvs128gesture_trains_two_iterations(dvs_gesture, tmp_path):
    """Acceptance 3: tools/train.py configs/svformer_dvs128gesture.py on the fixture (4
    training samples, batch 2, one epoch = 2 iterations), shrunk to the 'tiny' SVFormer with
    T = 4 through --cfg-options; the 2-channel 128 x 128 input is kept."""
    root, _ = dvs_gesture
    work_dir = tmp_path / 'work'
    options = ['model.backbone.arch=tiny', 'model.cls_head.in_channels=256',
               'model.backbone.num_frames=4', 'model.cls_head.num_frames=4',
               'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
               'log_level=WARNING']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.batch_size=2', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False',
                    f'{loader}.dataset.data_root={root}',
                    f'{loader}.dataset.pipeline.1.num_frames=4']
    run_tool([osp.join(REPO, 'tools', 'train.py'),
              osp.join(REPO, 'configs', 'svformer_dvs128gesture.py'),
              '--work-dir', work_dir, '--cfg-options'] + options, cwd=tmp_path)
    assert (work_dir / 'epoch_1.pth').is_file()
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert scalars, list(work_dir.rglob('*'))
    steps = [json.loads(line) for line in scalars[-1].read_text().splitlines()]
    losses = [s['loss'] for s in steps if 'loss' in s]
    assert [s['step'] for s in steps if 'loss' in s] == [1, 2]
    assert all(np.isfinite(losses))
    ckpt = torch.load(work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)
    assert ckpt['state_dict']['backbone.stem.conv.module.weight'].shape[1] == 2
