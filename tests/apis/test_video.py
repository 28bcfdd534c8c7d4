"""mmspike.apis.video: the frames of a file or an array as the inference functions take them,
one-at-a-time decoding, and the square frame preprocessing."""
import numpy as np
import pytest
from helpers import write_mp4

from mmspike.apis import VideoFrames, load_video, preprocess_frame, resize_and_crop


def gradient_video(frames=6, height=24, width=40):
    ys, xs = np.mgrid[:height, :width]
    return np.stack([np.stack([(xs * 6 + t * 20) % 256, (ys * 10) % 256,
                               np.full_like(xs, 40 * t)], -1) for t in range(frames)]
                    ).astype(np.uint8)


def test_resize_and_crop_keeps_the_centre_square():
    frame = np.zeros((40, 80, 3), np.uint8)
    frame[:, 20:60] = 200  # the centre square of the frame
    out = resize_and_crop(frame, 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert (out == 200).all()
    assert resize_and_crop(np.zeros((30, 30, 3), np.uint8), 30).shape == (30, 30, 3)
    # BGR in, RGB out
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 0] = 255
    assert (preprocess_frame(bgr, 8)[..., 2] == 255).all()
    assert preprocess_frame(np.full((8, 12), 7, np.uint8), 8).shape == (8, 8, 3)  # grayscale


def test_load_video_from_a_file_and_from_an_array(tmp_path):
    video = gradient_video()
    path = write_mp4(tmp_path / 'clip.mp4', video)
    decoded = load_video(path)
    assert decoded.shape == video.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - video).mean() < 8  # lossy codec, RGB order kept
    assert load_video(path, max_frames=2).shape[0] == 2
    assert load_video(video) is video and load_video(video, max_frames=3).shape[0] == 3
    frames = VideoFrames(path, max_frames=4)
    assert frames.num_frames == 4 and frames.fps == 8
    read = [bgr for bgr, seconds in frames]
    assert len(read) == 4 and read[0].shape == (24, 40, 3)
    with pytest.raises(RuntimeError, match='already read'):
        next(iter(frames))


def test_bad_videos_are_named(tmp_path):
    with pytest.raises(ValueError, match=r'array \[T, H, W, 3\] \(RGB uint8\), got an array of '
                                         r'shape \(4, 8, 8\)'):
        load_video(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r'got an array of shape \(4, 8, 8, 4\)'):
        load_video(np.zeros((4, 8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match='expected uint8 frames .* got dtype float64'):
        load_video(np.zeros((4, 8, 8, 3)))
    with pytest.raises(ValueError, match=r'the video is empty: frames of shape \(0, 8, 8, 3\)'):
        load_video(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(TypeError, match='a file path or a numpy array .* got list'):
        load_video([np.zeros((8, 8, 3), np.uint8)])
    missing = str(tmp_path / 'missing.mp4')
    with pytest.raises(FileNotFoundError, match=f'video {missing!r} does not exist'):
        load_video(missing)
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'not a video' * 100)
    for path in (empty, junk):
        with pytest.raises(ValueError, match=f'cannot read video {str(path)!r}'):
            load_video(path)
    with pytest.raises(ValueError, match='max_frames must be >= 1, got 0'):
        VideoFrames(write_mp4(tmp_path / 'ok.mp4', gradient_video()), max_frames=0)
