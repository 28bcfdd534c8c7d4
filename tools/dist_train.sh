#!/usr/bin/env bash
# Distributed training with torchrun (tools/dist_launch.sh).
#   bash tools/dist_train.sh CONFIG NPROC [tools/train.py arguments]
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash $0 CONFIG NPROC [tools/train.py arguments]" >&2
    exit 2
fi
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
exec bash "$TOOLS_DIR/dist_launch.sh" "$TOOLS_DIR/train.py" "$2" "$1" "${@:3}"
