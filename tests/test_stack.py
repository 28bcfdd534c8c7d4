"""The set-up environment: OpenMMLab imports, compiled mmcv ops, lazy imports."""
import importlib
import subprocess
import sys

import pytest
import torch


@pytest.mark.parametrize('name', ['mmaction.models', 'mmpose.models', 'mmseg.models',
                                  'mmdet.models', 'mmcv.ops'])
def test_openmmlab_imports(name):
    # mmaction2 1.2.0's wheel imports a package it lacks; the action adapter provides it
    importlib.import_module('mmspike.action')
    importlib.import_module(name)


def test_mmcv_ops_are_compiled():
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = roi_align(feats, rois, (1, 1), 1.0, 0, 'avg', True)
    assert out.shape == (1, 1, 1, 1)


def test_importing_mmspike_imports_no_task_codebase():
    """The core imports no task codebase; each adapter imports its own codebase and no other
    task's (MMAction2's and MMPose's models themselves import MMDetection)."""
    code = ('import sys, {module}; '
            'print(sorted({{m.split(".")[0] for m in sys.modules}} & '
            '{{"mmaction", "mmpose", "mmseg", "mmdet"}}))')
    for module, expected in (('mmspike', '[]'), ('mmspike.action', "['mmaction', 'mmdet']"),
                             ('mmspike.pose', "['mmdet', 'mmpose']")):
        out = subprocess.run([sys.executable, '-c', code.format(module=module)], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        assert out == expected, (module, out)
