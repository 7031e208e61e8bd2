#!/usr/bin/env bash
# Produces experiments/results/latency_predictor.csv: NAR-Former and the MLP
# learning the CPU latency of NAS-Bench-201 networks (the shipped
# measurement, search_spaces/latency/nb201_cpu.csv.gz) from 100, 500 and 1000
# measured networks, then NAR-Former on the MobileNetV3 and DARTS spaces'
# networks (mobilenetv3_cpu.csv.gz, darts_cpu.csv.gz; the MLP reads only
# NAS-Bench-201 cells), each beside the MACs fit and the per-unit look-up
# table on the same split (written by the same command). Each row records
# its command.
#
#   scripts/latency_table.sh          # BIN=path to use another build
#   SPACES="mobilenet darts" scripts/latency_table.sh   # only those spaces' rows
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/nas-search}
[ -n "${BIN_BUILT:-}" ] || cargo build --release
RESULTS=experiments/results/latency_predictor.csv
for space in ${SPACES:-nb201 mobilenet darts}; do
  for n in 100 500 1000; do
    if [ "$space" = nb201 ]; then
      "$BIN" predictor train experiments/nb201_latency_predictor.yaml --set split.train_archs=$n \
        --out runs/predictor/latency_nar_former_$n --results "$RESULTS" --quiet
      "$BIN" predictor train experiments/nb201_latency_mlp.yaml --set split.train_archs=$n \
        --out runs/predictor/latency_mlp_$n --results "$RESULTS" --quiet
    else
      "$BIN" predictor train experiments/${space}_latency_predictor.yaml --set split.train_archs=$n \
        --out runs/predictor/latency_${space}_$n --results "$RESULTS" --quiet
    fi
  done
done
