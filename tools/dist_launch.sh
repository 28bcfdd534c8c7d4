#!/usr/bin/env bash
# torchrun for tools/dist_train.sh and tools/dist_test.sh: one process per GPU, or per CPU share
# without CUDA (gloo backend; see mmspike/engine/dist.py).
#   bash tools/dist_launch.sh SCRIPT NPROC [SCRIPT arguments]
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
# PYTHON (python).
set -euo pipefail
SCRIPT=$1
NPROC=$2
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$(dirname "$TOOLS_DIR")${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$SCRIPT" "${@:3}" --launcher pytorch
