"""One DiT forward on the native path (ComfyUI's Wan + our subclass) against the pipeline's transformer.

Same weights, same inputs; reports the median time of alternating rounds, the peak of live activation bytes
(``realisdance.memory.measure``: weights and inputs excluded) and the largest output difference. Run it with the
Python of a ComfyUI install (the native model subclasses ComfyUI's classes):

    /path/to/ComfyUI-venv/bin/python benchmarks/native_vs_pipeline.py --comfyui /path/to/ComfyUI
    ... --config 14B-I2V --layers 2 --frames 9 --height 256 --width 448 --dtype bf16 --device cuda
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_native_classes(comfyui: Path, device: str, pytorch_attention: bool):
    sys.path.insert(0, str(comfyui))
    from comfy.cli_args import args

    args.cpu = device == "cpu"
    # On a CPU ComfyUI picks sub-quadratic attention unless told otherwise; on CUDA it uses PyTorch's SDPA.
    args.use_pytorch_cross_attention = pytorch_attention

    # The pack as the package ComfyUI would make of it: its modules import each other (and the host adapter)
    # relatively, and a top-level "nodes" would be ComfyUI's own nodes.py.
    spec = importlib.util.spec_from_file_location(
        "realisdance_pack", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["realisdance_pack"] = pack
    spec.loader.exec_module(pack)
    module = importlib.import_module("realisdance_pack.nodes.native.wan_model")
    host = importlib.import_module("realisdance_pack.nodes.host")
    return module.RealisDanceWanModel, host.plain_operations()


def build(config_name: str, layers: int, dtype, device):
    from realisdance.checkpoints.keymap import diffusers_to_wan
    from realisdance.model import RealisDanceTransformer, named_config

    config = named_config(config_name, num_layers=layers)
    torch.manual_seed(0)
    core = RealisDanceTransformer(**config).eval()
    with torch.no_grad():
        for name, param in core.named_parameters():
            param.copy_(0.02 * torch.randn_like(param) + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
    return config, core, {diffusers_to_wan(k): v for k, v in core.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", required=True, type=Path)
    parser.add_argument("--config", default="tiny-native-I2V")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pytorch-attention", action="store_true", help="ComfyUI's --use-pytorch-cross-attention (SDPA on a CPU too)"
    )
    args = parser.parse_args()
    NativeModel, operations = load_native_classes(args.comfyui, args.device, args.pytorch_attention)
    from realisdance.memory.measure import measure_forward

    dtype, device = DTYPES[args.dtype], torch.device(args.device)
    config, core, wan_state = build(args.config, args.layers, dtype, device)
    heads = config["num_attention_heads"]
    native = NativeModel(
        model_type="i2v" if config["image_dim"] else "t2v",
        dim=heads * config["attention_head_dim"],
        num_heads=heads,
        ffn_dim=config["ffn_dim"],
        num_layers=config["num_layers"],
        in_dim=config["in_channels"],
        text_dim=config["text_dim"],
        freq_dim=config["freq_dim"],
        add_cond_in_dim=config["add_cond_in_dim"],
        operations=operations,
    ).eval()
    missing, unexpected = native.load_state_dict(wan_state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    core.to(device=device, dtype=dtype)
    native.to(device=device, dtype=dtype)

    t, h, w = (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8
    g = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    hidden, pose = rand(1, config["in_channels"], t, h, w), rand(1, config["add_cond_in_dim"], t, h, w)
    reference, text = rand(1, 16, 1, h, w), rand(1, 512, config["text_dim"])
    clip = rand(1, 257, config["image_dim"]) if config["image_dim"] else None
    step = torch.tensor([624.0], device=device)
    core_inputs = dict(
        hidden_states=hidden, timestep=step, encoder_hidden_states=text, encoder_hidden_states_image=clip,
        add_cond=pose, attn_cond=reference, return_dict=False,
    )  # fmt: skip
    native_inputs = dict(
        x=hidden, timestep=step, context=text, clip_fea=clip, transformer_options={}, rd_pose=pose,
        rd_reference=reference,
    )  # fmt: skip

    def timed(model, inputs) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.no_grad():
            model(**inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    timed(core, core_inputs), timed(native, native_inputs)  # warm-up
    times = {"pipeline": [], "native": []}
    for _ in range(args.repeats):  # alternate, so load drift hits both alike
        times["pipeline"].append(timed(core, core_inputs))
        times["native"].append(timed(native, native_inputs))
    with torch.no_grad():
        difference = float((core(**core_inputs)[0].float() - native(**native_inputs).float()).abs().max())
    measured = {"pipeline": measure_forward(core, core_inputs), "native": measure_forward(native, native_inputs)}
    peaks = {name: m.peak_bytes for name, m in measured.items()}
    tokens = t * (h // 2) * (w // 2)
    attention = "pytorch SDPA" if args.pytorch_attention or device.type == "cuda" else "host default"
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, {args.device}, "
          f"ComfyUI attention: {attention}")  # fmt: skip
    print(f"{args.config} x{args.layers} blocks, {args.frames}x{args.height}x{args.width}, {args.dtype}: "
          f"{tokens} video + {tokens // t} reference tokens")  # fmt: skip
    for name in ("pipeline", "native"):
        print(f"  {name:8s} median {statistics.median(times[name]) * 1000:8.1f} ms, "
              f"peak activations {peaks[name] / 2**20:8.1f} MiB (at {measured[name].peak_op})")  # fmt: skip
    ratio = statistics.median(times["native"]) / statistics.median(times["pipeline"])
    print(f"  native/pipeline time {ratio:.2f}, memory {peaks['native'] / peaks['pipeline']:.2f}; "
          f"max abs difference {difference:.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
