"""Command line: ``python -m realisdance demo`` (and, with the pipeline, ``animate``).

Errors the user can fix are printed as one sentence (exit code 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import RealisDanceError

CACHE_DIR = Path.home() / ".cache" / "realisdance"


def _smoke_inputs(model, frames: int = 5, height: int = 64, width: int = 96):
    import torch

    cfg = model.config
    t, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
    g = torch.Generator().manual_seed(0)
    image = torch.randn(1, 257, cfg.image_dim, generator=g) if cfg.image_dim else None
    return {
        "hidden_states": torch.randn(1, cfg.in_channels, t, h, w, generator=g),
        "timestep": torch.tensor([999.0]),
        "encoder_hidden_states": torch.randn(1, 512, cfg.text_dim, generator=g),
        "encoder_hidden_states_image": image,
        "add_cond": torch.randn(1, cfg.add_cond_in_dim, t, h, w, generator=g),
        "attn_cond": torch.randn(1, cfg.attn_cond_in_dim, 1, h, w, generator=g),
    }


def run_model_smoke(model_path: str | None, dtype: str, device: str) -> int:
    """Load a transformer through the real loader and run one forward with pose and reference tokens."""
    import torch

    from .checkpoints import load_transformer, save_single_file
    from .model import build_transformer, named_config

    if model_path is None:
        model_path = CACHE_DIR / "tiny-realisdance-dit_comfyui.safetensors"
        if not model_path.exists():
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(0)
            save_single_file(build_transformer(named_config("tiny-I2V")), model_path, naming="comfyui")
        print(f"No --model given: using the embedded tiny random-weight model ({model_path}).")
        print("Random weights produce noise; pass --model /path/to/RealisDance-DiT (the release folder, its")
        print("transformer/ folder, or a single .safetensors file) for the real model.")
    start = time.perf_counter()
    model = load_transformer(model_path, dtype=dtype, device=device)
    loaded = time.perf_counter() - start
    cfg = model.config
    count = sum(p.numel() for p in model.parameters())
    print(
        f"Loaded {count / 1e9:.3f} B parameters in {loaded:.1f} s from {model.config_source}: "
        f"{cfg.num_layers} blocks x {cfg.num_attention_heads} heads, in_channels {cfg.in_channels}, "
        f"pose channels {cfg.add_cond_in_dim}, RoPE shift f/h/w = {cfg.shift_f}/{cfg.shift_h}/{cfg.shift_w}"
    )
    inputs = {k: (v.to(device) if v is not None else None) for k, v in _smoke_inputs(model).items()}
    start = time.perf_counter()
    with torch.inference_mode():
        out = model(**inputs).sample
    print(
        f"One forward with pose and reference tokens: output {tuple(out.shape)} in {time.perf_counter() - start:.2f} s,"
        f" finite: {bool(torch.isfinite(out).all())}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m realisdance", description="RealisDance-DiT character animation")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job on an embedded tiny model, or on --model")
    demo.add_argument("--model", default=None, help="RealisDance-DiT release folder, transformer folder or file")
    demo.add_argument("--dtype", default="auto", help="auto, fp32, bf16, fp16, fp8_e4m3fn, fp8_e5m2")
    demo.add_argument("--device", default="cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return run_model_smoke(args.model, args.dtype, args.device)
    except RealisDanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1
