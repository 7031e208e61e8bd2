#!/usr/bin/env bash
# NAS-Bench-201 search tables under the benchmark's protocol, on each of its
# three datasets: every method gets 100 real queries of the built-in table;
# the search sees the 12-epoch validation accuracy of the dataset
# (`cifar10-valid`, `cifar100-valid`, `imagenet16-valid`) and a run is
# reported by the 200-epoch test accuracy of the architecture with the best
# signal. The methods: ours (nar-former-evolution), BANANAS (a published
# predictor-guided search, re-implemented: `strategy: bananas`), regularized
# evolution and random search. scripts/nb201_evidence.py scores each run at 25, 50 and 100 queries
# against the benchmark's optimum of the signal (regret, share of seeds at
# it, queries to reach it); one row per dataset, method and query count.
#
#   scripts/nb201_search_table.sh                 # the reported table: seeds 0-9
#   SEEDS="100 101 102 103 104" OUT=experiments/results/nb201_search_tuning.csv \
#     VARIANT=name EXTRA="--set ..." METHODS=nar-former-evolution scripts/nb201_search_table.sh
#                                                 # a tuning row (seeds never reported)
#
# Rows go to OUT (default experiments/results/nb201_search.csv; per seed
# OUT_seeds.csv), replacing an earlier row of the same dataset, method and
# seeds; each row holds the command that made it. JOBS runs go at once
# (default 2); mean_seconds is the wall time of one run among them. The
# best-so-far pictures (mean and min-max band over the seeds, one line per
# method) go to PLOTS/DATASET (default docs/plots/nb201_search).
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN: another build of nas-search (default: build this checkout's)
OUT=${OUT:-experiments/results/nb201_search.csv}
SEEDS=${SEEDS:-"0 1 2 3 4 5 6 7 8 9"}
JOBS=${JOBS:-2}
VARIANT=${VARIANT:-default}
EXTRA=${EXTRA:-}
DATASETS=${DATASETS:-"cifar10 cifar100 imagenet16"}
ALL_METHODS="nar-former-evolution bananas regularized-evolution random-search"
METHODS=${METHODS:-$ALL_METHODS}
CONFIG=${CONFIG:-experiments/nb201.yaml}
PLOTS=${PLOTS:-docs/plots/nb201_search}

method_args() {
  case $1 in
    nar-former-evolution) echo "" ;;
    regularized-evolution) echo "--set strategy=regularized-evolution --set search.queries=100" ;;
    random-search) echo "--set strategy=random-search --set search.queries=100" ;;
    bananas) echo "--set strategy=bananas --set search.queries=100" ;;
    *) echo "unknown method $1" >&2; exit 2 ;;
  esac
}

source scripts/table_runs.sh
export BIN CONFIG

for dataset in $DATASETS; do
  signal="--set evaluator.signal=$dataset-valid --set evaluator.report=$dataset"
  for method in $METHODS; do
    args="$signal $(method_args "$method") $EXTRA"
    name=$method
    [ "$VARIANT" = default ] || name="$method[$VARIANT]"
    root=runs/nb201_search/$VARIANT/$dataset/$method
    # shellcheck disable=SC2086
    printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'one_run "$0" --seed "$1" $2' "$root/seed-{}" {} "$args"
    cmd="for s in $SEEDS; do nas-search run $CONFIG --seed \$s --run-dir $root/seed-\$s --quiet $args; done"
    python3 scripts/nb201_evidence.py "$OUT" "$dataset" "$name" "$root" "$SEEDS" "$cmd"
  done
  if [ "$VARIANT" = default ]; then
    # every method's runs of these seeds that are here, also those of methods not re-run now
    dirs=()
    for method in $ALL_METHODS; do
      for s in $SEEDS; do
        d=runs/nb201_search/$VARIANT/$dataset/$method/seed-$s
        [ -f "$d/summary.csv" ] && dirs+=("$d")
      done
    done
    "$BIN" plot "${dirs[@]}" --out "$PLOTS/$dataset" > /dev/null
  fi
done
