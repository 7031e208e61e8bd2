#!/usr/bin/env bash
# Two builds' speed beside PyTorch in one sitting: old and new alternate,
# ROUNDS rounds of the built-in trainer's three bench commands and
# PREDICTOR_ROUNDS of the predictor's, every figure with the CPU line that
# `bench` prints first. Compare each build's ratios, not its raw figures
# (the machine is noisy; docs/speed.md).
#
#   NAS_SEARCH_PYTHON=$(bash scripts/torch-env.sh) \
#     scripts/bench_compare_builds.sh OLD_BIN NEW_BIN > bench.log
set -euo pipefail
old=${1:?usage: $0 OLD_BIN NEW_BIN}
new=${2:?usage: $0 OLD_BIN NEW_BIN}
ROUNDS=${ROUNDS:-3}
PREDICTOR_ROUNDS=${PREDICTOR_ROUNDS:-2}
for round in $(seq 1 "$ROUNDS"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    for args in "" "--channels 8 --cells 5" "--space mobilenetv3"; do
      echo "=== round $round $which: bench train $args --compare-torch"
      # shellcheck disable=SC2086
      "$bin" bench train $args --compare-torch 2>&1
    done
    if [ "$round" -le "$PREDICTOR_ROUNDS" ]; then
      echo "=== round $round $which: bench predictor --compare-torch"
      "$bin" bench predictor --compare-torch 2>&1
    fi
  done
done
