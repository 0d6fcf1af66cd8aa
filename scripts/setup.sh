#!/usr/bin/env bash
# Installs what the pack needs into the current Python environment.
# torch is only installed when missing, so an existing ComfyUI environment keeps its own (CUDA) torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}"
fi
"$PY" -m pip install --quiet -r requirements.txt
# The core as an editable package: `realisdance ...` and `python3 -m realisdance ...` work from any folder.
"$PY" -m pip install --quiet --no-deps -e .
if [ "${1:-}" = "--dev" ]; then
  "$PY" -m pip install --quiet -r requirements-dev.txt
fi
