"""Memory planning through the nodes (ComfyUI double, tiny release): streamed vs resident sampling, refusal before
any step, cooperation with the host's model manager, decode tiling from free memory, clean state after errors."""

from __future__ import annotations

import pytest
import torch
from nodes_graph import RELEASE, decode_node, full_graph, install_release, media, register_media, sampler_node

from realisdance.encoders import load_vae
from realisdance.encoders.vae_tiling import VaeTiling
from realisdance.errors import InputError, RealisDanceError
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


def streamed_blocks_now(transformer) -> list[int]:
    """Blocks carrying diffusers' group-offloading hook right now."""
    found = []
    for index, block in enumerate(transformer.blocks):
        registry = getattr(block, "_diffusers_hook", None)
        if registry is not None and registry.get_hook("group_offloading") is not None:
            found.append(index)
    return found


def assert_clean(transformer) -> None:
    """A plain module again: no placement, no streaming or prefetch hooks, every weight in host memory."""
    assert getattr(transformer, "_realisdance_placement", None) is None
    assert streamed_blocks_now(transformer) == []
    assert all(not block._forward_pre_hooks and not block._forward_hooks for block in transformer.blocks)
    assert {p.device.type for p in transformer.parameters()} == {"cpu"}


def sampler_summary(result, node: str) -> str:
    return result.ui[node]["realisdance_summary"][0]


def test_streamed_plans_sample_the_same_latent_as_the_resident_one(comfy, pack):
    handle = comfy.run(full_graph(), targets=["model"], cached=True).raise_error().output("model")
    seen: dict[str, list[int]] = {}

    def record(module, args):  # which blocks were streamed while block 0 ran, per sampler node
        seen.setdefault(comfy.utils.EXECUTING_NODE, streamed_blocks_now(handle.transformer))

    hook = handle.transformer.blocks[0].register_forward_pre_hook(record)
    graph = full_graph()
    graph["sample"] = sampler_node(memory="resident")
    graph["stream"] = sampler_node(memory="stream", vram_budget_gb=100.0)  # a budget: the first block stays
    graph["stream_all"] = sampler_node(memory="stream-all")
    result = comfy.run(graph, targets=["sample", "stream", "stream_all"], cached=True).raise_error()
    hook.remove()

    assert seen == {"sample": [], "stream": [1], "stream_all": [0, 1]}  # the plans really ran as planned
    resident = result.output("sample")["samples"]
    for node in ("stream", "stream_all"):
        torch.testing.assert_close(result.output(node)["samples"], resident, rtol=0, atol=1e-6)
    assert "plan: 2/2 blocks resident, no device limit" in sampler_summary(result, "sample")
    assert "plan: 1/2 blocks resident" in sampler_summary(result, "stream")
    assert "of 100.0 GiB" in sampler_summary(result, "stream")
    assert "plan: 0/2 blocks resident" in sampler_summary(result, "stream_all")
    assert_clean(handle.transformer)  # keep_on_device is off by default


def test_an_impossible_budget_is_refused_with_the_planners_message_before_any_step(comfy, pack):
    graph = full_graph()
    graph["sample"] = sampler_node(vram_budget_gb=0.5)
    result = comfy.run(graph, targets=["sample"])
    assert (result.status, result.error_node) == ("error", "sample")
    message = str(result.error)
    assert isinstance(result.error, InputError)
    assert message.startswith("this job (5 frames at 48x32") and "but the budget is 0.50 GiB" in message
    assert "--memory" not in message  # the command line's flag names are not the node's
    assert [e for e in comfy.progress_events if e.node_id == "sample"] == []  # not one step ran
    assert_clean(result.output("model").transformer)


def test_the_host_unloads_its_own_models_to_make_room_and_otherwise_the_job_is_refused(comfy, pack):
    graph = full_graph()
    # Only 0.5 GiB free (under the 0.75 GiB headroom alone), but the host's own models hold 4 GiB it can unload.
    comfy.model_management.simulate_device_memory(free=GIB // 2, held_by_host_models=4 * GIB)
    result = comfy.run(graph, targets=["sample"]).raise_error()
    requests = comfy.model_management.free_memory_requests
    assert requests and max(requests) < 4 * GIB  # asked for room, not for everything
    assert "plan: 2/2 blocks resident" in sampler_summary(result, "sample")
    assert comfy.model_management.simulated_held > 0  # models it did not need to unload stay loaded

    comfy.model_management.simulate_device_memory(free=GIB // 2, held_by_host_models=0)
    result = comfy.run(graph, targets=["sample"])
    assert isinstance(result.error, InputError) and "needs at least" in str(result.error)


def test_an_error_inside_a_streamed_forward_or_a_cancel_leaves_nothing_placed_and_a_rerun_matches(comfy, pack):
    graph = full_graph()
    graph["sample"] = sampler_node(memory="stream-all", keep_on_device=True)
    handle = comfy.run(graph, targets=["model"], cached=True).raise_error().output("model")

    def fail_inside_a_block(module, args):
        assert streamed_blocks_now(handle.transformer) == [0, 1]  # it fails mid-forward with hooks in place
        raise RuntimeError("kernel failure")

    failing = handle.transformer.blocks[1].register_forward_pre_hook(fail_inside_a_block)
    result = comfy.run(graph, targets=["sample"], cached=True)
    failing.remove()
    assert (result.status, result.error_node) == ("error", "sample") and "kernel failure" in str(result.error)
    assert_clean(handle.transformer)  # even with keep_on_device: an error always unplaces

    def cancel_at_first_step(value, total, preview, node_id=None):
        comfy.interrupt()
        comfy.model_management.throw_exception_if_processing_interrupted()

    comfy.utils.set_progress_bar_global_hook(cancel_at_first_step)
    result = comfy.run(graph, targets=["sample"], cached=True)
    comfy.utils.set_progress_bar_global_hook(None)
    assert (result.status, result.error_node) == ("interrupted", "sample")
    assert_clean(handle.transformer)

    again = comfy.run(graph, targets=["sample"], cached=True).raise_error()
    assert again.executed == ["sample"]  # the same loaded model (cached loader) was reused
    fresh = comfy.run(full_graph(), targets=["sample"]).raise_error()  # a new load, resident plan
    torch.testing.assert_close(again.output("sample")["samples"], fresh.output("sample")["samples"], rtol=0, atol=1e-6)


def test_keep_on_device_keeps_the_placement_for_the_next_run_until_switched_off(comfy, pack):
    graph = full_graph()
    graph["sample"] = sampler_node(memory="stream-all", keep_on_device=True)
    handle = comfy.run(graph, targets=["sample"], cached=True).raise_error().output("model")
    placement = handle.transformer._realisdance_placement
    assert placement is not None and streamed_blocks_now(handle.transformer) == [0, 1]

    graph["sample"]["inputs"]["seed"] = 4
    comfy.run(graph, targets=["sample"], cached=True).raise_error()
    assert handle.transformer._realisdance_placement is placement  # same plan: reused, not placed again

    graph["sample"]["inputs"] |= {"seed": 5, "keep_on_device": False}
    comfy.run(graph, targets=["sample"], cached=True).raise_error()
    assert_clean(handle.transformer)


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
