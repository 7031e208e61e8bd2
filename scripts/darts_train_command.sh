#!/usr/bin/env bash
# Evaluator command for experiments/darts.yaml: trains one DARTS genotype with
# a PyTorch training script and prints the JSON line nas-search reads.
#
#   usage: darts_train_command.sh ARCH_JSON WORKDIR
#
# ARCH_JSON is the file nas-search writes per evaluation: {"genotype": ...,
# "budget": "proxy"|"final", "settings": {epochs, init_channels, layers, ...}}.
# DARTS_TRAIN names your training script (default: train.py of a checkout of
# the DARTS code in $DARTS_REPO). It must accept --arch_json FILE plus the
# settings as --key value flags, and print a line "valid_acc <percent>" at the
# end of training; adapt the two marked lines if yours differs.
set -euo pipefail
json="$1"; workdir="$2"
train="${DARTS_TRAIN:-${DARTS_REPO:?set DARTS_TRAIN or DARTS_REPO}/train.py}"
flags=$(python3 - "$json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
out = []
for k, v in (a.get("settings") or {}).items():
    if isinstance(v, bool):
        out.append(f"--{k}" if v else "")
    else:
        out.append(f"--{k} {v}")
print(" ".join(x for x in out if x))
PY
)
start=$(date +%s)
# marked line 1: how your script is called
python3 "$train" --arch_json "$json" --save "$workdir" $flags > "$workdir/train.log" 2> "$workdir/train.err" || {
  tail -n 20 "$workdir/train.err" >&2; exit 1; }
# marked line 2: where the accuracy is in its log
acc=$(grep -Eo 'valid_acc[ =:]+[0-9.]+' "$workdir/train.log" | tail -n 1 | grep -Eo '[0-9.]+$')
[ -n "$acc" ] || { echo "no valid_acc in $workdir/train.log" >&2; exit 1; }
printf '{"accuracy": %s, "seconds": %s}\n' "$acc" "$(( $(date +%s) - start ))"
