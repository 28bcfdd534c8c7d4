"""Tiny video segmentation trees in the real on-disk layouts (VSPW_480p, Cityscapes sequences),
shared by the dataset and config tests."""
import os
import os.path as osp

import cv2
import numpy as np
from PIL import Image

H, W = 16, 24
VIDEOS = {'video_a': 7, 'video_b': 5, 'video_c': 6}  # name: frames
SPLITS = {'train': ['video_a', 'video_b'], 'val': ['video_c']}
STEP = 3  # stems are 00000000, 00000003, ... (frame ids are the stems)


def mask_values(t):
    """The raw VSPW mask of frame t: 0 (others), classes 1, 5 + t, 124 and 255 (unlabelled)."""
    mask = np.zeros((H, W), np.uint8)
    mask[:, 6:12] = 1
    mask[:, 12:18] = 5 + t
    mask[:8, 18:] = 124
    mask[8:, 18:] = 255
    return mask


def write_palette_png(path, values):
    image = Image.fromarray(values, mode='P')
    image.putpalette([c for i in range(256) for c in ((i * 7) % 256, (i * 13) % 256, i)])
    image.save(path)


def write_vspw(root, videos=VIDEOS, splits=SPLITS):
    for video, frames in videos.items():
        os.makedirs(osp.join(root, 'data', video, 'origin'))
        os.makedirs(osp.join(root, 'data', video, 'mask'))
        for t in range(frames):
            stem = f'{t * STEP:08d}'
            frame = np.full((H, W, 3), 20 * t, np.uint8)
            frame[..., 2] = 200  # red in RGB (OpenCV writes BGR)
            cv2.imwrite(osp.join(root, 'data', video, 'origin', stem + '.jpg'), frame)
            write_palette_png(osp.join(root, 'data', video, 'mask', stem + '.png'),
                              mask_values(t))
    for split, names in splits.items():
        with open(osp.join(root, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return str(root)


CITY = 'aachen'


def write_cityscapes(root, split='val', snippets=(0, 1), frames=range(10, 20), annotated=19):
    img_dir = osp.join(root, 'leftImg8bit_sequence', split, CITY)
    gt_dir = osp.join(root, 'gtFine', split, CITY)
    os.makedirs(img_dir)
    os.makedirs(gt_dir)
    for seq in snippets:
        for f in frames:
            frame = np.full((H, W, 3), 10 * (f - 10), np.uint8)
            cv2.imwrite(osp.join(img_dir, f'{CITY}_{seq:06d}_{f:06d}_leftImg8bit.png'), frame)
        train_ids = np.full((H, W), 255, np.uint8)
        train_ids[:, :12] = seq
        train_ids[:4, 12:] = 18
        name = f'{CITY}_{seq:06d}_{annotated:06d}_gtFine_'
        Image.fromarray(train_ids, mode='L').save(osp.join(gt_dir, name + 'labelTrainIds.png'))
        cv2.imwrite(osp.join(gt_dir, name + 'color.png'), np.zeros((H, W, 3), np.uint8))
    return str(root)
