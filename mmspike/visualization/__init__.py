"""Drawing for the tools, the inferencers and the task hooks (NumPy / OpenCV / Matplotlib only;
no task codebase imported): ``video_overlay.py`` draws the per-frame results of
:func:`mmspike.apis.inference_video` (every task), ``video_writer.py`` writes MP4 files as the
frames come, ``visualization/pose/`` draws predicted and ground-truth skeletons into videos.
Segmentation overlays of the test hook use MMSeg's own visualizer."""
