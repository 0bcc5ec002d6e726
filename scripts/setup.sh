#!/usr/bin/env bash
# Set up the project in ./.venv on a fresh machine (CPU). Idempotent.
#   TORCH_SPEC    torch requirement (default torch==2.13.0: the CPU wheel that lies on this machine's disk;
#                 elsewhere add TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu to avoid a CUDA build)
#   EXTRAS        pip extras to install (default dev,demo,bench,train)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-dev,demo,bench,train}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  .venv/bin/python -m pip install -q "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"
else
  .venv/bin/python -m pip install -q "$TORCH_SPEC"
fi
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
.venv/bin/python - <<'PY'
import torch
print(f"set-up done: torch {torch.__version__} (cuda={torch.cuda.is_available()}) in .venv")
PY
