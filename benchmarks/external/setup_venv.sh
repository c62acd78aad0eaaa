#!/usr/bin/env bash
# Build .venv-ext (external reference simulators) idempotently.
# Usage: benchmarks/external/setup_venv.sh [python3.11]   (VENV_EXT=/path overrides the location)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${1:-python3.11}"
VENV="${VENV_EXT:-$ROOT/.venv-ext}"
REQ="$ROOT/benchmarks/external/requirements.txt"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "nn-dataflow 2.1 needs Python 3.11"'
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.requirements.sha"
SUM="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$SUM" ]; then
  "$VENV/bin/pip" install -q -r "$REQ"
  echo "$SUM" > "$STAMP"
fi
"$VENV/bin/python" -c 'import scalesim, nn_dataflow, zigzag; from importlib.metadata import version as v; print("ok:", *(f"{p}=={v(p)}" for p in ("scalesim", "nn-dataflow", "sympy", "numpy", "zigzag-dse")))'
