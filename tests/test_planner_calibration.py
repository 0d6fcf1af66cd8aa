"""The planner's per-stage numbers against measurements of the real architectures (live tensor bytes, meta device).

The DiT's activation formula is held to the measured forward in tests/test_memory_plan.py; these hold the encoder
and VAE numbers, so a changed constant or a library that changes its memory use shows up here rather than as an
out-of-memory on a user's GPU. The weights live on the meta device, so even umT5-XXL costs nothing to "run".
"""

from __future__ import annotations

import pytest
import torch

from realisdance.memory.measure import measure_call, measure_forward
from realisdance.memory.stages import clip_activation_bytes, text_activation_bytes
from realisdance.wan_constants import TEXT_TOKENS

UMT5_XXL = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64}
CLIP_VIT_H = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16}


def assert_covers(predicted: int, measured: int, margin: float = 1.25) -> None:
    """At or above the measurement (never an out-of-memory by the planner's hand), and not wastefully far above."""
    assert measured <= predicted <= margin * measured, (predicted / 2**20, measured / 2**20)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_text_encoder_estimate_covers_umt5_xxl_on_a_padded_prompt(dtype, monkeypatch):
    import transformers.masking_utils as masking
    from transformers import UMT5Config, UMT5EncoderModel

    # A padded prompt builds the additive mask; transformers decides that by reading the mask's values, which a meta
    # tensor cannot give, so the measurement takes the padded-prompt path directly.
    if not hasattr(masking, "_ignore_bidirectional_mask_sdpa"):
        pytest.skip("this transformers version builds its mask differently; re-check the measurement by hand")
    monkeypatch.setattr(masking, "_ignore_bidirectional_mask_sdpa", lambda *args, **kwargs: False)
    with torch.device("meta"):
        model = UMT5EncoderModel(UMT5Config(feed_forward_proj="gated-gelu", **UMT5_XXL)).to(dtype)
    tokens = torch.zeros(1, TEXT_TOKENS, dtype=torch.long, device="meta")
    inputs = {"input_ids": tokens, "attention_mask": torch.ones_like(tokens)}
    measured = measure_forward(model, inputs).peak_bytes
    assert_covers(text_activation_bytes(dtype.itemsize), measured)


@pytest.mark.parametrize("dtype", [torch.float32])
def test_clip_estimate_covers_vit_h_keeping_every_hidden_state(dtype):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    with torch.device("meta"):
        model = CLIPVisionModel(CLIPVisionConfig(image_size=224, patch_size=14, **CLIP_VIT_H)).to(dtype)
    pixels = torch.empty(1, 3, 224, 224, device="meta", dtype=dtype)
    # As ClipImageEncoder.encode calls it: every hidden state is returned, the release keeps the penultimate.
    measured = measure_forward(model, {"pixel_values": pixels, "output_hidden_states": True}).peak_bytes
    assert_covers(clip_activation_bytes(dtype.itemsize), measured)


@pytest.mark.parametrize(
    "frames, height, width, tile, dtype",
    [(2, 128, 192, None, torch.float32), (3, 256, 256, None, torch.bfloat16), (2, 256, 384, 128, torch.float32)],
)
def test_vae_decode_estimate_is_within_ten_percent_of_the_real_decoder(frames, height, width, tile, dtype):
    from diffusers import AutoencoderKLWan

    from realisdance.encoders.vae import VideoVAE
    from realisdance.encoders.vae_tiling import VaeTiling, decode_peak_bytes, default_overlap

    tiling = None if tile is None else VaeTiling(tile, default_overlap(tile))
    with torch.device("meta"):
        vae = VideoVAE(AutoencoderKLWan().to(dtype))  # diffusers' defaults are the Wan 2.1 VAE's architecture
    latents = torch.zeros(1, 16, frames, height // 8, width // 8, device="meta")
    measured = measure_call(lambda: vae.decode(latents, tiling), fused_attention=False).peak_bytes
    predicted = decode_peak_bytes(frames, height, width, tiling, dtype)
    assert measured <= predicted <= 1.10 * measured, (predicted / 2**20, measured / 2**20)
