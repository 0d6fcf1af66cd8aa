"""A callback on every chunk the Wan VAE processes, for progress bars and cancellation.

Both Wan 2.1 VAE implementations (diffusers' ``AutoencoderKLWan`` and ComfyUI's) run their causal encoder once per
chunk of frames (the first frame, then groups of 4) and their decoder once per latent frame, also once per tile
when tiled. A forward pre-hook on those two submodules therefore fires at every unit of work: a progress bar moves
steadily through an 81-frame encode, and a callback that raises (a Cancel) stops it within one chunk. The VAEs
clear their chunk caches at the start of every encode / decode, so a cancelled one leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def chunk_count(frames: int, temporal_factor: int = 4) -> int:
    """Encoder calls for a video of ``frames`` frames (= its latent frame count): 81 -> 21."""
    return (frames - 1) // temporal_factor + 1


def condition_encode_chunks(num_frames: int, pose_streams: int, grey_frames: int | None = None) -> int:
    """Encoder calls of building the conditions untiled: each pose stream and the grey video (``grey_frames`` long
    when shortened to one window) one per latent frame, the reference and the grey reference one each."""
    grey = chunk_count(min(grey_frames or num_frames, num_frames))
    return pose_streams * chunk_count(num_frames) + grey + 2


@contextmanager
def on_every_chunk(vae: torch.nn.Module | None, callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback()`` before each encoder / decoder chunk of ``vae`` (a module with ``encoder`` / ``decoder``)
    inside the block. A VAE without those submodules (or None) runs without callbacks."""
    parts = [getattr(vae, name, None) for name in ("encoder", "decoder")] if vae is not None else []
    handles = [part.register_forward_pre_hook(lambda *_: callback()) for part in parts if part is not None]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
