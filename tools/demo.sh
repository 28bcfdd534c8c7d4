#!/usr/bin/env bash
# README command (a): set up the environment if needed, then train and test the demo model on
# the embedded dataset (generated on first use).  Prints test top-1 and the mean firing rate,
# then the same test with the frames of every clip shuffled (a model that uses temporal order
# must drop towards chance there).
#   bash tools/demo.sh [CONFIG] [extra tools/train.py arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=${1:-configs/svformer_demo.py}
shift || true
PY=$(bash tools/setup_env.sh | tail -n 1)
NAME=$(basename "$CONFIG" .py)
WORK_DIR=work_dirs/$NAME
START=$SECONDS
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" | tee "$WORK_DIR/test_result.txt"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/shuffled_control" --shuffle-frames \
    | tee "$WORK_DIR/test_result_shuffled.txt"
echo "demo: train + test took $((SECONDS - START)) s; results in $WORK_DIR/test_result*.txt"
