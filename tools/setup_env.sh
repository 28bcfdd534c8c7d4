#!/usr/bin/env bash
# Build (or reuse) mmspike's project-local environment: torch + the OpenMMLab stack + spikingjelly.
#
#   bash tools/setup_env.sh            # idempotent; prints the venv's python path on the last line
#
# Environment variables:
#   MMSPIKE_VENV   where the virtual environment lives      (default: <repo>/.venv)
#   MMSPIKE_CACHE  where compiled wheels are cached         (default: ~/.cache/mmspike)
#   MMSPIKE_PYTHON the interpreter that creates the venv    (default: python3.11, else python3)
#
# Each workaround for an upstream problem is marked "UPSTREAM:" with the issue it works around;
# runtime repairs live in mmspike/engine/compat.py.  The slow part is compiling mmcv 2.1.0's ops (about
# 15 minutes on 2 cores); the wheel is cached outside the clone so a new clone reuses it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMSPIKE_VENV:-$REPO/.venv}
CACHE=${MMSPIKE_CACHE:-$HOME/.cache/mmspike}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMCV_SHA256=d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f
XTCOCOTOOLS_VERSION=1.14.3
START=$SECONDS

log() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# This machine's pip configuration lists local index folders that may not exist; pip then warns
# once per package.  Hide exactly that warning, keep everything else.
pip_quiet() {
    "$VENV/bin/python" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

# The stamp names everything that decides the environment's content: when this script or the
# requirements change, the next run re-installs.
stamp_hash=$(cat "$REPO/tools/setup_env.sh" "$REPO"/requirements/*.txt "$REPO/setup.py" \
             | sha256sum | cut -c1-16)
STAMP=$VENV/.mmspike-stack-$stamp_hash

check_stack() {
    "$VENV/bin/python" - <<'PY'
import importlib, sys
for name in ('torch', 'mmcv.ops', 'mmengine', 'mmaction.models', 'mmdet.models', 'mmpose.models',
             'mmseg.models', 'spikingjelly.activation_based.neuron', 'mmspike'):
    importlib.import_module(name)
PY
}

if [[ -f $STAMP ]] && check_stack 2>/dev/null; then
    log "environment is up to date: $VENV"
    echo "$VENV/bin/python"
    exit 0
fi

# ---- 1. virtual environment and torch ---------------------------------------------------------
if [[ ! -x $VENV/bin/python ]]; then
    py=${MMSPIKE_PYTHON:-}
    if [[ -z $py ]]; then
        py=$(command -v python3.11 || command -v python3 || true)
    fi
    [[ -n $py ]] || die "no python3 found; install Python 3.11 (with venv) first"
    log "creating virtual environment $VENV with $($py --version 2>&1)"
    "$py" -m venv "$VENV" || die "'$py -m venv' failed (Debian: apt-get install python3-venv)"
fi
PY_TAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')

# The CUDA build of torch and its nvidia-* packages take about 6 GiB once unpacked; a disk that fills
# half-way leaves pip's "[Errno 28] No space left on device" and a broken venv, so check first.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    need_kib=$((7 * 1024 * 1024))
    free_kib=$(df -Pk "$VENV" | awk 'NR == 2 {print $4}')
    if [[ -n $free_kib && $free_kib -lt $need_kib ]]; then
        die "only $((free_kib / 1024)) MiB free on the disk of $VENV; installing torch and the" \
            "OpenMMLab stack needs about $((need_kib / 1024)) MiB (set MMSPIKE_VENV to another disk)"
    fi
fi
log "installing torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION and build tools"
# UPSTREAM: mmcv's setup.py and mmengine's get_installed_path (used by `_base_ = 'mmaction::...'`)
# import pkg_resources, which setuptools 81 removed.
pip_quiet install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    "setuptools<81" wheel

# ---- 2. mmcv with compiled ops (cached) ---------------------------------------------------------
WHEELS=$CACHE/wheels/$PY_TAG-torch$TORCH_VERSION
mkdir -p "$WHEELS"
mmcv_wheel=$(ls "$WHEELS"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -1 || true)
if [[ -z $mmcv_wheel ]]; then
    log "no cached mmcv $MMCV_VERSION wheel in $WHEELS: compiling its ops (about 15 minutes)"
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    # pip needs the venv's torch to read the sdist's metadata, hence --no-build-isolation.
    pip_quiet download -q --no-deps --no-binary mmcv --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$build"
    echo "$MMCV_SHA256  $build/mmcv-$MMCV_VERSION.tar.gz" | sha256sum -c --quiet \
        || die "mmcv sdist checksum mismatch"
    tar xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    # UPSTREAM: mmcv 2.1.0 compiles with -std=c++14/17, torch >= 2.10 headers need C++20
    # ("#error C++20 or later compatible compiler is required to use ATen").
    sed -i "s/'-std=c++1[47]'/'-std=c++20'/g" "$build/mmcv-$MMCV_VERSION/setup.py"
    (cd "$build/mmcv-$MMCV_VERSION" &&
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip_quiet wheel -q --no-build-isolation --no-deps -w "$build/dist" .) \
        || die "compiling mmcv $MMCV_VERSION failed (see the compiler output above)"
    built=$(ls "$build"/dist/mmcv-*.whl)
    cp "$built" "$WHEELS/.partial.whl"
    mv "$WHEELS/.partial.whl" "$WHEELS/$(basename "$built")"   # atomic: no half-written cache
    mmcv_wheel=$WHEELS/$(basename "$built")
    log "cached $mmcv_wheel"
else
    log "using cached $mmcv_wheel"
fi

# UPSTREAM: the xtcocotools wheel on PyPI is built against numpy 1.x and fails under numpy 2
# ("numpy.dtype size changed"); build it from source once and cache it.
xtc_wheel=$(ls "$WHEELS"/xtcocotools-$XTCOCOTOOLS_VERSION-*.whl 2>/dev/null | head -1 || true)
if [[ -z $xtc_wheel ]]; then
    log "building xtcocotools $XTCOCOTOOLS_VERSION against numpy 2"
    pip_quiet install -q "numpy>=2" cython
    xbuild=$(mktemp -d)
    pip_quiet wheel -q --no-build-isolation --no-binary xtcocotools --no-deps \
        "xtcocotools==$XTCOCOTOOLS_VERSION" -w "$xbuild"
    built=$(ls "$xbuild"/xtcocotools-*.whl)
    cp "$built" "$WHEELS/.partial.whl" && mv "$WHEELS/.partial.whl" "$WHEELS/$(basename "$built")"
    xtc_wheel=$WHEELS/$(basename "$built")
    rm -rf "$xbuild"
fi

# ---- 3. the OpenMMLab stack, spikingjelly, test tools -------------------------------------------
log "installing mmcv, the OpenMMLab packages, spikingjelly and test tools"
# UPSTREAM: chumpy (an mmpose requirement) is sdist-only and its setup.py imports pip.
pip_quiet install -q --no-build-isolation chumpy
pip_quiet install -q "$mmcv_wheel" "$xtc_wheel" \
    -r "$REPO/requirements/runtime.txt" -r "$REPO/requirements/tests.txt"
# Make sure the compiled wheels are the ones installed (a requirement may have pulled another).
pip_quiet install -q --no-deps --force-reinstall "$mmcv_wheel" "$xtc_wheel"

log "installing mmspike (editable) and applying install-time repairs"
pip_quiet install -q --no-deps --no-build-isolation -e "$REPO"
"$VENV/bin/mmspike-compat" --install

check_stack || die "the environment was built but an import check failed (see above)"
# The fused neurons' C++ CPU kernels are compiled on first use (about a minute, cached in
# ~/.cache/mmspike/torch_extensions); build them now so that no training run waits for them.
log "building the fused neurons' CPU kernels"
"$VENV/bin/python" - <<'PY' >&2
from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
load_cpu_kernels()
print(f'[setup_env] fused neuron CPU kernels: {cpu_kernel_status()}')
PY
rm -f "$VENV"/.mmspike-stack-*
touch "$STAMP"
log "done: $VENV"
echo "$VENV/bin/python"
