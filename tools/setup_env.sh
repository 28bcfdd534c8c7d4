#!/usr/bin/env bash
# Build (or reuse) mmspike's project-local environment: torch, the OpenMMLab stack, spikingjelly.
#
#   bash tools/setup_env.sh [LEVEL]    # idempotent; prints the venv's python path on the last line
#
# LEVEL (default: full):
#   action  torch, mmengine, mmcv-lite (no compiled ops), MMAction2 and spikingjelly: what the
#           action recognition configs need (tools/demo.sh asks for it for those configs).
#   full    everything: adds MMPose, MMDetection, MMSegmentation, the test tools and mmcv with
#           compiled ops (MMPose and MMSeg import mmcv.ops).  Compiling mmcv takes about 15 minutes
#           on 2 cores, once: the wheel is cached outside the clone so a new clone reuses it.
#           tools/run_tests.sh and the pose / segmentation configs ask for it.
# A full environment serves action too; going from action to full replaces mmcv-lite by mmcv.
# Packages are installed as `pip install -e ".[action]"` (or ".[all,tests]") with the exact
# versions of the tested environment from requirements/constraints.txt.
#
# Environment variables:
#   MMSPIKE_VENV    where the virtual environment lives   (default: <repo>/.venv)
#   MMSPIKE_CACHE   compiled wheels and kernels are cached (default: ~/.cache/mmspike)
#   MMSPIKE_PYTHON  the interpreter that creates the venv (default: python3.11, else python3)
#   MMSPIKE_EXT_DIR the fused neurons' kernels are built  (default: $MMSPIKE_CACHE/torch_extensions)
#
# Each workaround for an upstream problem is marked "UPSTREAM:" with the issue it works around;
# runtime repairs live in mmspike/engine/compat.py.
set -euo pipefail

LEVEL=${1:-full}
case $LEVEL in
    action|full) ;;
    *) echo "usage: bash tools/setup_env.sh [action|full] (got '$LEVEL')" >&2; exit 2 ;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMSPIKE_VENV:-$REPO/.venv}
CACHE=${MMSPIKE_CACHE:-$HOME/.cache/mmspike}
export MMSPIKE_EXT_DIR=${MMSPIKE_EXT_DIR:-$CACHE/torch_extensions}
CONSTRAINTS=$REPO/requirements/constraints.txt
MMCV_SHA256=d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f
START=$SECONDS

log() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The version requirements/constraints.txt pins for package $1.
pinned() {
    local version
    version=$(sed -n "s/^$1==\([^ #]*\).*/\1/p" "$CONSTRAINTS")
    [[ -n $version ]] || die "requirements/constraints.txt pins no version of $1"
    echo "$version"
}
TORCH_VERSION=$(pinned torch)
MMCV_VERSION=$(pinned mmcv)
XTCOCOTOOLS_VERSION=$(pinned xtcocotools)

