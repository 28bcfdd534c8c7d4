#!/usr/bin/env bash
# README command (a): set up the environment if needed, then train and test the demo model on
# the embedded dataset (generated on first use).
#   bash tools/demo.sh [CONFIG] [extra tools/train.py arguments]
# Action recognition configs: prints test top-1 and the mean firing rate, then the same test
# with the frames of every clip shuffled (a model that uses temporal order must drop towards
# chance there).  3D pose configs (model VideoPoseLifter): prints MPJPE / PA-MPJPE beside the
# mean-pose baseline and writes videos of predicted vs ground-truth skeletons (--show-dir).
# Video segmentation configs (model VideoEncoderDecoder): prints mIoU, mVC_8 / mVC_16 and the
# energy per clip, and writes ground truth | prediction overlays of a few clips (--show-dir).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=${1:-configs/svformer_demo.py}
shift || true
PY=$(bash tools/setup_env.sh | tail -n 1)
NAME=$(basename "$CONFIG" .py)
WORK_DIR=work_dirs/$NAME
START=$SECONDS
MODEL=$("$PY" -c "import sys; from mmengine.config import Config; \
print(Config.fromfile(sys.argv[1]).model.type)" "$CONFIG")
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
if [ "$MODEL" = "VideoPoseLifter" ] || [ "$MODEL" = "VideoEncoderDecoder" ]; then
    "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" --show-dir vis \
        | tee "$WORK_DIR/test_result.txt"
else
    "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" | tee "$WORK_DIR/test_result.txt"
    "$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/shuffled_control" \
        --shuffle-frames | tee "$WORK_DIR/test_result_shuffled.txt"
fi
echo "demo: train + test took $((SECONDS - START)) s; results in $WORK_DIR/test_result*.txt"
