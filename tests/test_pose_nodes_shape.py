"""Shape-aligned rendering nodes in the ComfyUI double: Fit Reference Shape -> Transfer Shape -> Smooth Motion ->
Render, HaMeR hands into the render, and their errors. Body models are the procedural ones of tests/pose_assets.py;
the reference is rendered from that body with known betas, so the fit has a ground truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_double import PromptValidationError  # noqa: E402
from comfy_double.latest_io import node_info
from pose_assets import (
    CORRESPONDENCE_FILE,
    RED,
    gvhmr_params,
    hand_correspondence,
    install_body_folder,
    write_body_folder,
    write_gvhmr,
    write_hamer,
)
from value_sources import source_class

from realisdance.errors import InputError
from realisdance.pose import (
    HandGeometry,
    ManoCorrespondence,
    RenderOptions,
    ShapeFitOptions,
    SmoothingOptions,
    SMPLXParams,
    SMPLXSequence,
    axis_angle_to_matrix,
    estimate_intrinsics,
    fit_reference_shape,
    load_hamer,
    load_smplx,
    mano_hand_mesh,
    person_keypoints,
    pose_smplx,
    project_points,
    register_hamer_hands,
    render_pose_conditions,
    smooth_sequence,
)
from realisdance.pose.landmarks import LandmarkSet, landmark_positions

pytest_plugins = ["comfy_double.fixtures"]

WIDTH, HEIGHT, FRAMES = 96, 128, 3
TRUE_BETAS = torch.tensor([1.2, -0.8, 0.6, 0, 0, 0, 0, 0, 0, 0])
ITERATIONS = 40
LOADER = {"class_type": "RealisDanceBodyModelLoader", "inputs": {"folder": "body_models", "gender": "neutral",
                                                                  "load_mano": False}}  # fmt: skip
GVHMR = {"class_type": "RealisDanceLoadGVHMR", "inputs": {"path": "hmr4d_results.pt", "width": 0, "height": 0,
         "fps": 30.0, "start_frame": 0, "frame_count": 0, "camera": "incam", "match_intrinsics": True}}  # fmt: skip


# ---- a source node handing test values into a graph (the host has no node making POSE_KEYPOINT or a sequence) ----

VALUES: dict[str, object] = {}


def _source(key: str, type_name: str) -> dict:
    return {"class_type": f"TestSource_{type_name}", "inputs": {"key": key}}


@pytest.fixture(scope="module")
def body_folder(tmp_path_factory) -> Path:
    return write_body_folder(tmp_path_factory.mktemp("body_source"))


@pytest.fixture(scope="module")
def model(body_folder):
    return load_smplx(body_folder)


@pytest.fixture(scope="module")
def reference(model):
    """The procedural body with TRUE_BETAS in GVHMR's frame-0 pose: its POSE_KEYPOINT, mask and SMPL-CS image."""
    params = SMPLXParams.from_mapping({**gvhmr_params(1), "betas": TRUE_BETAS[None]})
    k = estimate_intrinsics(WIDTH, HEIGHT)
    out = pose_smplx(model, params)
    body = landmark_positions(LandmarkSet().body, out.joints, out.vertices)[0]
    pixels = project_points(body, k)[:, :2]
    keypoints = torch.cat([pixels, torch.ones(len(pixels), 1)], dim=1)
    pose_keypoint = [
        {
            "people": [{"pose_keypoints_2d": keypoints.reshape(-1).tolist()}],
            "canvas_width": WIDTH,
            "canvas_height": HEIGHT,
        }
    ]
    sequence = SMPLXSequence(params, k[None], WIDTH, HEIGHT)
    image = render_pose_conditions(
        model, sequence, torch.tensor([RED]).repeat(10475, 1), RenderOptions(backend="torch")
    ).smpl_cs
    mask = (image.amax(-1) > 0).float()
    return {"pose_keypoint": pose_keypoint, "image": image, "mask": mask, "params": params}


