#!/usr/bin/env bash
# The screenshots in README's "Watching a run": `nas-search serve` over a
# real `experiments/nb201.yaml` run (made here, in a temporary folder),
# photographed by headless Chromium (installed by browser-for-tests.sh).
#
#   bash scripts/serve-screenshot.sh [OUT_DIR]    # default: docs/
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath "${1:-docs}")
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/nas-search
bash scripts/browser-for-tests.sh >/dev/null
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" run experiments/nb201.yaml --run-dir "$work/runs/nb201" --quiet
"$bin" serve "$work/runs" --port 0 >"$work/address" 2>/dev/null &
server=$!
until [ -s "$work/address" ]; do sleep 0.2; done
url=$(head -1 "$work/address")  # http://127.0.0.1:PORT/?token=...
base=${url%%\?*}
token=${url#*token=}
shot() { # NAME WIDTH,HEIGHT URL
  chromium --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$work/profile-$1" --window-size="$2" --virtual-time-budget=8000 \
    --screenshot="$out/$1.png" "$3" 2>/dev/null
  echo "wrote $out/$1.png"
}
shot serve-runs 1300,300 "$url"
shot serve-run 1300,1900 "${base}run?run=runs/nb201&token=$token"
