#!/usr/bin/env bash
# Produces the current rows of experiments/results/nb201_predictor.csv on a
# CPU: the CPU-sized NAR-Former and the MLP baseline at 781, 1563 and 7812
# training architectures, the model as it is now (model_rev in each row),
# trained natively on the CPU (since 2026-11-30). Each row records the exact
# command that produced it; rows of earlier revisions and builds stay in the
# CSV beside them (docs/results.md says which is which). Needs the
# NAS-Bench-201 table (built into the binary). Timings on 2 cores are in
# docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/nas-search
fi
RESULTS=experiments/results/nb201_predictor.csv
train() { "$BIN" predictor train "$@" --results "$RESULTS" --quiet; }
for n in 781 1563 7812; do
  train experiments/nb201_mlp.yaml --set split.train_archs=$n --out runs/predictor/mlp_${n}_rev2
done
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=781 --set train.epochs=200 \
  --out runs/predictor/cpu_781_native
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=781 --set train.epochs=1000 \
  --set train.checkpoint_every=10 --out runs/predictor/cpu_781_1000_native
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=1563 --set train.epochs=450 \
  --out runs/predictor/cpu_1563_450_native
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=7812 --set train.epochs=300 \
  --set train.grad_clip_norm=0.02 --set model.transformer.dropout=0.0 --out runs/predictor/cpu_7812_300_clip_native
