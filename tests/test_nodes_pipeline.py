"""A saved pipeline-path graph (loaders -> text -> conditions -> sampler -> decode, the deprecated nodes) in the
ComfyUI double, on the tiny native-width release: the loader gives the native MODEL, the sampler samples it with the
release preset on the host's sampling, and the latent is still the official pipeline's. What the old sampler did
that now has another home is mapped (shift, TeaCache) or refused with that home named (long clips, other solvers)."""

from __future__ import annotations

import pytest
import torch
from nodes_graph import RELEASE, SMALL, STEPS, full_graph, install_release, media, register_media, sampler_node

from realisdance.encoders import normalize_latents
from realisdance.errors import CheckpointError, InputError
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    # Native widths (umT5 4096, CLIP 1280): the loader builds the host's Wan classes, which take only those.
    return {"I2V": build_tiny_release(tmp_path_factory.mktemp("node_releases") / "I2V", variant="native-I2V")}


@pytest.fixture
def pack(comfy, releases):
    install_release(comfy, releases["I2V"])
    loaded = comfy.install_pack()
    register_media(comfy, media())
    return loaded


def test_the_chain_gives_the_pipelines_latents_and_frames_in_comfy_layouts(comfy, pack, releases):
    result = comfy.run(full_graph(), targets=["decode"]).raise_error()
    conditions, width, height, frames = result.outputs["cond"]
    assert (width, height, frames) == (48, 32, 5)
    latent = result.output("sample")
    assert set(latent) == {"samples"} and latent["samples"].shape == (1, 16, 2, 4, 6)
    images = result.output("decode")
    assert images.shape == (5, 32, 48, 3) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0

    # The same job through the public pipeline (which chains the core stages itself).
    pipe = RealisDancePipeline.from_pretrained(releases["I2V"], dtype="fp32")
    tensors = media()
    expected = pipe(
        tensors["reference"], tensors["smpl"], tensors["hamer"], prompt="a dancer", steps=STEPS, seed=3, **SMALL
    )
    # The LATENT is un-normalised (ComfyUI's convention); normalising it gives the pipeline's latents, within the
    # float noise of two implementations of the DiT (the host's Wan layout vs diffusers'): 1e-3 of the largest value.
    scale = float(expected.latents.abs().max())
    assert float((normalize_latents(latent["samples"]) - expected.latents).abs().max()) <= 1e-3 * scale
    assert not torch.allclose(latent["samples"], expected.latents, atol=1e-2)  # really a different convention
    torch.testing.assert_close(images, expected.frames, rtol=0, atol=2e-3)

    # Each of the three nodes says what it did, in one line, for the frontend.
    assert result.ui["cond"]["realisdance_summary"][0].startswith("48x32, 5 frames (2 latent), 2 pose streams")
    assert "2 steps, cfg 2, UniPC shift 5" in result.ui["sample"]["realisdance_summary"][0]
    assert "not applied" not in result.ui["sample"]["realisdance_summary"][0]  # nothing of the old settings dropped
    assert result.ui["decode"]["realisdance_summary"][0].startswith("48x32, 5 frames, untiled")
    # The sampler moved the progress bar once per step, for its own node.
    sampler_events = [e for e in comfy.progress_events if e.node_id == "sample"]
    assert [(e.value, e.total) for e in sampler_events] == [(1, STEPS), (2, STEPS)]
    # Each step carries a preview of the clean-latent estimate at latent resolution (W/8 x H/8), as the host shows.
    for event in sampler_events:
        kind, image, _ = event.preview
        assert kind == "JPEG" and image.size == (48 // 8, 32 // 8)


def test_mismatched_pose_batches_are_refused_with_both_sizes(comfy, pack):
    tensors = media()
    tensors["hamer"] = tensors["hamer"][:6]
    register_media(comfy, tensors)
    result = comfy.run(full_graph(), targets=["cond"])
    assert (result.status, result.error_node) == ("error", "cond")
    assert isinstance(result.error, InputError) and "differ in length" in str(result.error)

    tensors = media()
    tensors["hamer"] = tensors["hamer"][:, :24]
    register_media(comfy, tensors)
    result = comfy.run(full_graph(), targets=["cond"])
    assert isinstance(result.error, InputError) and "differ in size" in str(result.error)


def test_frame_counts_that_are_not_4k_plus_1_are_refused(comfy, pack):
    graph = full_graph()
    graph["cond"]["inputs"]["num_frames"] = 7
    result = comfy.run(graph, targets=["cond"])
    assert isinstance(result.error, InputError) and "4k+1" in str(result.error)
    graph["cond"]["inputs"]["num_frames"] = 1
    with pytest.raises(Exception, match="value_smaller_than_min"):
        comfy.validate(graph, targets=["cond"])


def test_a_model_that_is_not_realisdance_is_refused_by_the_conditions_and_the_sampler(comfy, pack, releases):
    """A plain Wan 2.1 I2V file (the RealisDance modules left out) loads as the host's own Wan model."""
    from safetensors.torch import load_file, save_file

    from realisdance.checkpoints.keymap import diffusers_to_wan

    state = load_file(str(releases["I2V"] / "transformer" / "diffusion_pytorch_model.safetensors"))
    plain = {diffusers_to_wan(name): value for name, value in state.items()
             if not name.startswith(("add_", "attn_")) and ".norm_added_q." not in name}  # fmt: skip
    save_file(plain, str(comfy.model_dir("diffusion_models") / "plain_wan.safetensors"))
    graph = full_graph()
    graph["model"]["inputs"]["model"] = "plain_wan.safetensors"
    result = comfy.run(graph, targets=["model"])
    assert isinstance(result.error, CheckpointError), result.error  # the loader itself wants RealisDance
    graph["wan"] = {
        "class_type": "UNETLoader",
        "inputs": {"unet_name": "plain_wan.safetensors", "weight_dtype": "default"},
    }
    graph["model"]["inputs"]["model"] = RELEASE
    graph["cond"]["inputs"]["model"] = ["wan", 0]
    result = comfy.run(graph, targets=["cond"])
    assert (result.status, result.error_node) == ("error", "cond")
    assert isinstance(result.error, InputError) and "not RealisDance-DiT" in str(result.error)


def test_cancel_mid_sampling_stops_cleanly_and_the_next_run_works(comfy, pack):
    graph = full_graph()
    graph["sample"]["inputs"]["steps"] = 4

    def hook(value, total, preview, node_id=None):
        if node_id is None and value == 2 and total == 4:  # the sampler's second step
            comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    result = comfy.run(graph, targets=["sample"])
    assert (result.status, result.error_node) == ("interrupted", "sample")
    assert "sample" not in result.outputs and not comfy.model_management.processing_interrupted()

    comfy.utils.set_progress_bar_global_hook(None)
    again = comfy.run(graph, targets=["sample"]).raise_error()
    assert again.output("sample")["samples"].shape == (1, 16, 2, 4, 6)


def test_denoise_below_one_starts_from_the_given_latent(comfy, pack):
    graph = full_graph()
    graph["again"] = {"class_type": "RealisDanceSampler", "inputs": dict(graph["sample"]["inputs"])}
    graph["again"]["inputs"] |= {"latent": ["sample", 0], "denoise": 0.5, "seed": 9}
    graph["fresh"] = {"class_type": "RealisDanceSampler", "inputs": dict(graph["sample"]["inputs"]) | {"seed": 9}}
    result = comfy.run(graph, targets=["again", "fresh"]).raise_error()
    first, second, fresh = (result.output(n)["samples"] for n in ("sample", "again", "fresh"))
    assert second.shape == first.shape
    # Same seed and steps, but one starts from the latent: it lands nearer that latent than the fresh run does.
    assert (second - first).abs().mean() < (fresh - first).abs().mean()
    assert "denoise 0.5" in result.ui["again"]["realisdance_summary"][0]

    del graph["again"]["inputs"]["latent"]
    result = comfy.run(graph, targets=["again"])
    assert isinstance(result.error, InputError) and "starts from a given latent" in str(result.error)


def test_previews_follow_the_hosts_preview_method_and_never_change_the_result(comfy, pack, monkeypatch):
    with_previews = comfy.run(full_graph(), targets=["sample"]).raise_error().output("sample")["samples"]
    monkeypatch.setattr(comfy.modules["latent_preview"], "PREVIEW_METHOD", "none")  # ComfyUI's --preview-method none
    comfy.progress_events.clear()
    without = comfy.run(full_graph(), targets=["sample"]).raise_error().output("sample")["samples"]
    events = [e for e in comfy.progress_events if e.node_id == "sample"]
    assert len(events) == STEPS and all(e.preview is None for e in events)
    torch.testing.assert_close(without, with_previews, rtol=0, atol=0)


def test_the_condition_encodes_show_progress_and_stop_within_one_vae_chunk_on_cancel(comfy, pack):
    done = comfy.run(full_graph(), targets=["cond"]).raise_error()
    ticks = [(e.value, e.total) for e in comfy.progress_events if e.node_id == "cond"]
    # 2 pose streams + the grey video, 2 latent frames each, + the reference and the grey reference: 8 VAE chunks
    assert ticks[-1] == (8, 8) and [value for value, _ in ticks if value] == list(range(1, 9)), ticks
    assert done.outputs["cond"]

    comfy.progress_events.clear()

    def hook(value, total, preview, node_id=None):
        node_id = node_id or comfy.utils.EXECUTING_NODE
        comfy.progress_events.append((node_id, value))
        if node_id == "cond" and value == 2:  # Cancel pressed while the second chunk is about to run
            comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    result = comfy.run(full_graph(), targets=["cond"], cached=False)
    comfy.utils.set_progress_bar_global_hook(None)
    assert (result.status, result.error_node) == ("interrupted", "cond")
    assert max(value for node, value in comfy.progress_events if node == "cond") == 2
    again = comfy.run(full_graph(), targets=["cond"]).raise_error()  # the VAE's chunk cache was left clean
    assert again.outputs["cond"][0].pose.shape == done.outputs["cond"][0].pose.shape


def test_a_run_prints_no_library_chatter(comfy, pack):
    """diffusers warned on every run ("Attention backends are an experimental feature", "modules that should be
    kept in float32"); neither says anything a user can act on."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    library = logging.getLogger("diffusers")
    library.addHandler(handler)
    try:
        result = comfy.run(full_graph(), targets=["decode"]).raise_error()
    finally:
        library.removeHandler(handler)
    assert result.output("decode") is not None
    said = [record.getMessage() for record in records if record.levelno >= logging.WARNING]
    assert not [m for m in said if "experimental feature" in m or "kept in float32" in m], said


def test_what_the_native_path_does_elsewhere_is_refused_with_its_home_named(comfy, pack):
    register_media(comfy, media(frames=13))
    graph = full_graph()
    graph["cond"]["inputs"]["num_frames"] = 13
    graph["sample"]["inputs"] |= {"window_frames": 9, "window_overlap": 4}
    result = comfy.run(graph, targets=["sample"])
    assert (result.status, result.error_node) == ("error", "sample")
    assert isinstance(result.error, InputError) and "WAN Context Windows (Manual)" in str(result.error)

    register_media(comfy, media())
    graph = full_graph()
    graph["sample"]["inputs"]["scheduler"] = "euler"
    result = comfy.run(graph, targets=["sample"])
    assert isinstance(result.error, InputError) and "KSampler" in str(result.error)


def test_shift_teacache_and_memory_settings_map_onto_the_native_model(comfy, pack):
    graph = full_graph()
    graph["shifted"] = sampler_node(shift=3.0)
    graph["cached"] = sampler_node(teacache_threshold=1e6, steps=3)
    graph["placed"] = sampler_node(memory="stream", keep_on_device=True)
    result = comfy.run(graph, targets=["sample", "shifted", "cached", "placed"]).raise_error()
    plain, shifted, placed = (result.output(n)["samples"] for n in ("sample", "shifted", "placed"))
    assert "UniPC shift 3" in result.ui["shifted"]["realisdance_summary"][0]
    assert (shifted - plain).abs().max() > 1e-3  # another sigma grid
    assert "TeaCache" in result.ui["cached"]["realisdance_summary"][0]
    # ComfyUI places the model now: the same latent, and the summary names the settings it did not apply
    torch.testing.assert_close(placed, plain, rtol=0, atol=0)
    assert "memory, keep_on_device not applied" in result.ui["placed"]["realisdance_summary"][0]
    model = result.output("model")
    assert model.get_model_object("model_sampling").shift == 5.0  # the clones' patches stay on the clones


def test_window_settings_a_window_cannot_hold_are_refused(comfy, pack):
    graph = full_graph()
    graph["sample"]["inputs"] |= {"window_frames": 9, "window_overlap": 8}
    result = comfy.run(graph, targets=["sample"])
    assert isinstance(result.error, InputError) and "shorter than the window" in str(result.error)
