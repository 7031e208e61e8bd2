# Shared by the results-table scripts (sourced, not run): picks the binary
# and defines one_run, which times one run into its run directory.
#
#   BIN      the nas-search binary (default: build this checkout's)
#   CONFIG   the run config every run starts from

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=./target/release/nas-search
fi

# one_run DIR ARGS...: a fresh run into DIR; its wall seconds go to DIR.seconds
one_run() {
  local dir=$1; shift
  rm -rf "$dir" "$dir.seconds"
  mkdir -p "$(dirname "$dir")"
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" run "$CONFIG" --run-dir "$dir" --quiet "$@" > /dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' > "$dir.seconds"
}
export -f one_run