@pytest.fixture
def pack(comfy, body_folder, reference):
    install_body_folder(comfy.models_dir, body_folder)
    write_gvhmr(Path(comfy.folder_paths.get_input_directory()) / "hmr4d_results.pt", FRAMES, WIDTH, HEIGHT)
    loaded = comfy.install_pack()
    for type_name in ("POSE_KEYPOINT", "IMAGE", "MASK", "REALISDANCE_SMPLX_SEQUENCE"):
        comfy.nodes.NODE_CLASS_MAPPINGS[f"TestSource_{type_name}"] = source_class(comfy, type_name, VALUES)
    VALUES.clear()
    VALUES.update(reference)
    return loaded


def _fit_graph(**fit_inputs) -> dict:
    inputs = {"body_model": ["body", 0], "image": ["image", 0], "keypoints": ["kp", 0], "iterations": ITERATIONS,
              "person": -1, "initial_frame": 0, **fit_inputs}  # fmt: skip
    return {
        "body": LOADER,
        "motion": GVHMR,
        "image": _source("image", "IMAGE"),
        "kp": _source("pose_keypoint", "POSE_KEYPOINT"),
        "mask": _source("mask", "MASK"),
        "fit": {"class_type": "RealisDanceFitShape", "inputs": inputs},
        "transfer": {
            "class_type": "RealisDanceTransferShape",
            "inputs": {"body_model": ["body", 0], "motion": ["motion", 0], "shape": ["fit", 0]},
        },
        "smooth": {
            "class_type": "RealisDanceSmoothMotion",
            "inputs": {"motion": ["transfer", 0], "strength": 1.5, "smooth_translation": True, "split_at_cuts": True},
        },
        "render": {
            "class_type": "RealisDanceRenderPose",
            "inputs": {"body_model": ["body", 0], "motion": ["smooth", 0], "backend": "torch", "occlude_hands": True},
        },
    }


def test_schemas_are_typed_and_every_input_has_a_tooltip(pack):
    expected_outputs = {
        "RealisDanceFitShape": ["REALISDANCE_BODY_SHAPE", "IMAGE"],
        "RealisDanceTransferShape": ["REALISDANCE_SMPLX_SEQUENCE"],
        "RealisDanceSmoothMotion": ["REALISDANCE_SMPLX_SEQUENCE"],
        "RealisDanceLoadHaMeR": ["REALISDANCE_HAMER_HANDS", "INT"],
    }
    for name, outputs in expected_outputs.items():
        info = node_info(pack.node(name))
        assert info["output"] == outputs and info["category"] == "RealisDance/pose"
        for group in ("required", "optional"):
            for input_name, (_, options) in info["input"].get(group, {}).items():
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"
    fit = node_info(pack.node("RealisDanceFitShape"))["input"]
    assert fit["required"]["keypoints"][0] == "POSE_KEYPOINT"
    assert set(fit["optional"]) == {"mask", "initial_motion"}
    render = node_info(pack.node("RealisDanceRenderPose"))["input"]
    assert render["optional"]["hamer_hands"][0] == "REALISDANCE_HAMER_HANDS"


