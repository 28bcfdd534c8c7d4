#!/usr/bin/env bash
# README command (b): set up the environment if needed, then run the whole test suite.
#   bash tools/run_tests.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=$(bash tools/setup_env.sh | tail -n 1)
# -rs prints the reason of every skipped test.
exec "$PY" -m pytest tests -rs --durations=10 "$@"
