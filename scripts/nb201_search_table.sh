#!/usr/bin/env bash
# Produces experiments/results/nb201_search.csv: 100 real queries on
# NAS-Bench-201 (CIFAR-10 test accuracy), 10 seeds, for the predictor-guided
# workflow and the two real-evaluation baselines. Needs the NAS-Bench-201 CSV
# (NAS_SEARCH_NB201_CSV or ../shared/data/nb201/...). JOBS runs (default 2)
# go at once; mean_seconds is the wall time of one run among them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
OUT=experiments/results/nb201_search.csv
SEEDS="0 1 2 3 4 5 6 7 8 9"
JOBS=${JOBS:-2}
declare -A EXTRA=(
  [nar-former-evolution]=""
  [regularized-evolution]="--set strategy=regularized-evolution --set search.queries=100"
  [random-search]="--set strategy=random-search --set search.queries=100"
)

# one run: writes its wall seconds beside the run directory
one_run() {
  local method=$1 s=$2 extra=$3
  local dir=runs/nb201_search/$method/seed-$s
  rm -rf "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  ./target/release/nas-search run experiments/nb201.yaml --seed "$s" --run-dir "$dir" $extra --quiet > /dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' > "$dir.seconds"
}
export -f one_run

echo "method,queries,seeds,mean_test_acc,std_test_acc,mean_seconds,command" > "$OUT.tmp"
for method in nar-former-evolution regularized-evolution random-search; do
  # shellcheck disable=SC2086
  printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'one_run "$0" "$1" "$2"' "$method" {} "${EXTRA[$method]}"
  accs=(); secs=()
  for s in $SEEDS; do
    dir=runs/nb201_search/$method/seed-$s
    accs+=("$(awk -F, 'NR==2{print $7}' "$dir/summary.csv")")
    queries=$(awk -F, 'NR==2{print $8}' "$dir/summary.csv")
    secs+=("$(cat "$dir.seconds")")
  done
  stats=$(printf '%s\n' "${accs[@]}" | awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; v=q/n-m*m; if (v<0) v=0; printf "%.4f,%.4f", m, sqrt(v)}')
  msec=$(printf '%s\n' "${secs[@]}" | awk '{s+=$1; n++} END {printf "%.1f", s/n}')
  cmd="for s in $SEEDS; do nas-search run experiments/nb201.yaml --seed \$s --run-dir runs/nb201_search/$method/seed-\$s ${EXTRA[$method]} --quiet; done"
  echo "$method,$queries,10,$stats,$msec,\"$cmd\"" >> "$OUT.tmp"
  echo "$method: ${accs[*]}"
done
mv "$OUT.tmp" "$OUT"
cat "$OUT"
