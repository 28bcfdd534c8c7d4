#!/usr/bin/env bash
# The first of README's two commands: set up the environment if needed, then train and test the
# demo model on the embedded dataset (generated on first use).
#   bash tools/demo.sh [CONFIG] [extra tools/train.py arguments]
# Action recognition configs: prints test top-1 and the mean firing rate, then the same test
# with the frames of every clip shuffled (a model that uses temporal order must drop towards
# chance there).  3D pose configs (model VideoPoseLifter): prints MPJPE / PA-MPJPE beside the
# mean-pose baseline and writes videos of predicted vs ground-truth skeletons (--show-dir).
# Video segmentation configs (model VideoEncoderDecoder): prints mIoU, mVC_8 / mVC_16 and the
# energy per clip, and writes ground truth | prediction overlays of a few clips (--show-dir).
# The environment is set up for what the config needs (tools/setup_env.sh): the light `action`
# level (mmcv-lite, no compiled ops) for MMAction2 configs, the `full` one otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=${1:-configs/svformer_demo.py}
shift || true
[ -f "$CONFIG" ] || { echo "demo: no config file $CONFIG" >&2; exit 2; }
# the fused neurons' kernels: where tools/setup_env.sh builds them
export MMSPIKE_EXT_DIR=${MMSPIKE_EXT_DIR:-${MMSPIKE_CACHE:-$HOME/.cache/mmspike}/torch_extensions}
START=$SECONDS
# Every level holds mmengine, MMAction2 and mmspike's core: enough to read any config (its
# `mmaction::` bases included) without importing its custom_imports.
PY=$(bash tools/setup_env.sh action | tail -n 1)
INFO=$("$PY" - "$CONFIG" <<'PY'
import sys

from mmengine.config import Config

from mmspike.engine import compat

compat.apply()  # `mmspike::file.py` bases
cfg = Config.fromfile(sys.argv[1], import_custom_modules=False)
imports = (cfg.get('custom_imports') or {}).get('imports', [])
imports = [imports] if isinstance(imports, str) else list(imports)
action = 'mmspike.action' in imports or cfg.get('default_scope') == 'mmaction'
print(cfg.model.type, 'action' if action else 'full')
PY
)
read -r MODEL LEVEL <<< "$INFO"
if [ "$LEVEL" = full ]; then
    PY=$(bash tools/setup_env.sh full | tail -n 1)
fi
echo "demo: set-up took $((SECONDS - START)) s ($LEVEL environment); training $CONFIG"
NAME=$(basename "$CONFIG" .py)
WORK_DIR=work_dirs/$NAME
START=$SECONDS
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
