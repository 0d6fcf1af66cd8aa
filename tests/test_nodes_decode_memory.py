"""Device memory through the pack's decoder (ComfyUI double, tiny release): decode tiling from free memory, the
out-of-memory advice and a re-queue that only decodes, tiled video encodes. (Sampling memory is the host's: the
native MODEL is placed by ComfyUI's memory manager.)"""

from __future__ import annotations

import pytest
import torch
from nodes_graph import RELEASE, decode_node, install_release, media, register_media

from realisdance.encoders import load_vae
from realisdance.encoders.vae_tiling import VaeTiling
from realisdance.errors import RealisDanceError
from realisdance.memory import GIB
from realisdance.pipeline.conditions import grey_video_condition
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]

# A Wan latent of 64x96 px (5 frames): large enough that a 64 px tile is smaller than the frame.
LATENT_SHAPE = (1, 16, 2, 8, 12)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("memory_release") / "I2V", variant="I2V")


@pytest.fixture
def pack(comfy, release):
    install_release(comfy, release)
    loaded = comfy.install_pack()
    register_media(comfy, media())
    return loaded


def register_latent(comfy, latent: torch.Tensor) -> None:
    """A test-only source node "TestLatent" whose LATENT output is ``latent`` (normalised Wan layout, un-normalised
    for ComfyUI as the sampler outputs it)."""
    from realisdance.encoders import denormalize_latents

    def to_comfy_latent(latents):  # what the sampler node outputs: the raw (un-normalised) Wan 2.1 layout
        return {"samples": denormalize_latents(latents.float())}

    io = comfy.io

    class TestLatent(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestLatent", outputs=[io.Latent.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput(to_comfy_latent(latent))

    comfy.nodes.NODE_CLASS_MAPPINGS["TestLatent"] = TestLatent


def decode_graph(**decode_inputs) -> dict:
    return {
        "vae": {"class_type": "RealisDanceVAELoader", "inputs": {"vae": RELEASE, "dtype": "auto"}},
        "latent": {"class_type": "TestLatent", "inputs": {}},
        "decode": decode_node(latent=["latent", 0], **decode_inputs),
    }


def test_decode_auto_tiling_picks_tiles_that_fit_the_free_memory(comfy, pack, release):
    latent = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    register_latent(comfy, latent)
    vae_bytes = sum(p.nbytes for p in load_vae(release).module.parameters())
    # Room for about 100 MiB of work beside the weights and the 0.75 GiB headroom: the untiled 64x96 decode's
    # estimate (about 115 MiB) does not fit, a 64 px tile's does.
    comfy.model_management.simulate_device_memory(free=vae_bytes + int(0.75 * GIB) + 100 * 2**20)
    graph = decode_graph(tiling="auto")
    graph["untiled"] = decode_node(latent=["latent", 0], tiling="off")
    graph["tiled"] = decode_node(latent=["latent", 0], tiling="on", tile_size=64, tile_overlap=16)
    result = comfy.run(graph, targets=["decode", "untiled", "tiled"]).raise_error()
    summary = result.ui["decode"]["realisdance_summary"][0]
    assert summary.startswith("96x64, 5 frames, tiles 64px overlap 16px (auto")
    auto, untiled = result.output("decode"), result.output("untiled")
    assert torch.equal(auto, result.output("tiled"))  # exactly the tiling it names
    # Random weights have no locality, so tiles differ near seams more than trained ones would; two different
    # latents differ by about 0.13 on average here.
    assert (auto - untiled).abs().mean() < 0.05 and not torch.equal(auto, untiled)

    comfy.model_management.simulate_device_memory(free=8 * GIB)  # plenty: untiled
    result = comfy.run(decode_graph(tiling="auto"), targets=["decode"]).raise_error()
    assert result.ui["decode"]["realisdance_summary"][0].startswith("96x64, 5 frames, untiled")
    assert torch.equal(result.output("decode"), untiled)


def test_an_out_of_memory_decode_says_which_tile_to_retry_and_a_requeue_only_decodes(comfy, pack):
    register_latent(comfy, torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(1)))
    vae = comfy.run(decode_graph(), targets=["vae"], cached=True).raise_error().output("vae")

    def small_device(module, args):  # a device on which only chunks up to 8 latent pixels wide fit
        if args[0].shape[-1] > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    vae.module.decoder.register_forward_pre_hook(small_device)
    result = comfy.run(decode_graph(tiling="off"), targets=["decode"], cached=True)
    assert (result.status, result.error_node) == ("error", "decode")
    assert isinstance(result.error, RealisDanceError)
    message = str(result.error)
    # Half the frame's larger side (96 px), but never below the smallest tile the planner offers (64 px).
    assert "ran out of device memory untiled" in message and "set tiling to 'on' with tile_size 64" in message
    assert "queue the prompt again" in message

    retry = comfy.run(decode_graph(tiling="on", tile_size=64, tile_overlap=16), targets=["decode"], cached=True)
    retry.raise_error()
    assert retry.executed == ["decode"]  # the VAE and the LATENT came from the cache
    assert retry.output("decode").shape == (5, 64, 96, 3)


def test_video_encodes_take_a_tiling_and_a_whole_frame_tile_is_the_untiled_encode(release):
    vae = load_vae(release)
    untiled = grey_video_condition(vae, 5, 32, 48)
    whole = grey_video_condition(vae, 5, 32, 48, tiling=VaeTiling(48, 16))
    torch.testing.assert_close(whole, untiled, rtol=0, atol=1e-6)
    tiled = grey_video_condition(vae, 5, 32, 48, tiling=VaeTiling(16, 8))
    assert tiled.shape == untiled.shape and not torch.equal(tiled, untiled)
    assert torch.equal(tiled[:, :4], untiled[:, :4])  # the mask channels do not depend on the encode
