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
  # Headless EGL for the GL pose backend's tests (moderngl); without it those tests skip with a reason.
  if ! ldconfig -p 2>/dev/null | grep -q "libEGL.so.1" && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libegl1 + Mesa for the GL backend's tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libgl1-mesa-dri) >/dev/null \
      || echo "setup: could not install EGL; the GL backend's tests will skip"
  fi
fi
