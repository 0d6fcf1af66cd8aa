"""The node chain loaders -> text -> conditions -> sampler -> decode in the ComfyUI double, on the tiny release."""

from __future__ import annotations

import pytest
import torch
from nodes_graph import SMALL, STEPS, full_graph, install_release, media, register_media

from realisdance.encoders import normalize_latents
from realisdance.errors import InputError
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    root = tmp_path_factory.mktemp("node_releases")
    return {variant: build_tiny_release(root / variant, variant=variant) for variant in ("I2V", "T2V")}


@pytest.fixture
def pack(comfy, releases):
    install_release(comfy, releases["I2V"])
    install_release(comfy, releases["T2V"], "TinyT2V/")
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
    # The LATENT is un-normalised (ComfyUI's convention); normalising it gives the pipeline's latents.
    torch.testing.assert_close(normalize_latents(latent["samples"]), expected.latents, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(latent["samples"], expected.latents, atol=1e-2)  # really a different convention
    torch.testing.assert_close(images, expected.frames, rtol=1e-4, atol=1e-4)

    # Each of the three nodes says what it did, in one line, for the frontend.
    assert result.ui["cond"]["realisdance_summary"][0].startswith("48x32, 5 frames (2 latent), 2 pose streams")
    assert "2 steps, cfg 2" in result.ui["sample"]["realisdance_summary"][0]
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


def test_a_bundle_built_for_another_model_is_refused_by_the_sampler(comfy, pack):
    graph = full_graph()
    graph["t2v"] = {"class_type": "RealisDanceModelLoader", "inputs": graph["model"]["inputs"] | {"model": "TinyT2V/"}}
    graph["sample"]["inputs"]["model"] = ["t2v", 0]
    result = comfy.run(graph, targets=["sample"])
    assert (result.status, result.error_node) == ("error", "sample")
    assert isinstance(result.error, InputError) and "built for another model" in str(result.error)


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
    assert isinstance(result.error, InputError) and "needs a latent" in str(result.error)


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


@pytest.mark.parametrize("scheme", ["average", "continue"])
def test_the_sampler_runs_a_clip_longer_than_its_window_in_windows(comfy, pack, scheme):
    from realisdance.encoders import load_scheduler
    from realisdance.pipeline.sampling import SamplerSettings, sample
    from realisdance.pipeline.windows import WindowPlan

    register_media(comfy, media(frames=13))
    graph = full_graph()
    graph["cond"]["inputs"]["num_frames"] = 13  # 4 latent frames
    graph["sample"]["inputs"] |= {"window_frames": 9, "window_overlap": 4, "window_scheme": scheme}
    result = comfy.run(graph, targets=["sample", "model"]).raise_error()
    windows = len(WindowPlan(4, 3, 1).windows())
    assert windows == 2
    summary = result.ui["sample"]["realisdance_summary"][0]
    assert f"{windows} windows of 9 frames ({scheme})" in summary
    steps = STEPS * (windows if scheme == "continue" else 1)  # the bar covers every window's steps
    assert [e.total for e in comfy.progress_events if e.node_id == "sample"] == [steps] * steps
    # The node's latent is the core's windowed sampling of the same conditions.
    conditions = result.outputs["cond"][0]
    model = result.outputs["model"][0]
    settings = SamplerSettings(steps=STEPS, guidance=2.0, seed=graph["sample"]["inputs"]["seed"], window=3,
                               window_overlap=1, window_scheme=scheme)  # fmt: skip
    expected = sample(model.transformer, load_scheduler(model.path, kind="auto"), conditions, settings)
    torch.testing.assert_close(normalize_latents(result.output("sample")["samples"]), expected, rtol=1e-4, atol=1e-5)


def test_window_settings_a_window_cannot_hold_are_refused(comfy, pack):
    graph = full_graph()
    graph["sample"]["inputs"] |= {"window_frames": 9, "window_overlap": 8}
    result = comfy.run(graph, targets=["sample"])
    assert isinstance(result.error, InputError) and "shorter than the window" in str(result.error)
