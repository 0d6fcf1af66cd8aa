"""The release's text encoder, image encoder and VAE as the single files ComfyUI's loaders read.

- umT5 (CLIPLoader, type wan): the encoder's own Hugging Face names (ComfyUI's T5 keeps them), the tied input
  embedding stored once as ``shared.weight``, and the tokenizer's SentencePiece model as a ``spiece_model`` uint8
  tensor: ComfyUI's Wan tokenizer is built from that tensor, so a file without it cannot tokenize.
- CLIP ViT-H (CLIPVisionLoader): the ``vision_model.*`` names as stored.
- Wan 2.1 VAE (VAELoader): the original Wan names (``vae_names``).
Tensors keep their stored precision and are streamed one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..checkpoints.safetensors_file import SafetensorsReader, read_header
from ..checkpoints.streaming_writer import TensorEntry, write_streamed
from ..errors import CheckpointError
from .vae_names import diffusers_to_wan_vae_name

_TORCH_DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "U8": torch.uint8,
    "I64": torch.int64,
}
Rename = Callable[[str], str | None]  # stored name -> written name, or None to leave the tensor out


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise CheckpointError(
            f"{folder} holds no .safetensors weights; download the release's {folder.name}/ folder again."
        )
    return files


def _renamed_stream(folder: Path, rename: Rename) -> tuple[list[TensorEntry], Callable[[], Iterator]]:
    """Entries and a tensor stream of every stored tensor of ``folder`` under its new name."""
    headers = [read_header(path) for path in _weight_files(folder)]
    entries, sources = [], []
    for header in headers:
        for stored, info in header.tensors.items():
            name = rename(stored)
            if name is None:
                continue
            if info.dtype not in _TORCH_DTYPES:
                raise CheckpointError(f"{header.path}: tensor {stored} has dtype {info.dtype}, which is not a weight")
            entries.append(TensorEntry(name, _TORCH_DTYPES[info.dtype], info.shape))
            sources.append((header, stored, name))

    def stream():
        for header in headers:
            with SafetensorsReader(header) as reader:
                for source_header, stored, name in sources:
                    if source_header is header:
                        yield name, reader.get(stored)

    return entries, stream


def _umt5_name(stored: str, has_shared: bool) -> str | None:
    if stored == "encoder.embed_tokens.weight":
        return None if has_shared else "shared.weight"  # tied to shared.weight: ComfyUI's T5 reads it from there
    return stored


def check_text_encoder(text_encoder: Path) -> set[str]:
    names = {name for path in _weight_files(text_encoder) for name in read_header(path).tensors}
    if not any(name.startswith("encoder.block.") for name in names):
        raise CheckpointError(f"{text_encoder} is not the umT5 encoder (no encoder.block.* tensors).")
    return names


def check_vae(vae: Path) -> None:
    names = {name for path in _weight_files(vae) for name in read_header(path).tensors}
    if "decoder.norm_out.gamma" not in names:
        raise CheckpointError(f"{vae} is not the diffusers Wan VAE (no decoder.norm_out.gamma tensor).")


def write_text_encoder(text_encoder: Path, tokenizer: Path, out: Path) -> Path:
    spiece = tokenizer / "spiece.model"
    if not spiece.is_file():
        raise CheckpointError(
            f"{tokenizer} has no spiece.model, which ComfyUI's Wan tokenizer is built from; download the release's "
            "tokenizer/ folder again."
        )
    names = check_text_encoder(text_encoder)
    entries, stream = _renamed_stream(text_encoder, lambda n: _umt5_name(n, "shared.weight" in names))
    model = torch.frombuffer(bytearray(spiece.read_bytes()), dtype=torch.uint8)
    entries.append(TensorEntry("spiece_model", torch.uint8, tuple(model.shape)))

    def with_tokenizer():
        yield from stream()
        yield "spiece_model", model

    return write_streamed(out, entries, with_tokenizer(), {"format": "pt"})


_CLIP_PARTS = ("embeddings.", "pre_layrnorm.", "encoder.layers.", "post_layernorm.")


def _clip_name(stored: str) -> str | None:
    """``vision_model.*`` as ComfyUI reads it; transformers 5 saves a CLIPVisionModel without that prefix."""
    if stored.startswith("vision_model."):
        return stored
    return "vision_model." + stored if stored.startswith(_CLIP_PARTS) else None


def check_image_encoder(image_encoder: Path) -> None:
    names = {_clip_name(name) for path in _weight_files(image_encoder) for name in read_header(path).tensors}
    if not any(name and name.startswith("vision_model.encoder.layers.") for name in names):
        raise CheckpointError(f"{image_encoder} is not a CLIP vision model (no encoder.layers.* tensors).")


def write_image_encoder(image_encoder: Path, out: Path) -> Path:
    check_image_encoder(image_encoder)
    entries, stream = _renamed_stream(image_encoder, _clip_name)
    return write_streamed(out, entries, stream(), {"format": "pt"})


def write_vae(vae: Path, out: Path) -> Path:
    check_vae(vae)
    entries, stream = _renamed_stream(vae, diffusers_to_wan_vae_name)
    return write_streamed(out, entries, stream(), {"format": "pt"})
