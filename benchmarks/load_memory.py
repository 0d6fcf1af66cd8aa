"""Peak host memory of loading a transformer file, against the file size (target: well under 2x).

    python benchmarks/load_memory.py --layers 12 --dtype bf16

Writes a random-weight 1.3B-architecture checkpoint (fewer blocks to keep it quick) in ComfyUI naming, then loads it
in a fresh process and reports that process's peak RSS (VmHWM, Linux) above its baseline after the imports.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time

def hwm_kb():
    # VmHWM belongs to this address space; ru_maxrss would inherit the parent's high-water mark across exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

sys.path.insert(0, {root!r})
import torch
from realisdance.checkpoints import load_transformer
base = hwm_kb()
start = time.perf_counter()
model = load_transformer({path!r}, dtype={dtype!r})
took = time.perf_counter() - start
# safetensors may hand back tensors that are still memory-mapped views of the file; read every weight so the RSS
# counts what a forward pass would make resident.
for p in model.parameters():
    p.float().abs().max()
peak = hwm_kb()
params = sum(p.numel() * p.element_size() for p in model.parameters())
print(base, peak, params, took)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--dtype", default="bf16")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from realisdance.checkpoints import save_single_file
    from realisdance.model import build_transformer, named_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        model = build_transformer(named_config("1.3B-T2V", num_layers=args.layers), dtype=torch.bfloat16)
        save_single_file(model, path, naming="comfyui")
        del model
        code = CHILD.format(root=str(ROOT), path=str(path), dtype=args.dtype)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        base_kb, peak_kb, param_bytes, took = out.split()
        base_gib, peak_gib = int(base_kb) / 2**20, int(peak_kb) / 2**20
        print(f"child max RSS: {base_gib:.2f} GiB after imports, {peak_gib:.2f} GiB after the load")
        file_gib = path.stat().st_size / 2**30
        extra_gib = (int(peak_kb) - int(base_kb)) / 2**20
        print(f"file {file_gib:.2f} GiB, loaded parameters {int(param_bytes) / 2**30:.2f} GiB in {float(took):.1f} s")
        print(f"peak RSS above the post-import baseline: {extra_gib:.2f} GiB = {extra_gib / file_gib:.2f}x the file")


if __name__ == "__main__":
    main()
