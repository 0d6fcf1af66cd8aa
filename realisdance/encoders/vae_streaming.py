"""The Wan 2.1 VAE a few frames at a time, so a video of any length is encoded as it is read and decoded as it is
written (issue 14: 481 frames at 576x1024 are 3.4 GB per float32 video, more than the model's whole window).

The Wan 2.1 encoder and decoder are causal. diffusers runs the encoder on the first frame alone and then on groups
of 4, and the decoder on one latent frame at a time; each call reads and updates a feature cache (the last frames
each causal convolution saw). Making the same calls in the same order, with the cache kept from one chunk to the
next, computes what the whole-video encode / decode computes, however the video is cut into chunks.

Tiled, each spatial tile keeps its own cache. Between chunks the caches of a tiled run wait in host memory, so the
device holds one tile's working set at a time whatever the number of tiles (the caches together are about one
full-frame cache: a few frames of every decoder stage, flat in the clip's length).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..wan_constants import VAE_SPATIAL

ENCODER_GROUP = 4  # frames per encoder call after the first frame (the Wan VAE's temporal factor)
DECODE_CHUNK = 4  # latent frames decoded per chunk by the pipeline and the command line (13-16 video frames)


def causal_conv_count(module: torch.nn.Module) -> int:
    """Entries of a feature cache for ``module`` (one per causal convolution, as diffusers sizes its own)."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    return sum(isinstance(m, WanCausalConv3d) for m in module.modules())


def check_wan21(vae) -> None:
    if getattr(vae.config, "patch_size", None) is not None:
        raise InputError("tiled and streamed VAE runs support the Wan 2.1 VAE only (this VAE is patchified, like 2.2)")


@dataclass(frozen=True)
class _Tile:
    source_y: slice  # where the tile reads its input
    source_x: slice
    target_y: slice  # where its output lands
    target_x: slice
    weight: torch.Tensor | None  # 2-D blend weight over the target area; None for a single whole-frame tile


def _layout(height: int, width: int, tiling, scale_in: int, scale_out: int) -> list[_Tile]:
    """Tiles over an input of ``height`` x ``width`` latent pixels; input and output are ``scale_in`` /
    ``scale_out`` pixels per latent pixel (decode 1 -> 8, encode 8 -> 1). No tiling: one tile, no weight."""
    if tiling is None:
        return [_Tile(slice(None), slice(None), slice(None), slice(None), None)]
    from .vae_tiles import tile_weights

    tiles = []
    for (y, h), (x, w), weight in tile_weights(height, width, tiling, scale_out):
        tiles.append(
            _Tile(
                slice(y * scale_in, (y + h) * scale_in),
                slice(x * scale_in, (x + w) * scale_in),
                slice(y * scale_out, (y + h) * scale_out),
                slice(x * scale_out, (x + w) * scale_out),
                weight,
            )
        )
    return tiles


def _move_cache(cache: list, device: torch.device) -> list:
    # Entries are tensors, None, or the marker string "Rep" (diffusers' first upsampling chunk).
    return [entry.to(device) if isinstance(entry, torch.Tensor) else entry for entry in cache]


class _CausalTiles:
    """One causal module (encoder or decoder) run tile by tile over chunks of time, each tile with its own cache."""

    def __init__(self, module: torch.nn.Module, tiles: list[_Tile], device: torch.device) -> None:
        self.module = module
        self.tiles = tiles
        self.device = device
        size = causal_conv_count(module)
        self.caches: list[list | None] = [[None] * size for _ in tiles]
        # Only a tiled run on an accelerator parks its caches: one tile's cache on a CPU run is where it would go.
        self.park = len(tiles) > 1 and device.type != "cpu"
        self.total: torch.Tensor | None = None

    def run(self, inputs: torch.Tensor, out_shape: tuple[int, ...], calls, last: bool = False) -> torch.Tensor:
        """Run ``calls(module, tile_input, cache)`` for every tile and blend the outputs into ``out_shape``.

        ``calls`` yields output pieces along time (one per module call). ``last``: no later chunk follows, so each
        tile's cache is dropped as soon as the tile is done (a one-shot run then holds one tile's cache at a time).
        """
        out = torch.zeros(out_shape, dtype=torch.float32, device=self.device)
        if self.tiles[0].weight is not None and self.total is None:
            self.total = torch.zeros(out_shape[-2:], dtype=torch.float32, device=self.device)
            for tile in self.tiles:
                self.total[tile.target_y, tile.target_x] += tile.weight.to(self.device)
        for number, tile in enumerate(self.tiles):
            cache = self.caches[number]
            if self.park:
                cache = _move_cache(cache, self.device)
            weight = None if tile.weight is None else tile.weight.to(self.device)
            start = 0
            for piece in calls(self.module, inputs[..., tile.source_y, tile.source_x], cache):
                stop = start + piece.shape[2]
                target = out[:, :, start:stop, tile.target_y, tile.target_x]
                if weight is None:
                    target.copy_(piece)
                else:
                    target.addcmul_(piece.float(), weight)
                start = stop
                del piece
            self.caches[number] = None if last else (_move_cache(cache, torch.device("cpu")) if self.park else cache)
            del cache
        return out if self.total is None else out.div_(self.total)