# A pip configuration may list local index folders that do not exist; pip then warns
# once per package.  Hide exactly that warning, keep everything else.
pip_quiet() {
    "$VENV/bin/python" -m pip "$@" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
installed() { "$VENV/bin/python" -m pip show -q "$1" >/dev/null 2>&1; }

# The stamp names the level and everything that decides the environment's content: when this
# script or the requirements change, the next run re-installs.
stamp_hash=$(cat "$REPO/tools/setup_env.sh" "$REPO"/requirements/*.txt "$REPO/setup.py" \
             | sha256sum | cut -c1-16)
stamp() { echo "$VENV/.mmspike-stack-$1-$stamp_hash"; }

# Import check of a level.  mmspike.action comes before mmaction.models: it provides the
# in-memory placeholder for the localizer package the mmaction2 1.2.0 wheel lacks.
check_stack() {
    "$VENV/bin/python" - "$1" <<'PY'
import importlib, sys, warnings
# mmcv-lite: mmcv.cnn's transformer module warns that it cannot import an mmcv.ops attention
warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
names = ['torch', 'mmengine', 'mmcv.transforms', 'spikingjelly.activation_based.neuron',
         'decord', 'mmspike', 'mmspike.action', 'mmaction.models']
if sys.argv[1] == 'full':
    names += ['mmcv.ops', 'mmdet.models', 'mmspike.pose', 'mmpose.models', 'mmspike.seg',
              'mmseg.models', 'pytest']
for name in names:
    importlib.import_module(name)
PY
}

up_to_date() {
    local levels=full
    [[ $LEVEL == action ]] && levels='full action'
    for level in $levels; do
        if [[ -f $(stamp "$level") ]] && check_stack "$LEVEL" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

if up_to_date; then
    log "environment ($LEVEL) is up to date: $VENV"
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

# The CUDA build of torch and its nvidia-* packages take about 6 GiB once unpacked; a disk that
# fills half-way leaves pip's "[Errno 28] No space left on device" and a broken venv: check first.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    need_kib=$((7 * 1024 * 1024))
    free_kib=$(df -Pk "$VENV" | awk 'NR == 2 {print $4}')
    if [[ -n $free_kib && $free_kib -lt $need_kib ]]; then
        die "only $((free_kib / 1024)) MiB free on the disk of $VENV; installing torch and the" \
            "OpenMMLab stack needs about $((need_kib / 1024)) MiB" \
            "(set MMSPIKE_VENV to another disk)"
    fi
fi
log "installing torch $TORCH_VERSION, torchvision and build tools ($LEVEL environment)"
# UPSTREAM: mmcv's setup.py and mmengine's get_installed_path (used by `_base_ = 'mmaction::...'`)
# import pkg_resources, which setuptools 81 removed (the constraints pin setuptools 80).
pip_quiet install -q -c "$CONSTRAINTS" torch torchvision setuptools wheel ninja

# The fused neurons' C++ CPU kernels are compiled on first use (about a minute, cached in
# $MMSPIKE_EXT_DIR).  They need only torch and ninja, so they are built now, beside the package
# installs below, from the module's file (mmspike itself is not importable yet); the same build
# is found up to date when mmspike loads it.  If this early build fails, it is retried at the end.
KERNEL_LOG=$(mktemp)
"$VENV/bin/python" - "$REPO/mmspike/ops/neuron_kernels.py" >"$KERNEL_LOG" 2>&1 <<'PY' &
import importlib.util
import sys

spec = importlib.util.spec_from_file_location('mmspike_neuron_kernels_early', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.load_cpu_kernels()
print(module.cpu_kernel_status())
PY
KERNEL_PID=$!
# Never leave this script (even on an error) with the compiler still running behind it.
cleanup() {
    wait "$KERNEL_PID" 2>/dev/null || true
    rm -rf "$KERNEL_LOG" ${build:+"$build"}
}
trap cleanup EXIT

WHEELS=$CACHE/wheels/$PY_TAG-torch$TORCH_VERSION
if [[ $LEVEL == full ]]; then
    # ---- 2. mmcv with compiled ops, xtcocotools for numpy 2 (both cached) ------------------------
    mkdir -p "$WHEELS"
    mmcv_wheel=$(ls "$WHEELS"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -1 || true)
    if [[ -z $mmcv_wheel ]]; then
        log "no cached mmcv $MMCV_VERSION wheel in $WHEELS: compiling its ops (about 15 minutes)"
        build=$(mktemp -d)   # removed by cleanup()
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
        pip_quiet install -q -c "$CONSTRAINTS" numpy cython
        xbuild=$(mktemp -d)
        pip_quiet wheel -q --no-build-isolation --no-binary xtcocotools --no-deps \
            "xtcocotools==$XTCOCOTOOLS_VERSION" -w "$xbuild"
        built=$(ls "$xbuild"/xtcocotools-*.whl)
        cp "$built" "$WHEELS/.partial.whl"
        mv "$WHEELS/.partial.whl" "$WHEELS/$(basename "$built")"
        xtc_wheel=$WHEELS/$(basename "$built")
        rm -rf "$xbuild"
    fi

    # ---- 3. the OpenMMLab stack, spikingjelly, test tools, mmspike -------------------------------
    # mmcv-lite (an action environment) and mmcv both own the `mmcv` package folder: installing
    # one over the other mixes their files, and uninstalling either later breaks the other.
    if installed mmcv-lite; then
        log "replacing mmcv-lite by mmcv $MMCV_VERSION with compiled ops"
        pip_quiet uninstall -q -y mmcv-lite
    fi
    log "installing mmcv, mmspike[all,tests] (MMAction2, MMPose, MMDetection, MMSeg), spikingjelly"
    # UPSTREAM: chumpy (an mmpose requirement) is sdist-only and its setup.py imports pip.
    pip_quiet install -q -c "$CONSTRAINTS" --no-build-isolation chumpy
    pip_quiet install -q -c "$CONSTRAINTS" --no-build-isolation "$mmcv_wheel" "$xtc_wheel" \
        -e "$REPO[all,tests]"
    # Make sure the compiled wheels are the ones installed (a requirement may have pulled another).
    pip_quiet install -q --no-deps --force-reinstall "$mmcv_wheel" "$xtc_wheel"
else
    # ---- 2. mmcv-lite, MMAction2, spikingjelly, mmspike ------------------------------------------
    # A full environment's compiled mmcv serves the action configs as well; keep it.
    lite=mmcv-lite
    installed mmcv && lite=
    log "installing ${lite:+mmcv-lite, }mmspike[action] (MMAction2) and spikingjelly"
    pip_quiet install -q -c "$CONSTRAINTS" --no-build-isolation $lite -e "$REPO[action]"
fi

check_stack "$LEVEL" \
    || die "the $LEVEL environment was built but an import check failed (see above)"
if wait "$KERNEL_PID" && [[ $(tail -n 1 "$KERNEL_LOG") == built ]]; then
    log "fused neuron CPU kernels: built"
else
    log "building the fused neurons' CPU kernels (the early build said: $(tail -n 1 "$KERNEL_LOG"))"
    "$VENV/bin/python" - <<'PY' >&2
from mmspike.ops.neuron_kernels import cpu_kernel_status, load_cpu_kernels
load_cpu_kernels()
print(f'[setup_env] fused neuron CPU kernels: {cpu_kernel_status()}')
PY
fi
rm -f "$VENV"/.mmspike-stack-*
touch "$(stamp "$LEVEL")"
log "done ($LEVEL environment): $VENV"
echo "$VENV/bin/python"
