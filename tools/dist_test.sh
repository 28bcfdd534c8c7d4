#!/usr/bin/env bash
# Distributed testing with torchrun (tools/dist_launch.sh).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py arguments]
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash $0 CONFIG CHECKPOINT NPROC [tools/test.py arguments]" >&2
    exit 2
fi
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
exec bash "$TOOLS_DIR/dist_launch.sh" "$TOOLS_DIR/test.py" "$3" "$1" "$2" "${@:4}"