class StreamingDecoder:
    """Decodes raw (denormalised) latents a few latent frames at a time; the chunks may have any length.

    ``decode(chunk)`` returns the chunk's video frames (B, 3, F, H, W) float32 in [-1, 1] on the VAE's device: 1 + 4
    (k - 1) frames for a first chunk of k latent frames, 4 k after. The concatenation equals the whole decode.
    """

    def __init__(self, vae, latent_height: int, latent_width: int, tiling=None) -> None:
        if tiling is not None:
            check_wan21(vae)
        self.vae = vae
        device = next(vae.parameters()).device
        self._runner = _CausalTiles(vae.decoder, _layout(latent_height, latent_width, tiling, 1, VAE_SPATIAL), device)
        self._size = (latent_height * VAE_SPATIAL, latent_width * VAE_SPATIAL)
        self._decoded = 0  # latent frames done

    def decode(self, raw: torch.Tensor, last: bool = False) -> torch.Tensor:
        raw = raw.to(device=self._runner.device, dtype=next(self.vae.parameters()).dtype)
        first = self._decoded == 0
        count = raw.shape[2]
        frames = 4 * count - (3 if first else 0)

        def calls(decoder, latents, cache):
            for index in range(count):
                chunk = self.vae.post_quant_conv(latents[:, :, index : index + 1])
                yield decoder(chunk, feat_cache=cache, feat_idx=[0], first_chunk=first and index == 0)

        out = self._runner.run(raw, (raw.shape[0], 3, frames, *self._size), calls, last)
        self._decoded += count
        return out


class StreamingEncoder:
    """Encodes a video fed in chunks of any length (the first chunk starting at frame 0) into the raw posterior
    mode, float32 (B, 16, T, H/8, W/8) on the VAE's device; ``finish()`` checks that the video was 4k+1 frames."""

    def __init__(self, vae, height: int, width: int, tiling=None) -> None:
        if tiling is not None:
            check_wan21(vae)
        if height % VAE_SPATIAL or width % VAE_SPATIAL:
            raise InputError(f"video size {height}x{width} must be a multiple of {VAE_SPATIAL}")
        self.vae = vae
        self.z_dim = int(vae.config.z_dim)
        device = next(vae.parameters()).device
        layout = _layout(height // VAE_SPATIAL, width // VAE_SPATIAL, tiling, VAE_SPATIAL, 1)
        self._runner = _CausalTiles(vae.encoder, layout, device)
        self._latent_size = (height // VAE_SPATIAL, width // VAE_SPATIAL)
        self._pending: torch.Tensor | None = None  # frames waiting for a whole group of 4
        self._started = False
        self.frames_seen = 0

    def _groups(self, frames: torch.Tensor) -> list[tuple[int, int]]:
        spans, start = [], 0
        if not self._started:
            spans.append((0, 1))
            start = 1
        while start + ENCODER_GROUP <= frames.shape[2]:
            spans.append((start, start + ENCODER_GROUP))
            start += ENCODER_GROUP
        return spans

    def encode(self, video: torch.Tensor, last: bool = False) -> torch.Tensor:
        """Latent frames completed by this chunk (possibly none) of the (B, 3, F, H, W) [-1, 1] video."""
        video = video.to(device=self._runner.device, dtype=next(self.vae.parameters()).dtype)
        self.frames_seen += video.shape[2]
        if self._pending is not None:
            video = torch.cat([self._pending, video], dim=2)
        spans = self._groups(video)
        used = spans[-1][1] if spans else 0
        self._pending = video[:, :, used:] if used < video.shape[2] else None
        if not spans:
            return torch.zeros(video.shape[0], self.z_dim, 0, *self._latent_size, device=self._runner.device)
        self._started = True

        def calls(encoder, pixels, cache):
            for first, stop in spans:
                encoded = encoder(pixels[:, :, first:stop], feat_cache=cache, feat_idx=[0])
                yield self.vae.quant_conv(encoded)[:, : self.z_dim]

        shape = (video.shape[0], self.z_dim, len(spans), *self._latent_size)
        return self._runner.run(video, shape, calls, last and self._pending is None)

    def finish(self) -> None:
        if self._pending is not None:
            raise InputError(
                f"the video has {self.frames_seen} frames; the Wan VAE needs 4k+1 frames (e.g. 81), otherwise it "
                "silently drops the last ones"
            )
