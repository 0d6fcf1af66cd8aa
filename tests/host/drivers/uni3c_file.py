"""Write a tiny Uni3C camera ControlNet file with the host's own class (ComfyUI >= 0.33), random weights.

Run with the host's Python (tests/host/host_env.run_driver). The job names ``path`` (the .safetensors to write),
``dim`` (the RealisDance DiT's width: Uni3C's time embedding and residuals must match it) and ``layers``. The file
holds exactly the keys and shapes the host's ModelPatchLoader detects as Uni3C (``controlnet_patch_embedding`` ...).
"""

import json
import sys


def main(job_path: str) -> None:
    job = json.loads(open(job_path, encoding="utf-8").read())
    sys.path[:0] = [job["comfy_root"]]
    from comfy.cli_args import args

    args.cpu = True
    import comfy.ldm.wan.uni3c
    import comfy.ops
    import torch
    from safetensors.torch import save_file

    dim = job["dim"]
    model = comfy.ldm.wan.uni3c.WanUni3CControlnet(
        in_channels=36, conv_out_dim=dim, dim=dim, ffn_dim=64, num_heads=dim // 128, num_layers=job["layers"],
        time_embed_dim=dim, out_proj_dim=dim, add_channels=7, mid_channels=16,
        operations=comfy.ops.disable_weight_init,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(9)
    tensors = {}
    for name, value in model.state_dict().items():
        scale = 1.0 if name.endswith(("norm.weight", "norm_q.weight", "norm_k.weight")) else 0.05
        tensors[name] = (scale * torch.randn(value.shape, generator=generator)).float().contiguous()
    save_file(tensors, job["path"])
    with open(job["result"], "w", encoding="utf-8") as out:
        json.dump({"keys": len(tensors)}, out)


if __name__ == "__main__":
    main(sys.argv[1])
