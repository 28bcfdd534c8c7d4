"""mmspike.visualization.video_overlay: the annotated frame of every task drawn from hand-made
VideoResults (sizes, the pixels that change and those that do not), and the MP4 writer (frames
read back, no partial file and no lost file on failure)."""
import os

import cv2
import numpy as np
import pytest

from mmspike.apis.video_inference import VideoResult
from mmspike.datasets.synthetic.pose_clips import SMPL_PARENTS, sequence_poses
from mmspike.visualization.pose import PRED_COLOUR
from mmspike.visualization.video_overlay import (LABEL_COLOUR, FrameAnnotator, Mp4Writer,
                                                 annotated_frames, display_frame,
                                                 draw_action_frame, draw_pose_frame,
                                                 draw_seg_frame, format_energy,
                                                 write_annotated_video)

T, H, W = 5, 48, 64


def colour_pixels(image, colour, tol=12):
    return int((np.abs(image.astype(int) - np.array(colour)).max(axis=-1) <= tol).sum())


@pytest.fixture(scope='module')
def frames():
    video = np.zeros((T, H, W, 3), np.uint8)
    video[..., 2] = 90 + 20 * np.arange(T)[:, None, None]
    video[:, 10:30, 20:40] = (30, 200, 30)
    return video


def energy():
    return np.linspace(0.01, 0.05, T)


@pytest.fixture
def action():
    return VideoResult('action', T, energy(), windows=[[0, 1, 2], [2, 3, 4]],
                       class_names=['walk', 'run', 'jump'], scores=np.array([0.2, 0.7, 0.1]),
                       window_scores=np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]),
                       frame_labels=np.array([0, 0, 0, 2, 2]),
                       frame_scores=np.array([0.6, 0.6, 0.6, 0.7, 0.7]))


@pytest.fixture
def seg():
    maps = np.zeros((T, H, W), np.int64)
    maps[:, 24:, 32:] = 1           # bottom right: class 1
    maps[1:, 24:, :16] = 2          # bottom left from frame 1 on: class 2
    maps[:, 40:, 24:30] = 255       # ignore index: no colour
    return VideoResult('seg', T, energy(), class_names=['road', 'person', 'car'],
                       class_maps=maps, palette=[(128, 64, 128), (220, 20, 60), (0, 0, 142)])


@pytest.fixture
def pose():
    joints = sequence_poses(0, 3, 0, 16)[0][:T]
    joints = joints - joints[:, :1]
    return VideoResult('pose', T, energy(), joints=joints.astype(np.float32),
                       parents=list(SMPL_PARENTS))


# -- action ------------------------------------------------------------------------------------
def test_action_frame_is_the_frame_under_a_banner(frames, action):
    image = draw_action_frame(frames[0], action, 0)
    shown = display_frame(frames[0])
    assert shown.shape == (240, 320, 3)  # enlarged to MIN_HEIGHT rows, aspect kept
    banner = image.shape[0] - shown.shape[0]
    assert image.dtype == np.uint8 and image.shape[1:] == (320, 3) and 30 < banner < 120
    np.testing.assert_array_equal(image[banner:], shown)   # the frame itself is untouched
    assert colour_pixels(image[:banner], LABEL_COLOUR, tol=40) > 20  # the running label
    # the running label's line changes with the label (frame 3: 'jump'), not between frames
    # of the same label and score
    line = banner // 3
    same = draw_action_frame(frames[1], action, 1)
    other = draw_action_frame(frames[3], action, 3)
    np.testing.assert_array_equal(image[:line], same[:line])
    assert (image[:line] != other[:line]).any()
    assert image.shape == other.shape  # one size for the whole video
    # large frames are not enlarged
    big = np.zeros((300, 400, 3), np.uint8)
    assert draw_action_frame(big, action, 0).shape[1:] == (400, 3)


def test_action_energy_text_and_errors(frames, action):
    assert format_energy(0.01234) == 'energy 0.0123 mJ'
    assert format_energy(float('nan')) == 'energy not counted'
    with pytest.raises(IndexError, match='frame 5 of a result of 5 frames'):
        draw_action_frame(frames[0], action, 5)
    with pytest.raises(ValueError, match="draws a 'action' result, got task 'seg'"):
        draw_action_frame(frames[0], VideoResult('seg', T, energy()), 0)


# -- segmentation ------------------------------------------------------------------------------
def test_seg_overlay_blends_the_palette_colours(frames, seg):
    image = draw_seg_frame(frames[0], seg, 0, alpha=0.4, min_height=1, legend=False)
    assert image.shape == frames[0].shape and image.dtype == np.uint8
    frame = frames[0].astype(np.float32)
    for label, (y, x) in ((0, (5, 50)), (1, (30, 50))):
        expected = np.round(0.6 * frame[y, x] + 0.4 * np.array(seg.palette[label]))
        np.testing.assert_array_equal(image[y, x], expected)
    np.testing.assert_array_equal(image[45, 26], frames[0][45, 26])  # ignore index kept
    opaque = draw_seg_frame(frames[0], seg, 0, alpha=1.0, min_height=1, legend=False)
    np.testing.assert_array_equal(opaque[30, 50], seg.palette[1])
    plain = draw_seg_frame(frames[0], seg, 0, alpha=0.0, min_height=1, legend=False)
    np.testing.assert_array_equal(plain, frames[0])


