#!/usr/bin/env bash
# Produces experiments/results/nb201_predictor.csv on a CPU: the CPU-sized
# NAR-Former and the MLP baseline at 781, 1563 and 7812 training architectures.
# Each row records the exact command that produced it. Needs the NAS-Bench-201
# CSV (NAS_SEARCH_NB201_CSV or ../shared/data/nb201/...). About 3.5 hours on 2 cores
# (781: 15 min each (two seeds), 1563: 49 min, 7812: 2.1 h, the three MLPs: 4 min).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
RESULTS=experiments/results/nb201_predictor.csv
train() { ./target/release/nas-search predictor train "$@" --results "$RESULTS" --quiet; }
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=1563 --set train.epochs=450 --out runs/predictor/cpu_1563_450
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=781 --set train.epochs=200 --out runs/predictor/cpu_781_rev2
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=781 --set train.epochs=200 --set train.seed=1 \
  --out runs/predictor/cpu_781_rev2_seed1
train experiments/nb201_predictor_cpu.yaml --set split.train_archs=7812 --set train.epochs=300 \
  --set train.grad_clip_norm=0.02 --set model.transformer.dropout=0.0 --out runs/predictor/cpu_7812_300_clip
for n in 781 1563 7812; do
  train experiments/nb201_mlp.yaml --set split.train_archs=$n --out runs/predictor/mlp_$n
done
