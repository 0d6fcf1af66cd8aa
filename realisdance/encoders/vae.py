"""The Wan 2.1 video VAE as the release uses it (spec 1.2, 3.4, 10.9).

Every latent the DiT sees is the posterior MODE (not a sample), normalised per channel as (z - mean) * (1 / std)
with ``latents_mean`` / ``latents_std`` from the VAE config. Decoding inverts that as z / (1 / std) + mean (the same
float operations as the release), decodes, clamps to [-1, 1] and maps to [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from .folders import component_dir, describe_config, read_json
from .vae_streaming import DECODE_CHUNK, StreamingDecoder, StreamingEncoder
from .vae_tiling import VaeTiling, tiled_decode, tiled_encode
from .wrapped import WrappedModule

# Wan 2.1 VAE per-channel latent statistics (spec 1.2; the same in ComfyUI's Wan21 latent format).
WAN21_LATENTS_MEAN = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
WAN21_LATENTS_STD = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip

Stats = Sequence[float] | torch.Tensor


def _channel_view(values: Stats, like: torch.Tensor) -> torch.Tensor:
    """Per-channel statistics shaped to broadcast over dim 1 of ``like`` (B, C, ...), in its dtype/device."""
    stats = torch.as_tensor(values, dtype=torch.float32).to(device=like.device, dtype=like.dtype)
    if like.ndim < 2 or stats.numel() != like.shape[1]:
        raise InputError(
            f"latents have shape {tuple(like.shape)} but the VAE statistics have {stats.numel()} channels; "
            "latents must be (B, C, ...) with C equal to the VAE's z_dim"
        )
    return stats.view(1, -1, *([1] * (like.ndim - 2)))


def normalize_latents(z: torch.Tensor, mean: Stats = WAN21_LATENTS_MEAN, std: Stats = WAN21_LATENTS_STD):
    """Raw VAE latent -> the normalised latent the DiT works in: (z - mean) * (1 / std)."""
    return (z - _channel_view(mean, z)) * (1.0 / _channel_view(std, z))


def denormalize_latents(z: torch.Tensor, mean: Stats = WAN21_LATENTS_MEAN, std: Stats = WAN21_LATENTS_STD):
    """Normalised latent -> raw VAE latent: z / (1 / std) + mean (inverse of ``normalize_latents``)."""
    return z / (1.0 / _channel_view(std, z)) + _channel_view(mean, z)


class VideoVAE(WrappedModule):
    """``AutoencoderKLWan`` with the release's normalisation: video [-1, 1] <-> normalised latent."""

    def __init__(self, vae) -> None:
        self.vae = self.module = vae.eval().requires_grad_(False)
        config = vae.config
        self.latents_mean = tuple(float(v) for v in config.latents_mean)
        self.latents_std = tuple(float(v) for v in config.latents_std)
        self.temporal_factor = int(getattr(config, "scale_factor_temporal", None) or 4)
        self.spatial_factor = int(getattr(config, "scale_factor_spatial", None) or 8)

    @property
    def z_dim(self) -> int:
        return int(self.vae.config.z_dim)

    def latent_frames(self, frames: int) -> int:
        """81 video frames -> 21 latent frames (the first frame alone, then groups of 4)."""
        return (frames - 1) // self.temporal_factor + 1

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return normalize_latents(z, self.latents_mean, self.latents_std)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return denormalize_latents(z, self.latents_mean, self.latents_std)

    def _check_video(self, video: torch.Tensor) -> None:
        if video.ndim != 5 or video.shape[1] != 3:
            raise InputError(f"the VAE encodes videos (B, 3, F, H, W) in [-1, 1], got shape {tuple(video.shape)}")
        frames, height, width = video.shape[2:]
        if (frames - 1) % self.temporal_factor:
            raise InputError(
                f"the video has {frames} frames; the Wan VAE needs {self.temporal_factor}k+1 frames (e.g. 81), "
                "otherwise it silently drops the last ones"
            )
        if height % self.spatial_factor or width % self.spatial_factor:
            raise InputError(f"video size {height}x{width} must be a multiple of {self.spatial_factor}")

    @torch.no_grad()
    def encode(self, video: torch.Tensor, tiling: VaeTiling | None = None) -> torch.Tensor:
        """Video (B, 3, F, H, W) in [-1, 1] -> normalised posterior mode (B, 16, (F-1)/4+1, H/8, W/8), float32.

        ``tiling`` encodes in overlapping spatial tiles (less memory, small differences near tile seams).
        """
        self._check_video(video)
        pixels = video.to(device=self.device, dtype=self.dtype)
        if tiling is not None:
            return self.normalize(tiled_encode(self.vae, pixels, tiling))
        posterior = self.vae.encode(pixels).latent_dist
        return self.normalize(posterior.mode().float())

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, H, W) in [-1, 1] -> its one-frame normalised latent (B, 16, 1, H/8, W/8)."""
        if image.ndim != 4:
            raise InputError(f"encode_image takes (B, 3, H, W) images, got shape {tuple(image.shape)}")
        return self.encode(image.unsqueeze(2))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiling: VaeTiling | None = None) -> torch.Tensor:
        """Normalised latent (B, 16, T, h, w) -> video (B, 3, 4(T-1)+1, 8h, 8w) in [0, 1], float32.

        ``tiling`` decodes in overlapping spatial tiles: peak memory is then the result plus one tile's working set,
        whatever the frame count (small differences near tile seams).
        """
        if latents.ndim != 5 or latents.shape[1] != self.z_dim:
            raise InputError(f"the VAE decodes latents (B, {self.z_dim}, T, H, W), got shape {tuple(latents.shape)}")
        raw = self.denormalize(latents.float()).to(device=self.device, dtype=self.dtype)
        if tiling is not None:
            # In place: the tiled result is the only video-sized buffer, keep it that way.
            return tiled_decode(self.vae, raw, tiling).clamp_(-1.0, 1.0).add_(1.0).div_(2.0)
        video = self.vae.decode(raw, return_dict=False)[0].float()
        return (video.clamp(-1.0, 1.0) + 1.0) / 2.0

    # -- a few frames at a time (long videos: the float video is never whole in memory) --

    @torch.no_grad()
    def encode_chunks(self, chunks: Iterable[torch.Tensor], tiling: VaeTiling | None = None) -> torch.Tensor:
        """A video fed as chunks (B, 3, F_i, H, W) in [-1, 1], the first starting at frame 0, -> its normalised
        latent on the CPU, float32; equal to ``encode`` of the whole video (same encoder calls, cache carried)."""
        encoder = pieces = None
        for chunk in chunks:
            if encoder is None:
                encoder = StreamingEncoder(self.vae, chunk.shape[-2], chunk.shape[-1], tiling)
                pieces = []
            pieces.append(self.normalize(encoder.encode(chunk)).cpu())
        if encoder is None:
            raise InputError("the video to encode has no frames")
        encoder.finish()
        return torch.cat(pieces, dim=2)

    @torch.no_grad()
    def decode_chunks(
        self, latents: torch.Tensor, tiling: VaeTiling | None = None, latent_frames_per_chunk: int = DECODE_CHUNK
    ) -> Iterator[torch.Tensor]:
        """Normalised latent (1, 16, T, h, w) -> frames (F_i, H, W, 3) in [0, 1] on the CPU, a few latent frames'
        worth at a time (for a writer that takes them as they come); together they equal ``decode``'s frames."""
        if latents.ndim != 5 or latents.shape[1] != self.z_dim or latents.shape[0] != 1:
            raise InputError(f"decode_chunks takes latents (1, {self.z_dim}, T, H, W), got {tuple(latents.shape)}")
        decoder = StreamingDecoder(self.vae, latents.shape[-2], latents.shape[-1], tiling)
        frames = latents.shape[2]
        for start in range(0, frames, latent_frames_per_chunk):
            stop = min(start + latent_frames_per_chunk, frames)
            raw = self.denormalize(latents[:, :, start:stop].float())
            video = decoder.decode(raw, last=stop == frames)
            yield video.clamp_(-1.0, 1.0).add_(1.0).div_(2.0)[0].permute(1, 2, 3, 0).cpu()
            del video