def test_seg_legend_lists_the_classes_of_the_frame(frames, seg):
    first = draw_seg_frame(frames[0], seg, 0)   # classes 0 and 1
    second = draw_seg_frame(frames[1], seg, 1)  # classes 0, 1 and 2
    assert first.shape == second.shape == (240, 320, 3)  # enlarged, map enlarged with it
    legend = (slice(0, 100), slice(0, 40))      # swatches at the top left
    car = seg.palette[2]
    assert colour_pixels(first[legend], car, tol=2) == 0
    assert colour_pixels(second[legend], car, tol=2) > 20
    # outside the legend the image is the blend of the enlarged frame and map
    bare = draw_seg_frame(frames[0], seg, 0, legend=False)
    np.testing.assert_array_equal(first[150:, 100:], bare[150:, 100:])
    assert (first[:40, :40] != bare[:40, :40]).any()
    # a class map of another size is scaled to the frame
    small = VideoResult('seg', T, energy(), class_maps=seg.class_maps[:, ::2, ::2],
                        palette=seg.palette)
    np.testing.assert_array_equal(draw_seg_frame(frames[0], small, 0, legend=False), bare)
    with pytest.raises(ValueError, match=r'alpha must be in \[0, 1\], got 1.5'):
        draw_seg_frame(frames[0], seg, 0, alpha=1.5)


# -- pose --------------------------------------------------------------------------------------
def test_pose_frame_beside_the_skeleton(frames, pose):
    image = draw_pose_frame(frames[2], pose, 2, panel_size=160)
    left = 214  # 64 x 48 scaled to 160 rows, even width
    assert image.shape == (160, left + 160, 3) and image.dtype == np.uint8
    assert colour_pixels(image[:, left:], PRED_COLOUR) > 30       # the skeleton
    assert colour_pixels(image[:, :left], PRED_COLOUR) == 0
    background = frames[2][0, 0]
    assert colour_pixels(image[:, :left], background) > 0.5 * 160 * left  # the frame
    # the view follows the frame's joints
    assert (draw_pose_frame(frames[2], pose, 4, panel_size=160)[:, left:]
            != image[:, left:]).any()
    with pytest.raises(ValueError, match='panel_size must be an int >= 64'):
        draw_pose_frame(frames[2], pose, 2, panel_size=32)


# -- whole videos ------------------------------------------------------------------------------
def count_frames(path):
    capture = cv2.VideoCapture(str(path))
    count, size = 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        count, size = count + 1, image.shape[:2]
    capture.release()
    return count, size


@pytest.mark.parametrize('task', ['action', 'seg', 'pose'])
def test_annotated_video_of_every_task(frames, action, seg, pose, tmp_path, task):
    result = dict(action=action, seg=seg, pose=pose)[task]
    images = list(annotated_frames(frames, result, panel_size=96))
    assert len(images) == T and len({image.shape for image in images}) == 1
    path = write_annotated_video(tmp_path / f'{task}.mp4', frames, result, fps=5,
                                 panel_size=96)
    assert count_frames(path) == (T, images[0].shape[:2])
    capture = cv2.VideoCapture(path)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    capture.release()
    assert sorted(os.listdir(tmp_path)) == [f'{task}.mp4']
    with pytest.raises(ValueError, match='4 frames given for a result of 5 frames'):
        write_annotated_video(tmp_path / 'short.mp4', frames[:4], result)
    assert not (tmp_path / 'short.mp4').exists()


def test_annotator_keeps_one_canvas_for_pose(pose, frames):
    with FrameAnnotator(pose, panel_size=96) as annotate:
        canvas = annotate._canvas
        first = annotate(frames[0], 0)
        assert annotate._canvas is canvas
    assert annotate._canvas is None
    np.testing.assert_array_equal(first, draw_pose_frame(frames[0], pose, 0, panel_size=96))


# -- the writer --------------------------------------------------------------------------------
def test_writer_reads_back_every_frame(tmp_path):
    path = tmp_path / 'sub' / 'out.mp4'
    with Mp4Writer(path, fps=10) as writer:
        for t in range(7):
            writer.write(np.full((33, 45, 3), 30 * t, np.uint8))  # odd: padded to even
            assert not path.exists() and (tmp_path / 'sub' / 'out.part.mp4').exists()
    assert count_frames(path) == (7, (34, 46)) and writer.size == (46, 34)
    assert sorted(os.listdir(tmp_path / 'sub')) == ['out.mp4']


def test_writer_failure_keeps_the_old_file_and_leaves_no_part(tmp_path):
    path = tmp_path / 'out.mp4'
    path.write_bytes(b'the previous video')
    # a frame of another size
    writer = Mp4Writer(path)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match='frame 1 is 48x32, the video .* is 32x32'):
        writer.write(np.zeros((32, 48, 3), np.uint8))
    # an error while drawing
    with pytest.raises(KeyError):
        with Mp4Writer(path) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise KeyError('drawing failed')
    # no frame at all
    with pytest.raises(ValueError, match='no frame was written'):
        Mp4Writer(path).close()
    assert path.read_bytes() == b'the previous video'
    assert sorted(os.listdir(tmp_path)) == ['out.mp4']


def test_writer_that_cannot_open_names_the_path(tmp_path, monkeypatch):
    class Closed:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(cv2, 'VideoWriter', Closed)
    path = tmp_path / 'out.mp4'
    with pytest.raises(OSError, match=f'cannot write the video {str(path)!r}'):
        Mp4Writer(path).write(np.zeros((32, 32, 3), np.uint8))
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match=r'must be an \.mp4 file'):
        Mp4Writer(tmp_path / 'out.avi')
