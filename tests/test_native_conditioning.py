"""RealisDance To Video in the ComfyUI double: native CONDITIONING that carries exactly the pipeline's conditions.

The model side (normalising these raw latents, sampling) needs ComfyUI's Wan classes and is tested on a real host
(tests/host/test_host_native_*.py); here the node's output is checked against RealisDanceConditions' bundle built
from the same inputs: raw latents = the pipeline's normalised ones de-normalised, the release's negative branch,
the strengths, and one-sentence refusals.
"""

from __future__ import annotations

import pytest
import torch
from nodes_graph import install_release, loaders, media, register_media, to_video_node

from realisdance.encoders import normalize_latents
from realisdance.tiny import build_tiny_release

pytest_plugins = ["comfy_double.fixtures"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("native_cond") / "release", variant="native-I2V")


@pytest.fixture
def pack(comfy, release):
    install_release(comfy, release)
    loaded = comfy.install_pack()
    register_media(comfy, media())
    return loaded


def _graph(**inputs) -> dict:
    graph = loaders() | {"media": {"class_type": "TestMedia", "inputs": {}}, "tovideo": to_video_node(**inputs)}
    graph["cond"] = {
        "class_type": "RealisDanceConditions",
        "inputs": {k: v for k, v in graph["tovideo"]["inputs"].items() if not k.startswith(("pose_s", "pose_e", "ref"))}
        | {"model": ["model", 0], "image_encoder": ["clip", 0], "reference": ["media", 0]},
    }
    del graph["cond"]["inputs"]["clip_vision"]
    return graph


def test_the_conditioning_carries_the_pipelines_conditions_as_raw_latents(comfy, pack):
    result = comfy.run(_graph(pose_strength=0.5, reference_strength=0.75), targets=["tovideo", "cond"]).raise_error()
    positive, negative, latent, width, height, frames = result.outputs["tovideo"]
    bundle = result.outputs["cond"][0]
    assert (width, height, frames) == (bundle.width, bundle.height, bundle.num_frames)
    assert torch.equal(latent["samples"], torch.zeros(bundle.latent_shape))
    (pos_text, pos), (neg_text, neg) = positive[0], negative[0]

    def normalised(raw):
        return torch.cat([normalize_latents(part) for part in raw.split(16, dim=1)], dim=1)

    for options in (pos, neg):  # shared by both branches, as the release feeds them
        torch.testing.assert_close(normalised(options["realisdance_pose"]), bundle.pose, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            normalize_latents(options["concat_latent_image"]), bundle.image_condition[:, 4:], atol=1e-5, rtol=1e-5
        )
        assert not bundle.image_condition[:, :4].any()  # the host's Wan I2V adds the 4 zero mask channels itself
        assert options["realisdance_pose_strength"] == 0.5
        assert options["realisdance_reference_strength"] == 0.75
        assert options["realisdance_pose_percent"] == (0.0, 1.0)
    for options, text, branch in ((pos, pos_text, bundle.positive), (neg, neg_text, bundle.negative)):
        assert torch.equal(text, branch.text)
        assert torch.equal(options["clip_vision_output"].penultimate_hidden_states, branch.clip)
        torch.testing.assert_close(normalize_latents(options["realisdance_reference"]), branch.reference)
    assert not torch.equal(pos["realisdance_reference"], neg["realisdance_reference"])  # grey reference in negative


def test_a_pose_range_that_ends_before_it_starts_is_refused(comfy, pack):
    result = comfy.run(_graph(pose_start_percent=0.8, pose_end_percent=0.2), targets=["tovideo"])
    assert result.status == "error" and "pose_start_percent" in str(result.error)
    assert "\n" not in str(result.error)


def test_a_native_conditioning_keeps_its_options_and_is_cut_to_512_tokens(comfy, pack):
    long_text = torch.randn(1, 600, 4096)
    conditioning = [[long_text, {"pooled_output": None, "custom": 7}]]
    import importlib

    native = importlib.import_module(pack.module_name + ".nodes.native_nodes")
    embeddings, options = native._text(conditioning, "positive")
    assert embeddings.shape == (1, 512, 4096) and torch.equal(embeddings[0], long_text[0, :512])
    assert options == {"pooled_output": None, "custom": 7}