# -- loading --------------------------------------------------------------------------------------------------

_WHAT = "the Wan VAE"


def _check_vae_config(config: dict, where: Path) -> None:
    if config.get("_class_name") != "AutoencoderKLWan":
        raise CheckpointError(
            f"{where} holds {describe_config(config)}, not the Wan VAE (config.json _class_name 'AutoencoderKLWan'). "
            "Point this at the release's 'vae/' folder or a Wan 2.1 VAE .safetensors file."
        )
    z_dim = config.get("z_dim", 16)
    if z_dim != 16:
        raise CheckpointError(
            f"{where} is a Wan VAE with {z_dim} latent channels; RealisDance-DiT uses the Wan 2.1 VAE (16 channels)."
        )


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    """Diffusers-layout tensors from a single VAE file (diffusers or original Wan key names)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for truncated/foreign files
        raise CheckpointError(f"cannot read {path} as safetensors: {error}. Re-download the file.") from error
    if "encoder.conv_in.weight" in state:
        return state
    if "encoder.conv1.weight" in state:
        # Original Wan / ComfyUI naming (e.g. wan_2.1_vae.safetensors): diffusers' own converter renames it.
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        return convert_wan_vae_to_diffusers(state)
    raise CheckpointError(
        f"{path} is not a Wan VAE (no 'encoder.conv_in.weight' or 'encoder.conv1.weight' tensor). "
        "Use the release's 'vae/' folder or the Wan 2.1 VAE file."
    )


def _vae_from_file(path: Path, dtype: torch.dtype | None):
    """A Wan 2.1 VAE built from a single file; widths come from the tensor shapes, the rest is Wan 2.1."""
    from diffusers import AutoencoderKLWan

    state = _state_dict_from_file(path)
    base_dim = int(state["encoder.conv_in.weight"].shape[0])
    z_dim = int(state["post_quant_conv.weight"].shape[0]) if "post_quant_conv.weight" in state else 16
    _check_vae_config({"_class_name": "AutoencoderKLWan", "z_dim": z_dim}, path)
    if dtype is not None:
        state = {key: value.to(dtype) for key, value in state.items()}
    with torch.device("meta"):
        vae = AutoencoderKLWan(base_dim=base_dim, z_dim=z_dim)
    try:
        vae.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path} does not match the Wan 2.1 VAE structure: {error}. Use the release's 'vae/' folder."
        ) from error
    return vae


def load_vae(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = torch.float32
) -> VideoVAE:
    """Wan VAE from the release's ``vae/`` folder (or the release root) or a single ``.safetensors`` file.

    fp32 is the release's dtype for the VAE.
    """
    from diffusers import AutoencoderKLWan

    source = Path(path).expanduser()
    if source.is_file():
        return VideoVAE(_vae_from_file(source, dtype).to(device))
    folder = component_dir(source, "vae", ("config.json",), _WHAT)
    _check_vae_config(read_json(folder / "config.json"), folder)
    kwargs = {"torch_dtype": dtype} if dtype is not None else {}
    try:
        vae = AutoencoderKLWan.from_pretrained(str(folder), **kwargs)
    except Exception as error:  # diffusers raises OSError / ValueError / EnvironmentError variants
        raise CheckpointError(
            f"cannot load the Wan VAE from {folder}: {error}. Check that the download is complete."
        ) from error
    return VideoVAE(vae.to(device))
