"""The model files a bundled workflow names (the repackaged Wan 2.1 umT5 / CLIP / VAE and the RealisDance DiT file),
stood in for by the tiny release converted with ``realisdance convert``, and the tiny encoder configs the real host's
fixed-size loaders are given in tests (tests/host/sitecustomize/realisdance_tiny_host_encoders.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# (node, input) -> (models sub-folder, converted part). A DiT name with "fp8" in it gets the fp8 file.
LOADER_INPUTS = {
    ("CLIPLoader", "clip_name"): ("text_encoders", "text_encoder"),
    ("CLIPVisionLoader", "clip_name"): ("clip_vision", "image_encoder"),
    ("VAELoader", "vae_name"): ("vae", "vae"),
    ("RealisDanceLoadModel", "model"): ("diffusion_models", "bf16"),
    ("UNETLoader", "unet_name"): ("diffusion_models", "bf16"),
    ("LoraLoaderModelOnly", "lora_name"): ("loras", "distill_lora"),
}
CONVERTED = "comfyui_files"  # beside the tiny release


def converted_parts(release: Path) -> dict[str, Path]:
    """part -> file, converted once per tiny release (into <release>/../comfyui_files/)."""
    from realisdance.convert import PARTS, convert_release
    from realisdance.convert.command import output_name

    out = Path(release).parent / CONVERTED
    parts = {part: out / spec.folder / output_name(part, Path(release)) for part, spec in PARTS.items()}
    if not all(path.is_file() for path in parts.values()):
        convert_release(release, out, overwrite=True)
    lora = out / "loras" / "tiny_distill_lora.safetensors"  # stands in for the step-distill LoRA of the fast template
    if not lora.is_file():
        lora.parent.mkdir(parents=True, exist_ok=True)
        config = json.loads((Path(release) / "transformer" / "config.json").read_text())
        dim = config["num_attention_heads"] * config["attention_head_dim"]
        write_kijai_lora(lora, dim, config["num_layers"])
    return {**parts, "distill_lora": lora}


def write_kijai_lora(path: Path, dim: int, blocks: int, rank: int = 4, scale: float = 0.3, seed: int = 7) -> None:
    """A LoRA on every block's self-attention q/k/v/o in the kijai / ComfyUI key format (base Wan names)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for block in range(blocks):
        for proj in ("q", "k", "v", "o"):
            key = f"diffusion_model.blocks.{block}.self_attn.{proj}"
            tensors[f"{key}.lora_down.weight"] = scale * torch.randn(rank, dim, generator=generator)
            tensors[f"{key}.lora_up.weight"] = scale * torch.randn(dim, rank, generator=generator)
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file(tensors, str(path))


def place_model_files(prompt: dict, models_dir: Path, parts: dict[str, Path]) -> None:
    """Link each loader's file name in ``prompt`` to the converted tiny file (release folders are left alone)."""
    for node in prompt.values():
        for name, value in node.get("inputs", {}).items():
            key = (node["class_type"], name)
            if key not in LOADER_INPUTS or not isinstance(value, str) or value.endswith("/"):
                continue
            folder, part = LOADER_INPUTS[key]
            if part == "bf16" and "fp8" in value:
                part = "fp8"
            target = Path(models_dir) / folder / value
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.symlink(parts[part], target)


def tiny_encoder_settings(folder: Path) -> Path:
    """The tiny native umT5 / CLIP configs in the host's config format, and the settings file naming them."""
    from realisdance.tiny import ENCODER_WIDTHS, TINY_IMAGE_ENCODER, TINY_TEXT_ENCODER

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = {**TINY_TEXT_ENCODER, **ENCODER_WIDTHS["native-I2V"]["text_encoder"]}
    umt5 = {key: text[key] for key in ("d_ff", "d_kv", "d_model", "num_heads", "num_layers", "vocab_size")}
    umt5 |= {"dense_act_fn": "gelu_pytorch_tanh", "is_gated_act": True, "model_type": "umt5"}  # umT5's gated-gelu
    clip = {**TINY_IMAGE_ENCODER, **ENCODER_WIDTHS["native-I2V"]["image_encoder"], "model_type": "clip_vision_model"}
    (folder / "umt5_config.json").write_text(json.dumps(umt5))
    (folder / "clip_vision_config.json").write_text(json.dumps(clip))
    settings = folder / "settings.json"
    names = {"umt5_config": "umt5_config.json", "clip_vision_config": "clip_vision_config.json"}
    settings.write_text(json.dumps({key: str(folder / name) for key, name in names.items()}))
    return settings
