#!/usr/bin/env bash
# A Python with PyTorch for `bench ... --compare-torch` and its tests:
# a virtual environment at $1 (default ~/.cache/nas-search/torchenv) with
# PyPI's torch wheel (a large download: ~5 GB installed, with CUDA's
# libraries, which the CPU comparison does not use). Prints the Python's path.
set -euo pipefail
dir=${1:-$HOME/.cache/nas-search/torchenv}
if ! "$dir/bin/python" -c "import torch" >/dev/null 2>&1; then
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install --quiet torch numpy >&2
fi
echo "$dir/bin/python"