def test_fit_transfer_smooth_render_through_the_graph(comfy, pack, model, reference):
    result = comfy.run(_fit_graph(mask=["mask", 0], initial_motion=["motion", 0]), targets=["render"]).raise_error()
    fit, preview = result.outputs["fit"]
    motion = result.outputs["motion"][0]

    # The node adds nothing to the core fit (same inputs, same options: the same betas).
    expected = fit_reference_shape(
        model,
        person_keypoints(reference["pose_keypoint"]),
        mask=reference["mask"],
        initial=motion,
        options=ShapeFitOptions(iterations=ITERATIONS),
    )
    torch.testing.assert_close(fit.betas, expected.betas)
    # ... and it moved the height direction most of the way from the mean shape to the truth.
    assert abs(float(fit.betas[0] - TRUE_BETAS[0])) < 0.5 * float(TRUE_BETAS[0])
    assert fit.keypoint_error_px < 3.0 and fit.inside_fraction > 0.8
    line = result.ui["fit"]["realisdance_summary"][0]
    assert "keypoint error" in line and "inside the mask" in line
    events = [(e.value, e.total) for e in comfy.progress_events if e.node_id == "fit"]
    assert events[-1] == (ITERATIONS, ITERATIONS) and len(events) == ITERATIONS

    # Preview: the reference image, with the fitted body blended in where it projects.
    image = reference["image"]
    assert preview.shape == (1, HEIGHT, WIDTH, 3)
    covered = (preview - image).abs().amax(-1)[0] > 1e-6
    assert 0.05 < covered.float().mean() < 0.6
    assert (reference["mask"][0][covered] > 0).float().mean() > 0.8  # drawn where the character is

    # Transfer: every frame has the fitted betas, the pelvis stays put, the poses are unchanged.
    transferred = result.outputs["transfer"][0]
    assert torch.equal(transferred.params.betas, fit.betas[None].expand(FRAMES, -1))
    before = pose_smplx(model, motion.params).joints[:, 0]
    after = pose_smplx(model, transferred.params).joints[:, 0]
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert torch.equal(transferred.params.body_pose, motion.params.body_pose)

    # Smooth: what the core gives for the same options.
    smoothed = result.outputs["smooth"][0]
    core = smooth_sequence(transferred, SmoothingOptions(strength=1.5))
    torch.testing.assert_close(smoothed.params.body_pose, core.params.body_pose)

    # Render of the reference-shaped motion differs from the driving body's render (the body is taller).
    shaped = result.outputs["render"][0]
    plain = render_pose_conditions(
        model, motion, torch.tensor([RED]).repeat(10475, 1), RenderOptions(backend="torch")
    ).smpl_cs
    assert shaped.shape == plain.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert (shaped.amax(-1) > 0).sum() > (plain.amax(-1) > 0).sum()


def test_fit_runs_under_inference_mode_as_in_the_host(comfy, pack):
    # ComfyUI executes every node inside torch.inference_mode(): the loaded body model and the inputs are then
    # inference tensors, which autograd cannot use; the node must still fit.
    with torch.inference_mode():
        result = comfy.run(_fit_graph(iterations=3, mask=["mask", 0], initial_motion=["motion", 0]), targets=["render"])
    result.raise_error()
    assert result.outputs["fit"][0].betas.abs().sum() > 0


def test_fit_without_initial_pose_or_mask_runs(comfy, pack):
    result = comfy.run(_fit_graph(iterations=5), targets=["fit"]).raise_error()
    fit = result.outputs["fit"][0]
    assert fit.inside_fraction is None and torch.isfinite(fit.betas).all()
    assert "inside the mask" not in result.ui["fit"]["realisdance_summary"][0]


