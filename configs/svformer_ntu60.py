# SVFormer on NTU-RGBD60 RGB videos (60 classes, 13,759,587 parameters).  The paper evaluates
# NTU60 but the official repository has no config; this reuses the UCF101 recipe.  Layout:
#   data/ntu60/nturgb+d_rgb/S001C001P001R001A001_rgb.avi ...
#   data/ntu60/ntu60_{train,val}_xsub_videos.txt   ("<file> <label>" lines; label = action - 1)
_base_ = ['svformer_ucf101.py']
num_classes = 60
data_root = 'data/ntu60/nturgb+d_rgb'
model = dict(
    cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(
        augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                  dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
train_dataloader = dict(dataset=dict(ann_file='data/ntu60/ntu60_train_xsub_videos.txt',
                                     data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(ann_file='data/ntu60/ntu60_val_xsub_videos.txt',
                                   data_prefix=dict(video=data_root)))
test_dataloader = dict(dataset=dict(ann_file='data/ntu60/ntu60_val_xsub_videos.txt',
                                    data_prefix=dict(video=data_root)))
