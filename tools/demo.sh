#!/usr/bin/env bash
# README command (a): set up the environment if needed, then train and test the demo model on
# the embedded dataset (generated on first use), printing test top-1 and mean firing rate.
#   bash tools/demo.sh [CONFIG] [extra tools/train.py arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=${1:-configs/spiking_convnet_demo.py}
shift || true
PY=$(bash tools/setup_env.sh | tail -n 1)
NAME=$(basename "$CONFIG" .py)
WORK_DIR=work_dirs/$NAME
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR"
