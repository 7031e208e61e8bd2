#!/usr/bin/env bash
# The one script to run on a lent GPU machine (or, with `wgpu`, on any
# machine with a Vulkan driver, software or not). Builds with the device's
# feature, then runs each check under its own time limit and appends every
# figure, with the device's name, to one file README's speed section can
# quote:
#
#   bash scripts/gpu-check.sh [cuda|wgpu] [OUT_FILE] [MINUTES]
#
# Checks, in order: `bench predictor --compare-torch`, `bench train
# --compare-torch` (DARTS C=16, C=8 and MobileNetV3), a paper-setting
# predictor training (NAS-Bench-201, 781 cells, d_model 192) for as many
# epochs as its share of MINUTES allows, and the quickstart on the device.
# A check that fails or runs out of time is recorded as such; the rest go
# on. MINUTES (default 7: a lent machine has 15 minutes for its start, the
# build and the checks) is the budget for all checks after the build.
# The PyTorch comparison needs NAS_SEARCH_PYTHON (a Python with torch;
# scripts/torch-env.sh makes one); without it the figures are ours only.
set -uo pipefail
device=${1:-cuda}
out=${2:-gpu-check-$device.txt}
minutes=${3:-7}
case "$device" in
  cuda) features=cuda; export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000} ;;
  wgpu) features=wgpu; export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} ;;
  *) echo "usage: $0 [cuda|wgpu] [OUT_FILE] [MINUTES]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/nas-search

name() {
  if [ "$device" = cuda ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1
  elif command -v vulkaninfo >/dev/null; then
    vulkaninfo --summary 2>/dev/null | grep -m1 deviceName | sed 's/.*= //'
  else
    echo "$device device (no nvidia-smi / vulkaninfo to name it)"
  fi
}

# check LABEL SECONDS COMMAND...: runs one check, its output into $out.
check() {
  local label=$1 limit=$2
  shift 2
  echo "## $label (limit ${limit}s): $*" | tee -a "$out"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | grep -v XDG_RUNTIME_DIR | tee -a "$out"
  local rc=${PIPESTATUS[0]}
  case $rc in
    0) echo "-> ok in $((SECONDS - start)) s" | tee -a "$out" ;;
    124) echo "-> stopped at its time limit (${limit}s)" | tee -a "$out" ;;
    *) echo "-> FAILED (exit $rc) after $((SECONDS - start)) s" | tee -a "$out" ;;
  esac
  echo | tee -a "$out"
}

{
  echo "# nas-search GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "device: $device, $(name); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
} | tee "$out"

build_start=$SECONDS
if ! cargo build --release --features "$features" 2>&1 | tail -3 | tee -a "$out"; then
  echo "build failed" | tee -a "$out"
  exit 1
fi
echo "build: $((SECONDS - build_start)) s" | tee -a "$out"

budget=$((minutes * 60))
torch=()
[ -n "${NAS_SEARCH_PYTHON:-}" ] && torch=(--compare-torch)
check "predictor speed" $((budget / 8)) $bin bench predictor --device "$device" --repeats 3 "${torch[@]}"
check "trainer speed, DARTS C=16" $((budget / 10)) $bin bench train --device "$device" "${torch[@]}"
check "trainer speed, DARTS C=8" $((budget / 10)) $bin bench train --device "$device" --channels 8 --cells 5 "${torch[@]}"
check "trainer speed, MobileNetV3" $((budget / 10)) $bin bench train --device "$device" --space mobilenetv3 "${torch[@]}"
run=$(mktemp -d)
check "paper-setting predictor training (stops at its limit; the log keeps each epoch)" $((budget * 3 / 10)) \
  $bin predictor train experiments/nb201_predictor_5pct.yaml --set device="$device" --out "$run/predictor"
[ -f "$run/predictor/train_log.csv" ] && {
  echo "epochs done: $(($(wc -l < "$run/predictor/train_log.csv") - 1)); last row:"
  tail -1 "$run/predictor/train_log.csv"
  echo
} | tee -a "$out"
check "quickstart on the device" $((budget * 2 / 10)) \
  $bin run experiments/quickstart.yaml --set device="$device" --run-dir "$run/quickstart" --quiet
echo "figures in $out"
