#!/usr/bin/env bash
# Set up a real ComfyUI host for the pack's real-host tests (tests/host), outside this repository.
#
#   bash scripts/comfyui_host_setup.sh COMFYUI_DIR VENV_DIR [--from-git GIT_DIR [--ref REF]]
#
# COMFYUI_DIR  a ComfyUI checkout (tested with v0.28.2 and v0.3.64). With --from-git it is (re)exported from that git
#              directory (a bare mirror works) at REF (default v0.28.2 when that tag exists, else HEAD): every file
#              except blobs absent from the object store (a partial mirror may lack a large tokenizer file that only
#              Llama-based text encoders need).
# VENV_DIR     the virtualenv to create or update: torch (kept when present, else the CPU wheel torch==2.13.0),
#              ComfyUI's requirements.txt (never replacing that torch), requests, onnxruntime and this repository's
#              requirements.txt. On a CPU torch the PyPI torchvision/torchaudio wheels are CUDA builds; the
#              sitecustomize below lets them import (v0.28 imports both at start-up).
#
# Then run the real-host tests with:
#   COMFYUI_ROOT=COMFYUI_DIR COMFYUI_PYTHON=VENV_DIR/bin/python python3 -m pytest -q tests/host
# or start the host by hand (the PYTHONPATH entry only matters for a CUDA torchvision wheel on a CPU torch):
#   PYTHONPATH=$PWD/tests/host/sitecustomize VENV_DIR/bin/python COMFYUI_DIR/main.py --cpu
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
COMFYUI_DIR=$(realpath -m "$1")
VENV_DIR=$(realpath -m "$2")
shift 2
GIT_DIR_SRC=""
REF=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from-git) GIT_DIR_SRC=$(realpath "$2"); shift 2 ;;
    --ref) REF="$2"; shift 2 ;;
    *) usage ;;
  esac
done
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ -n "$GIT_DIR_SRC" ]; then
  if [ -z "$REF" ]; then
    if git -C "$GIT_DIR_SRC" rev-parse -q --verify "refs/tags/v0.28.2" >/dev/null; then REF=v0.28.2; else REF=HEAD; fi
  fi
  echo "== exporting ComfyUI $REF from $GIT_DIR_SRC into $COMFYUI_DIR"
  mkdir -p "$COMFYUI_DIR"
  # Paths whose blob is missing from the (partial) mirror: git archive would stop at the first one.
  mapfile -t missing < <(git -C "$GIT_DIR_SRC" ls-tree -r "$REF" \
    | awk '$2 == "blob" {print $3}' \
    | git -C "$GIT_DIR_SRC" cat-file --batch-check='%(objectname) %(objecttype)' \
    | awk '$2 == "missing" {print $1}')
  excludes=()
  for sha in "${missing[@]}"; do
    while IFS= read -r path; do
      echo "   (skipping $path: blob $sha not in the mirror)"
      excludes+=(":(exclude)$path")
    done < <(git -C "$GIT_DIR_SRC" ls-tree -r "$REF" | awk -v s="$sha" '$3 == s {sub(/^[^\t]*\t/, ""); print}')
  done
  # git still prints "invalid object" for an excluded missing blob; the archive is complete without it.
  git -C "$GIT_DIR_SRC" archive "$REF" -- . "${excludes[@]}" 2> >(grep -v "invalid object" >&2) | tar -x -C "$COMFYUI_DIR"
fi
[ -f "$COMFYUI_DIR/main.py" ] && [ -f "$COMFYUI_DIR/requirements.txt" ] \
  || { echo "error: $COMFYUI_DIR is not a ComfyUI checkout (no main.py / requirements.txt); pass --from-git." >&2; exit 1; }

if [ ! -x "$VENV_DIR/bin/python" ]; then
  echo "== creating $VENV_DIR"
  python3 -m venv "$VENV_DIR"
fi
PY="$VENV_DIR/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "== installing $TORCH_SPEC"
  "$PY" -m pip install "$TORCH_SPEC"
fi
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")

echo "== installing ComfyUI's requirements, requests and the pack's requirements"
constraints=$(mktemp)
requirements=$(mktemp)
trap 'rm -f "$constraints" "$requirements"' EXIT
echo "torch==$TORCH_VERSION" > "$constraints"  # never let a requirement replace the torch we have
cp "$COMFYUI_DIR/requirements.txt" "$requirements"
"$PY" -m pip install -c "$constraints" -r "$requirements" requests onnxruntime -r "$REPO_ROOT/requirements.txt"

echo "== checking the host imports (with the torchvision CPU fix on PYTHONPATH)"
PYTHONPATH="$REPO_ROOT/tests/host/sitecustomize${PYTHONPATH:+:$PYTHONPATH}" "$PY" - <<'EOF'
import torch, torchvision, torchvision.transforms, torchaudio  # noqa: F401
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, torchaudio {torchaudio.__version__}: ok")
EOF
echo "done: COMFYUI_ROOT=$COMFYUI_DIR COMFYUI_PYTHON=$PY python3 -m pytest -q tests/host"
