"""umT5 text embeddings exactly as the release computes them (spec 3.3, 10.4, 10.13).

The prompt is cleaned (ftfy, HTML unescaped twice, whitespace collapsed), tokenized to exactly 512 tokens (EOS
appended, padded with <pad>), encoded with the attention mask, and every embedding past the true length is set to
zero. The output is always (B, 512, dim): the Wan attention processor takes everything before the last 512 context
tokens as CLIP tokens, so the text part must have exactly this length.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from ..wan_constants import TEXT_TOKENS  # dependency-free: text encoding never imports diffusers
from .folders import component_dir, describe_config, read_json, transformers_dtype_kwargs
from .wrapped import WrappedModule

TOKENIZER_MARKERS = ("tokenizer_config.json", "tokenizer.json", "spiece.model")


def clean_prompt(text: str) -> str:
    """The release's prompt cleaning: ftfy fix, HTML-unescape twice, collapse whitespace, strip."""
    import ftfy

    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def pad_text_embeddings(embeddings: torch.Tensor, length: int = TEXT_TOKENS) -> torch.Tensor:
    """Precomputed embeddings (L, dim) or (B, L, dim) -> (B, length, dim): truncated, or padded with zeros.

    For embeddings from elsewhere (e.g. a ComfyUI CONDITIONING), which may be shorter or longer than 512.
    """
    if embeddings.ndim == 2:
        embeddings = embeddings.unsqueeze(0)
    if embeddings.ndim != 3:
        raise InputError(f"text embeddings must be (L, dim) or (B, L, dim), got shape {tuple(embeddings.shape)}")
    batch, tokens, dim = embeddings.shape
    if tokens >= length:
        return embeddings[:, :length]
    padding = embeddings.new_zeros(batch, length - tokens, dim)
    return torch.cat([embeddings, padding], dim=1)


def zero_past_length(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Embeddings at padded positions set to exactly zero (the release keeps u[:len] and pads with zeros)."""
    lengths = attention_mask.gt(0).sum(dim=1)
    positions = torch.arange(embeddings.shape[1], device=embeddings.device)
    keep = positions[None, :] < lengths.to(embeddings.device)[:, None]
    return embeddings.masked_fill(~keep[..., None], 0)


class TextEncoder(WrappedModule):
    """umT5 encoder + tokenizer; ``encode(prompts)`` gives (B, 512, dim) embeddings."""

    def __init__(self, tokenizer, model, max_length: int = TEXT_TOKENS) -> None:
        self.tokenizer = tokenizer
        self.model = self.module = model.eval().requires_grad_(False)
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return int(self.model.config.d_model)

    def tokenize(self, prompts: str | Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cleaned prompts -> (input_ids, attention_mask), both (B, 512). "" gives a single EOS token."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not all(isinstance(p, str) for p in prompts):
            raise InputError("prompts must be strings")
        tokens = self.tokenizer(
            [clean_prompt(p) for p in prompts],
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        return tokens.input_ids, tokens.attention_mask

    @torch.no_grad()
    def encode(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """(B, 512, dim) embeddings in the encoder's dtype, zero past each prompt's true length."""
        input_ids, attention_mask = self.tokenize(prompts)
        device = self.device
        hidden = self.model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).last_hidden_state
        return zero_past_length(hidden, attention_mask)

    __call__ = encode


def load_tokenizer(path: str | Path):
    """``AutoTokenizer`` from the release's ``tokenizer/`` folder (or the release root)."""
    from transformers import AutoTokenizer

    folder = component_dir(path, "tokenizer", TOKENIZER_MARKERS, "the umT5 tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:  # transformers raises many kinds (OSError, ValueError, protobuf errors)
        raise CheckpointError(
            f"cannot load the umT5 tokenizer from {folder}: {error}. Point this at the release's 'tokenizer/' folder."
        ) from error
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise CheckpointError(
            f"the tokenizer in {folder} has no pad or EOS token, so it is not the umT5 tokenizer. Point this at the "
            "release's 'tokenizer/' folder."
        )
    return tokenizer


def load_text_encoder(
    path: str | Path,
    tokenizer_path: str | Path | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = torch.bfloat16,
) -> TextEncoder:
    """umT5 encoder from ``text_encoder/`` and tokenizer from ``tokenizer/``.

    ``path`` is the release root or its ``text_encoder/`` folder; the tokenizer is looked up in ``tokenizer_path``,
    else next to the encoder (``../tokenizer``), else in ``path``. bf16 is the release's dtype for umT5.
    """
    from transformers import UMT5EncoderModel

    folder = component_dir(path, "text_encoder", ("config.json",), "the umT5 text encoder")
    config = read_json(folder / "config.json")
    if config.get("model_type") != "umt5":
        raise CheckpointError(
            f"{folder} holds {describe_config(config)}, not the umT5 text encoder (config.json model_type 'umt5'). "
            "Point this at the release's 'text_encoder/' folder."
        )
    if tokenizer_path is None:
        sibling = folder.parent / "tokenizer"
        tokenizer_path = sibling if sibling.is_dir() else path
    tokenizer = load_tokenizer(tokenizer_path)
    try:
        model = UMT5EncoderModel.from_pretrained(str(folder), **transformers_dtype_kwargs(dtype))
    except Exception as error:
        raise CheckpointError(
            f"cannot load the umT5 text encoder from {folder}: {error}. Check that the download is complete."
        ) from error
    if len(tokenizer) > model.config.vocab_size:
        raise CheckpointError(
            f"the tokenizer ({len(tokenizer)} tokens) does not belong to the text encoder in {folder} "
            f"(vocabulary {model.config.vocab_size}). Use the tokenizer/ and text_encoder/ of the same release."
        )
    return TextEncoder(tokenizer, model.to(device))
