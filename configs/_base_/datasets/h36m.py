# Human3.6M in MMPose's layout (tools/dataset_converters/preprocess_h36m.py of MMPose, run with
# --sample-rate 1 for the 50 fps annotations) as clips of frames with 3D joints, for MMPose
# configs:
#   data_root/annotation_body3d/fps50/h36m_train.npz   (S1, S5, S6, S7, S8; all 4 cameras)
#   data_root/annotation_body3d/fps50/h36m_test.npz    (S9, S11)
#   data_root/images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg
# Each npz holds imgname, center, scale, part [N, 17, 3] and S [N, 17, 4] (metres, camera
# coordinates, visibility); Human36mClipDataset reads imgname, S and the person boxes
# (center +- 100 scale), groups the rows into videos
# (subject, action, camera) in frame order and cuts clips of clip_len frames every gap-th frame.
# Targets are relative to the pelvis (joint 0); the metric's PEL-MPJPE uses the same root.  The
# frames (1000 x 1000 or 1000 x 1002) are read as RGB (LoadClipFrames), cut to one square around
# the union of the clip's person boxes, 1.1 times its longer side, and resized to
# img_size x img_size (CropClipToBox, the top-down crop of image pose models done once per clip),
# then packed as a uint8 [3, T, H, W] clip (PackClipPoseInputs).  A config that inherits this
# base sets clip_len / img_size and re-states the dataloaders if it changes them (mmengine
# evaluates the variables below once, in this file).
dataset_type = 'Human36mClipDataset'
data_root = 'data/h36m'
train_ann_file = 'annotation_body3d/fps50/h36m_train.npz'
test_ann_file = 'annotation_body3d/fps50/h36m_test.npz'
clip_len = 32
img_size = 224

train_pipeline = [dict(type='LoadClipFrames'),
                  dict(type='CropClipToBox', size=img_size, padding=1.1),
                  dict(type='PackClipPoseInputs')]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # gap 2 as at test time; clip starts clip_len * gap frames apart (the default stride): no
    # overlap, since each motion is already seen by 4 cameras.
    dataset=dict(type=dataset_type, data_root=data_root, ann_file=train_ann_file,
                 data_prefix=dict(img='images/'), clip_len=clip_len, gap=2,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    # gap 2: every other frame of the 50 fps annotations (25 fps).  The mean-pose baseline is
    # the training split's (mean_pose_ann_file), never the test poses'.
    dataset=dict(type=dataset_type, data_root=data_root, ann_file=test_ann_file,
                 mean_pose_ann_file=train_ann_file, data_prefix=dict(img='images/'),
                 clip_len=clip_len, gap=2, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
# MPJPE (protocol 1) / PA-MPJPE (protocol 2) / PEL-MPJPE (pelvis = joint 0) / acceleration
# error in mm, and the same errors of the mean pose.
val_evaluator = dict(type='VideoPose3DMetric', root_joints=(0, ))
test_evaluator = [dict(type='VideoPose3DMetric', root_joints=(0, )),
                  dict(type='SpikeEnergyMetric')]
