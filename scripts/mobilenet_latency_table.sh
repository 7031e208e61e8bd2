#!/usr/bin/env bash
# The Table 7 workflow under a latency bound on this CPU
# (experiments/mobilenet_latency.yaml), seed by seed, beside random search at
# the same number of real evaluations, the same seeds and the same bound:
# the run's best (the best signal among the evaluated networks that meet the
# bound as measured here), its measured latency, and how many evaluated
# networks met the bound. Needs the complete look-up table the config names:
#
#   nas-search latency lut search_spaces/mobilenetv3.yaml --all --out runs/mobilenetv3_lut.csv
#   scripts/mobilenet_latency_table.sh                  # seeds 0-2
#   SEEDS="0 1 2 3 4" scripts/mobilenet_latency_table.sh
#
# Rows go to OUT (default experiments/results/mobilenet_latency.csv), one per
# seed and method, replacing an earlier row of the same seed and method;
# each holds its command. A summary line per method is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-experiments/results/mobilenet_latency.csv}
SEEDS=${SEEDS:-"0 1 2"}
CONFIG=${CONFIG:-experiments/mobilenet_latency.yaml}

source scripts/table_runs.sh

# real evaluations of the predictor-guided run: its training sample and its top-K
QUERIES=$(python3 -c "
import yaml, sys
c = yaml.safe_load(open('$CONFIG'))
print(c['predictor']['train_archs'] + c['search']['top_k'] * c['search'].get('rounds', 1))" 2>/dev/null || echo 16)
[ -f "$OUT" ] || echo "method,seed,best_signal,best_latency_ms,bound_ms,met_bound,evaluated,seconds,command" > "$OUT"
for seed in $SEEDS; do
  for method in nar-former-evolution random-search; do
    dir=runs/mobilenet_latency/$method/seed-$seed
    extra=""
    [ "$method" = random-search ] && extra="--set strategy=random-search --set search.queries=$QUERIES"
    # shellcheck disable=SC2086
    one_run "$dir" --seed "$seed" $extra
    cmd="nas-search run $CONFIG --seed $seed --run-dir $dir --quiet $extra"
    python3 - "$OUT" "$method" "$seed" "$dir" "$cmd" "$CONFIG" <<'PY'
import csv, re, sys
out, method, seed, d, cmd, config = sys.argv[1:]
bound = float(re.search(r"latency_ms:\s*\{\s*max:\s*([0-9.]+)", open(config).read()).group(1))
s = next(csv.DictReader(open(f"{d}/summary.csv")))
evals = [r for r in csv.DictReader(open(f"{d}/evaluations.csv")) if r["status"] == "ok"]
met = sum(1 for r in evals if r["latency_ms"] and float(r["latency_ms"]) <= bound)
secs = float(open(f"{d}.seconds").read())
row = {"method": method, "seed": seed, "best_signal": s["best_signal"], "best_latency_ms": s["latency_ms"],
       "bound_ms": bound, "met_bound": met, "evaluated": len(evals), "seconds": f"{secs:.0f}", "command": cmd}
rows = [r for r in csv.DictReader(open(out)) if not (r["method"] == method and r["seed"] == seed)] + [row]
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(row), lineterminator="\n")
    w.writeheader(); w.writerows(rows)
print(f"seed {seed} {method}: best {s['best_signal']}% at {s['latency_ms']} ms (bound {bound}); "
      f"{met} of {len(evals)} evaluated met the bound; {secs:.0f} s")
PY
  done
done
python3 - "$OUT" $SEEDS <<'PY'
import csv, statistics, sys
out, *seeds = sys.argv[1:]
rows = [r for r in csv.DictReader(open(out)) if r["seed"] in seeds]
for method in ("nar-former-evolution", "random-search"):
    mine = [r for r in rows if r["method"] == method and r["best_signal"]]
    if mine:
        print(f"{method}: mean best {statistics.mean(float(r['best_signal']) for r in mine):.2f}% over {len(mine)} seeds; "
              f"mean share within the bound {statistics.mean(int(r['met_bound']) / int(r['evaluated']) for r in mine):.0%}")
PY
