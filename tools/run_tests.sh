#!/usr/bin/env bash
# The second of README's two commands (what CI runs): set up the full environment if needed,
# lint, then run the whole test suite.
#   bash tools/run_tests.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the fused neurons' kernels: where tools/setup_env.sh builds them
export MMSPIKE_EXT_DIR=${MMSPIKE_EXT_DIR:-${MMSPIKE_CACHE:-$HOME/.cache/mmspike}/torch_extensions}
PY=$(bash tools/setup_env.sh full | tail -n 1)
# Lint first (configuration in pyproject.toml): a lint error fails the run before the tests.
"$(dirname "$PY")/ruff" check mmspike tools tests configs
# -rs prints the reason of every skipped test.
exec "$PY" -m pytest tests -rs --durations=10 "$@"
