"""Text embeddings computed once per (text encoder, prompt) and reused across runs of the process.

umT5-XXL is the largest model after the DiT; a batch of jobs with the same prompt (and the empty negative prompt of
every job) then never loads it onto the device again.
"""

from __future__ import annotations

from collections import OrderedDict

import torch


class TextEmbeddingCache:
    """A small LRU of CPU embeddings keyed by (model key, prompt)."""

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, model_key: str, prompt: str) -> torch.Tensor | None:
        key = (model_key, prompt)
        if key not in self._entries:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, model_key: str, prompt: str, embeddings: torch.Tensor) -> None:
        self._entries[(model_key, prompt)] = embeddings.detach().cpu()
        self._entries.move_to_end((model_key, prompt))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def text_encoder_key(text_encoder) -> str:
    """Which encoder made an embedding: its source path and precision (two loads of one folder share entries)."""
    model = text_encoder.model
    return f"{getattr(model.config, '_name_or_path', '') or id(model)}|{text_encoder.dtype}"


SHARED_TEXT_CACHE = TextEmbeddingCache()
