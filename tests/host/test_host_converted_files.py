"""The files ``realisdance convert`` writes, read by the real host's own loaders, against the release's encoders.

The host route of the one-stack templates (CLIPLoader type wan + CLIPTextEncode, CLIPVisionLoader, VAELoader +
VAE Decode) measured on the tiny release: the text embeddings and the VAE agree with the release's to float
rounding. CLIP agrees exactly for an image already 224 x 224; for other sizes the host's own antialiased squash
gives other tokens than the release's plain bicubic one, so RealisDance To Video squashes the reference the
release's way before the host encodes it. The numbers are printed for docs/comfyui.md.
"""

from __future__ import annotations

import json

import pytest
import torch
from host_env import run_driver
from model_files import converted_parts

PROMPTS = ["A young woman in a red dress dances on a wooden stage.", ""]


@pytest.fixture(scope="module")
def routes(host, tiny_release, tmp_path_factory):
    work = tmp_path_factory.mktemp("encoder_routes")
    generator = torch.Generator().manual_seed(0)
    images = {
        "224x224": torch.randint(0, 256, (1, 224, 224, 3), generator=generator).float() / 255,
        "256x448": torch.rand(1, 256, 448, 3, generator=generator),
    }
    paths = {}
    for name, image in images.items():
        paths[name] = str(work / f"{name}.pt")
        torch.save(image, paths[name])
    files = {part: str(path) for part, path in converted_parts(tiny_release).items()}
    job = {"release": str(tiny_release), "files": files, "prompts": PROMPTS, "images": paths}
    report = run_driver(host, "encoder_routes", job, work, timeout=400)
    print(json.dumps(report, indent=2))
    return report


def test_the_host_text_route_gives_the_release_embeddings(routes):
    for prompt, result in routes["text"].items():
        assert result["host_tokens"] == 512, prompt  # short prompts: padded to the release's 512
        assert result["max_abs"] <= 1e-5 * max(1.0, result["scale"]), (prompt, result)


def test_realisdance_to_video_gets_the_release_clip_tokens_where_a_stock_encode_does_not(routes):
    clip = routes["clip"]
    for size in ("224x224", "256x448"):
        ours = clip[f"{size}:realisdance"]
        # Only the host's clamp and 8-bit rounding of the squashed image remain (worst on this noise image).
        assert ours["max_abs"] <= 0.06 * ours["scale"], (size, ours)
    assert clip["224x224:host"]["max_abs"] <= 1e-4 * clip["224x224:host"]["scale"]  # no resize: the same
    # The host's antialiased squash of a non-224 image gives other tokens: why RealisDance resizes first.
    assert clip["256x448:host"]["max_abs"] > 10 * clip["256x448:realisdance"]["max_abs"]


def test_the_host_vae_route_gives_the_release_latents_and_frames(routes):
    for name, result in routes["vae"].items():
        assert result["max_abs"] <= 1e-4 * max(1.0, result["scale"]), (name, result)