def test_fit_errors_say_what_to_do(comfy, pack, reference):
    def error(**changes):
        values = dict(reference)
        values.update(changes)
        VALUES.update(values)
        result = comfy.run(_fit_graph(iterations=2, mask=["mask", 0]), targets=["fit"])
        assert (result.status, result.error_node) == ("error", "fit")
        assert isinstance(result.error, InputError)
        return str(result.error)

    nobody = [{"people": [], "canvas_width": WIDTH, "canvas_height": HEIGHT}]
    assert "No person was detected" in error(pose_keypoint=nobody)
    assert "mask is 48x64" in error(mask=torch.ones(1, 64, 48))
    other = [{**reference["pose_keypoint"][0], "canvas_width": 200, "canvas_height": 100}]
    assert "run the pose estimator on this reference image" in error(pose_keypoint=other)
    assert "one reference image" in error(image=reference["image"].repeat(2, 1, 1, 1))
    # Keypoints of a resized copy of the image are scaled to it, not refused.
    half = [dict(reference["pose_keypoint"][0], canvas_width=WIDTH // 2, canvas_height=HEIGHT // 2)]
    half[0]["people"] = [{"pose_keypoints_2d": (np.array(half[0]["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
                                                * [0.5, 0.5, 1]).reshape(-1).tolist()}]  # fmt: skip
    VALUES.update(reference, pose_keypoint=half)
    assert comfy.run(_fit_graph(iterations=2), targets=["fit"]).status == "success"


def test_fit_with_an_initial_pose_of_another_framing_is_refused(comfy, pack):
    write_gvhmr(Path(comfy.folder_paths.get_input_directory()) / "wide.pt", FRAMES, 2 * WIDTH, HEIGHT)
    graph = _fit_graph(iterations=2, initial_motion=["motion", 0])
    graph["motion"] = {"class_type": GVHMR["class_type"], "inputs": {**GVHMR["inputs"], "path": "wide.pt"}}
    result = comfy.run(graph, targets=["fit"])
    assert isinstance(result.error, InputError) and "same reference image" in str(result.error)


def test_cancel_stops_the_fit(comfy, pack):
    def hook(value, total, preview, node_id=None):
        if value == 3:
            comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    result = comfy.run(_fit_graph(initial_motion=["motion", 0]), targets=["fit"])  # no placement stage first
    comfy.utils.set_progress_bar_global_hook(None)
    assert (result.status, result.error_node) == ("interrupted", "fit")


def test_smooth_strength_zero_is_the_identity_and_cuts_can_be_ignored(comfy, pack):
    jitter = torch.randn(12, 63, generator=torch.Generator().manual_seed(0)) * 0.05
    params = SMPLXParams.from_mapping({**gvhmr_params(12), "body_pose": gvhmr_params(12)["body_pose"] + jitter})
    params = dataclasses.replace(
        params, transl=params.transl + torch.tensor([[1.0, 0, 0]]) * (torch.arange(12) >= 6)[:, None]
    )
    VALUES["jittery"] = SMPLXSequence(params, estimate_intrinsics(WIDTH, HEIGHT)[None].repeat(12, 1, 1), WIDTH, HEIGHT)

    def smooth(**inputs):
        node = {"class_type": "RealisDanceSmoothMotion", "inputs": {"motion": ["src", 0], "strength": 1.5,
                "smooth_translation": True, "split_at_cuts": True, **inputs}}  # fmt: skip
        graph = {"src": _source("jittery", "REALISDANCE_SMPLX_SEQUENCE"), "smooth": node}
        return comfy.run(graph, targets=["smooth"]).raise_error().outputs["smooth"][0]

    assert smooth(strength=0.0) is VALUES["jittery"]
    smoothed = smooth()
    assert (smoothed.params.body_pose[1:] - smoothed.params.body_pose[:-1]).abs().mean() < jitter.diff(
        dim=0
    ).abs().mean()
    # The 1 m jump is a cut: split there, the two shots keep their own positions; across it, they blur.
    assert float(smoothed.params.transl[5, 0]) == pytest.approx(0.0, abs=1e-5)
    blurred = smooth(split_at_cuts=False)
    assert float(blurred.params.transl[5, 0]) > 0.1
    assert torch.equal(smooth(smooth_translation=False).params.transl, params.transl)


# ---- HaMeR hands ----


def _hamer_like(model, motion, pairs: ManoCorrespondence):
    """HaMeR-style hands: the posed SMPL-X hand vertices in another frame (rotated, scaled, moved), left mirrored."""
    body = pose_smplx(model, motion.params).vertices
    rotation = axis_angle_to_matrix(torch.tensor([0.3, 2.0, -0.5]))
    hands = []
    for frame in range(motion.num_frames):
        left = 0.8 * body[frame, pairs.left] @ rotation.T + torch.tensor([0.1, 0.2, 5.0])
        right = 1.3 * body[frame, pairs.right] @ rotation.T - torch.tensor([0.4, 0.0, -2.0])
        hands.append(((left * torch.tensor([-1.0, 1.0, 1.0])).numpy(), right.numpy()))
    hands[1] = (None, hands[1][1])  # a missed left hand keeps the SMPL-X hand
    return hands


def _hands_graph(**loader_inputs) -> dict:
    return {
        "body": LOADER,
        "motion": GVHMR,
        "hands": {
            "class_type": "RealisDanceLoadHaMeR",
            "inputs": {"path": "hamer_info.pkl", "start_frame": 0, "frame_count": 0, **loader_inputs},
        },
        "render": {
            "class_type": "RealisDanceRenderPose",
            "inputs": {
                "body_model": ["body", 0],
                "motion": ["motion", 0],
                "backend": "torch",
                "occlude_hands": False,
                "hamer_hands": ["hands", 0],
            },  # fmt: skip
        },
    }


def test_hamer_hands_are_registered_onto_the_smplx_hands_and_drawn(comfy, pack, model, body_folder):
    motion = comfy.run({"motion": GVHMR}, targets=["motion"]).raise_error().output("motion")
    arrays = np.load(body_folder / "smplx" / "SMPLX_NEUTRAL.npz", allow_pickle=True)
    table = hand_correspondence({"weights": arrays["weights"]})
    pairs = ManoCorrespondence(torch.from_numpy(table["left_hand"]), torch.from_numpy(table["right_hand"]))
    write_hamer(Path(comfy.folder_paths.get_input_directory()) / "hamer_info.pkl", _hamer_like(model, motion, pairs))

    result = comfy.run(_hands_graph(), targets=["render"]).raise_error()
    assert result.outputs["hands"][1] == FRAMES
    hands = result.output("render", 1)
    # HaMeR's hands are similar copies of the SMPL-X hands: registered back, they draw the SMPL-X hands' pixels.
    mesh = mano_hand_mesh(model, pairs)
    hands_only = RenderOptions(backend="torch", smpl_cs=False, occlude_hands=False)
    smplx_hands = render_pose_conditions(model, motion, None, hands_only, HandGeometry(mesh)).hands
    drawn, own = hands.amax(-1) > 0, smplx_hands.amax(-1) > 0
    assert own.sum() > 20 and float((drawn & own).sum() / (drawn | own).sum()) > 0.85  # edge pixels may flip
    # Exactly what the core draws with the core's registration.
    registered = register_hamer_hands(model, motion, load_hamer(Path(comfy.folder_paths.get_input_directory())
                                      / "hamer_info.pkl"), pairs)  # fmt: skip
    expected = render_pose_conditions(model, motion, None, hands_only, HandGeometry(mesh, registered)).hands
    torch.testing.assert_close(hands, expected)

    # Trimmed like the motion: frames 1.. of a 3-frame dump against the 3-frame motion is a clear error.
    result = comfy.run(_hands_graph(start_frame=1), targets=["render"])
    assert isinstance(result.error, InputError) and "HaMeR data has 2 frames" in str(result.error)
    result = comfy.run(_hands_graph(start_frame=FRAMES), targets=["hands"])
    assert isinstance(result.error, InputError) and "past the end" in str(result.error)
    with pytest.raises(PromptValidationError, match="nothing.pkl"):  # the combo lists the input folder's files
        comfy.run(_hands_graph(path="nothing.pkl"), targets=["hands"])


def test_hamer_hands_without_the_correspondence_file_name_it(comfy, body_folder, model):
    install_body_folder(comfy.models_dir, body_folder, skip=(CORRESPONDENCE_FILE,))
    write_gvhmr(Path(comfy.folder_paths.get_input_directory()) / "hmr4d_results.pt", FRAMES, WIDTH, HEIGHT)
    vertices = np.zeros((778, 3), np.float32)
    write_hamer(Path(comfy.folder_paths.get_input_directory()) / "hamer_info.pkl", [(None, vertices)] * FRAMES)
    comfy.install_pack()
    result = comfy.run(_hands_graph(), targets=["render"])
    assert (result.status, result.error_node) == ("error", "render")
    assert isinstance(result.error, InputError) and CORRESPONDENCE_FILE in str(result.error)
