#!/usr/bin/env bash
# NAS-Bench-201 fronts of accuracy against a cost: 10 seeds per method,
# for the predictor-guided NSGA-II and the two real-evaluation baselines
# (NSGA-II on measured accuracies, random search). Each run's measured front
# is scored by its hypervolume under the CIFAR-10 test accuracy of every
# architecture it measured (front.csv's report_hypervolume; the search saw
# the 12-epoch validation accuracy). The reference point is the config's.
# Writes experiments/results/<config name>.csv (a row per method, with the
# command) and <config name>_seeds.csv (a row per run).
#
#   scripts/nb201_front_table.sh        # accuracy vs MACs, 100 queries (experiments/nb201_front.yaml)
#   CONFIG=experiments/nb201_latency.yaml QUERIES=70 TRUE_FRONT= scripts/nb201_front_table.sh
#                                       # accuracy vs latency on this machine kind, 70 queries
#   BIN=path to use another build, JOBS=2 to run two at once; TRUE_FRONT: the
#   arguments of `nas-search data nb201-front` for the true front's hypervolume
#   (empty: not computed)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-experiments/nb201_front.yaml}
QUERIES=${QUERIES:-100}
TRUE_FRONT=${TRUE_FRONT-"--reference 220119680"}
OUT=${OUT:-experiments/results/$(basename "$CONFIG" .yaml).csv}
SEEDS_OUT=${OUT%.csv}_seeds.csv
SEEDS=${SEEDS:-"0 1 2 3 4 5 6 7 8 9"}
JOBS=${JOBS:-1}
METHODS=${METHODS:-"nsga2 random-search nar-former-nsga2"}

method_args() {
  case $1 in
    nar-former-nsga2) echo "" ;;
    nsga2) echo "--set strategy=nsga2 --set search.queries=$QUERIES --set search.nsga2.population=20" ;;
    random-search) echo "--set strategy=random-search --set search.queries=$QUERIES" ;;
    *) echo "unknown method $1" >&2; exit 2 ;;
  esac
}

source scripts/table_runs.sh
export BIN CONFIG

true_hv=-
if [ -n "$TRUE_FRONT" ]; then
  # shellcheck disable=SC2086
  true_hv=$("$BIN" data nb201-front search_spaces/nb201.yaml $TRUE_FRONT 2>&1 >/dev/null | sed -n 's/.*hypervolume \([0-9.]*\).*/\1/p')
fi
[ -f "$OUT" ] || echo "method,queries,seeds,mean_hypervolume,std_hypervolume,true_front_hypervolume,mean_front_size,mean_seconds,command" > "$OUT"
[ -f "$SEEDS_OUT" ] || echo "method,seed,hypervolume,signal_hypervolume,front_size,measured,seconds" > "$SEEDS_OUT"
for method in $METHODS; do
  args=$(method_args "$method")
  root=runs/$(basename "$CONFIG" .yaml)/$method
  # shellcheck disable=SC2086
  printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'one_run "$0" --seed "$1" $2' "$root/seed-{}" {} "$args"
  cmd="for s in $SEEDS; do nas-search run $CONFIG --seed \$s --run-dir $root/seed-\$s --quiet $args; done"
  python3 - "$OUT" "$SEEDS_OUT" "$method" "$root" "$cmd" "$true_hv" $SEEDS <<'PY'
import csv, math, sys
out, seeds_out, method, root, cmd, true_hv, *seeds = sys.argv[1:]
runs = []
for s in seeds:
    row = next(csv.DictReader(open(f"{root}/seed-{s}/front.csv")))
    secs = float(open(f"{root}/seed-{s}.seconds").read())
    runs.append((s, float(row["report_hypervolume"]), float(row["hypervolume"]), int(row["front_size"]), int(row["measured"]), secs))
hv = [r[1] for r in runs]
mean = sum(hv) / len(hv)
std = math.sqrt(max(0.0, sum(h * h for h in hv) / len(hv) - mean * mean))
seed_list = " ".join(seeds)
def rewrite(path, key, new_rows):
    rows = list(csv.DictReader(open(path)))
    fields = list(csv.DictReader(open(path)).fieldnames)
    rows = [r for r in rows if not key(r)] + new_rows
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader(); w.writerows(rows)
rewrite(out, lambda r: r["method"] == method and r["seeds"] == seed_list,
        [{"method": method, "queries": runs[0][4], "seeds": seed_list, "mean_hypervolume": f"{mean:.5f}",
          "std_hypervolume": f"{std:.5f}", "true_front_hypervolume": true_hv,
          "mean_front_size": f"{sum(r[3] for r in runs) / len(runs):.1f}",
          "mean_seconds": f"{sum(r[5] for r in runs) / len(runs):.1f}", "command": cmd}])
rewrite(seeds_out, lambda r: r["method"] == method and r["seed"] in seeds,
        [{"method": method, "seed": s, "hypervolume": f"{h:.6f}", "signal_hypervolume": f"{sh:.6f}",
          "front_size": fs, "measured": m, "seconds": f"{t:.1f}"} for s, h, sh, fs, m, t in runs])
print(f"{method}: mean hypervolume {mean:.5f} std {std:.5f} (true front {true_hv}): " + " ".join(f"{h:.4f}" for h in hv))
PY
done
