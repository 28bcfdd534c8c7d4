"""Drawing for the task hooks and tools, one sub-package per task (NumPy / OpenCV / Matplotlib
only; no task codebase imported): ``visualization/pose/`` draws predicted and ground-truth
skeletons into videos.  Segmentation overlays use MMSeg's own visualizer."""
