"""The pose nodes inside the ComfyUI double: body-model loading, GVHMR import, SMPL-CS and hand renders, errors,
progress and Cancel. Body models are the procedural SMPL-X / MANO files of tests/pose_assets.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from comfy_double import PromptValidationError  # noqa: E402
from comfy_double.latest_io import node_info
from pose_assets import RED, gvhmr_params, write_body_folder, write_gvhmr

from realisdance.errors import CheckpointError, InputError
from realisdance.pose import (
    MANOModel,
    RenderOptions,
    SMPLXParams,
    SMPLXSequence,
    estimate_intrinsics,
    load_smplx,
    pose_smplx,
    project_points,
    render_pose_conditions,
)

pytest_plugins = ["comfy_double.fixtures"]  # the `comfy` fixture

LOADER, GVHMR, RENDER = "RealisDanceBodyModelLoader", "RealisDanceLoadGVHMR", "RealisDanceRenderPose"
WIDTH, HEIGHT, FRAMES = 192, 256, 2


@pytest.fixture(scope="module")
def body_folder(tmp_path_factory) -> Path:
    """A complete body-model folder: procedural SMPL-X and MANO, a one-colour SMPL-CS table in the real format."""
    return write_body_folder(tmp_path_factory.mktemp("body_source"))


def _install_body(comfy, source: Path, name: str = "body_models", skip: tuple[str, ...] = ()) -> Path:
    target = comfy.model_dir("realisdance") / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*skip))
    return target


def _write_pred(path: Path, frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT) -> dict:
    return write_gvhmr(path, frames, width, height)


@pytest.fixture
def pack(comfy, body_folder):
    _install_body(comfy, body_folder)
    _write_pred(Path(comfy.folder_paths.get_input_directory()) / "hmr4d_results.pt")
    return comfy.install_pack()


# Widget values as an API-format prompt carries them (the host fills every widget; so do we, from the defaults).
LOADER_DEFAULTS = {"folder": "body_models", "gender": "neutral", "load_mano": False}
GVHMR_DEFAULTS = {
    "path": "hmr4d_results.pt",
    "width": 0,
    "height": 0,
    "fps": 30.0,
    "start_frame": 0,
    "frame_count": 0,
    "camera": "incam",
    "match_intrinsics": True,
}
RENDER_DEFAULTS = {"backend": "torch", "occlude_hands": True}


def _node(class_type, defaults, **inputs):
    return {"class_type": class_type, "inputs": {**defaults, **inputs}}


def _prompt(backend="torch", folder="body_models", **gvhmr):
    return {
        "1": _node(LOADER, LOADER_DEFAULTS, folder=folder),
        "2": _node(GVHMR, GVHMR_DEFAULTS, **gvhmr),
        "3": _node(RENDER, RENDER_DEFAULTS, body_model=["1", 0], motion=["2", 0], backend=backend),
    }


def _render(comfy, **kwargs):
    result = comfy.run(_prompt(**kwargs), targets=["3"]).raise_error()
    return result


def test_every_input_has_a_tooltip_and_the_sockets_are_typed(pack):
    for name, defaults in ((LOADER, LOADER_DEFAULTS), (GVHMR, GVHMR_DEFAULTS), (RENDER, RENDER_DEFAULTS)):
        info = node_info(pack.node(name))
        required = info["input"]["required"]
        widgets = {key: options["default"] for key, (_, options) in required.items() if "default" in options}
        expected = {k: v for k, v in defaults.items() if k != "path"}  # a file combo: no default
        assert widgets == ({**expected, "backend": "auto"} if name == RENDER else expected)
        for group in ("required", "optional"):
            for input_name, (_, options) in info["input"].get(group, {}).items():
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"
        assert info["category"].startswith("RealisDance")
    assert node_info(pack.node(LOADER))["output"] == ["REALISDANCE_BODY_MODEL"]
    assert node_info(pack.node(GVHMR))["output"] == ["REALISDANCE_SMPLX_SEQUENCE", "INT", "INT", "INT", "FLOAT"]
    render = node_info(pack.node(RENDER))
    assert render["output"] == ["IMAGE", "IMAGE"] and render["output_name"] == ["smpl_cs", "hands"]
    required = render["input"]["required"]
    assert required["body_model"][0] == "REALISDANCE_BODY_MODEL"
    assert required["motion"][0] == "REALISDANCE_SMPLX_SEQUENCE"
    assert required["backend"][1]["options"] == ["auto", "gl", "torch"] and required["backend"][1]["default"] == "auto"


def test_folder_choices_list_body_model_folders_only(comfy, body_folder):
    _install_body(comfy, body_folder, "my_bodies", skip=("mano", "smplx_color.pt"))
    release = comfy.model_dir("realisdance") / "SomeRelease" / "transformer"
    release.mkdir(parents=True)
    (release / "config.json").write_text("{}")
    pack = comfy.install_pack()
    options = node_info(pack.node(LOADER))["input"]["required"]["folder"][1]["options"]
    # The default is offered even before the files exist, so its error can say where they go.
    assert options == ["body_models", "my_bodies"]


def test_render_through_the_graph_matches_the_core_and_has_the_reference_colours(comfy, pack, body_folder):
    result = _render(comfy)
    smpl_cs, hands = result.output("3", 0), result.output("3", 1)
    assert smpl_cs.shape == hands.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert smpl_cs.dtype == hands.dtype == torch.float32 and smpl_cs.device.type == "cpu"
    assert result.outputs["2"][1:] == (WIDTH, HEIGHT, FRAMES, 30.0)

    # SMPL-CS: colour (1, 0, 0) * (0.4 + 0.3 max(0, n.l)) + 0.2 -> R in [0.6, 0.9], G = B = 0.2; black elsewhere.
    body = smpl_cs.amax(-1) > 0
    assert 0.05 < body.float().mean() < 0.6
    pixels = smpl_cs[body]
    assert pixels[:, 0].min() >= 0.6 - 1e-5 and pixels[:, 0].max() <= 0.9 + 1e-5
    torch.testing.assert_close(pixels[:, 1:], torch.full_like(pixels[:, 1:], 0.2))

    # Hands: the body's right hand is on the image's left (it faces the camera): pink there, green on the right.
    model = load_smplx(body_folder)
    params = SMPLXParams.from_mapping(gvhmr_params(FRAMES), hand_pose_pca=True, flat_hand_mean=False)
    joints = pose_smplx(model, params).joints[0]
    wrists = project_points(joints[[20, 21]], estimate_intrinsics(WIDTH, HEIGHT))  # left, right wrist
    assert wrists[1, 0] < WIDTH / 2 < wrists[0, 0]
    frame = hands[0]
    covered = frame.amax(-1) > 0
    assert covered.sum() > 20
    columns = torch.arange(WIDTH).expand(HEIGHT, WIDTH)
    right_hand, left_hand = frame[covered & (columns < WIDTH / 2)], frame[covered & (columns >= WIDTH / 2)]
    assert len(right_hand) and len(left_hand)
    assert (right_hand[:, 0] > right_hand[:, 1]).all() and (right_hand[:, 1] == right_hand[:, 2]).all()
    assert (left_hand[:, 1] > left_hand[:, 0]).all() and (left_hand[:, 0] == left_hand[:, 2]).all()
    # Every hand pixel lies where the body is (the hands are part of the body mesh).
    assert body[0][covered].all()

    # The node adds nothing to the core render.
    sequence = SMPLXSequence(params, estimate_intrinsics(WIDTH, HEIGHT)[None].repeat(FRAMES, 1, 1), WIDTH, HEIGHT)
    expected = render_pose_conditions(
        model, sequence, torch.tensor([RED]).repeat(10475, 1), RenderOptions(backend="torch")
    )
    torch.testing.assert_close(smpl_cs, expected.smpl_cs)
    torch.testing.assert_close(hands, expected.hands)

    assert not torch.equal(smpl_cs[0], smpl_cs[-1])  # the left arm rises over the motion

    # Progress: one event per frame for the render node, ending at the frame count.
    events = [(e.value, e.total) for e in comfy.progress_events if e.node_id == "3"]
    assert events == [(i, FRAMES) for i in range(1, FRAMES + 1)]


def test_gvhmr_node_sizes_frames_and_paths(comfy, pack):
    input_dir = Path(comfy.folder_paths.get_input_directory())
    pred = _write_pred(input_dir / "elsewhere.pt", frames=5)

    def run(**inputs):
        prompt = {"2": _node(GVHMR, GVHMR_DEFAULTS, path="elsewhere.pt", **inputs)}
        return comfy.run(prompt, targets=["2"])

    result = run(width=96, height=128, fps=25.0, start_frame=1, frame_count=3).raise_error()
    motion = result.output("2", 0)
    assert result.outputs["2"][1:] == (96, 128, 3, 25.0)
    assert isinstance(motion, SMPLXSequence) and motion.fps == 25.0
    # The video was halved after GVHMR ran: same camera, K halved; frames 1..3 kept.
    torch.testing.assert_close(motion.intrinsics[0], estimate_intrinsics(WIDTH, HEIGHT) * torch.tensor(
        [[0.5], [0.5], [1.0]]))  # fmt: skip
    torch.testing.assert_close(motion.params.body_pose, pred["smpl_params_incam"]["body_pose"][1:4])

    motion = run(camera="global").raise_error().output("2", 0)
    assert motion.num_frames == 5 and motion.params.transl.abs().max() == 0

    for inputs, error, words in [
        ({"width": 96}, InputError, "both width and height"),
        ({"start_frame": 5}, InputError, "past the end"),
        ({"width": 100, "height": 100}, InputError, "aspect ratio"),
    ]:
        result = run(**inputs)
        assert result.status == "error" and isinstance(result.error, error) and words in str(result.error)

    with pytest.raises(PromptValidationError, match="value_not_in_list"):  # only files of the input folder
        comfy.run({"2": _node(GVHMR, GVHMR_DEFAULTS, path="missing/pred.pt")}, targets=["2"])


def test_missing_body_model_names_the_file_and_where_to_put_it(comfy):
    pack = comfy.install_pack()
    result = comfy.run({"1": _node(LOADER, LOADER_DEFAULTS)}, targets=["1"])
    assert (result.status, result.error_node) == ("error", "1") and isinstance(result.error, CheckpointError)
    expected = comfy.models_dir / "realisdance" / "body_models" / "smplx" / "SMPLX_NEUTRAL.npz"
    assert str(expected) in str(result.error) and "smpl-x.is.tue.mpg.de" in str(result.error)
    assert pack.node(LOADER)  # the pack loaded fine without any body model


def test_missing_colour_table_fails_only_the_render_and_says_which_file(comfy, body_folder):
    _install_body(comfy, body_folder, skip=("smplx_color.pt",))
    _write_pred(Path(comfy.folder_paths.get_input_directory()) / "hmr4d_results.pt")
    comfy.install_pack()
    result = comfy.run(_prompt(), targets=["3"])
    assert result.outputs["1"][0].colours is None  # loading still worked (shape fitting needs no colours)
    assert (result.status, result.error_node) == ("error", "3") and isinstance(result.error, CheckpointError)
    assert "smplx_color.pt" in str(result.error) and "Uni3C" in str(result.error)


def test_mano_loads_on_request_and_its_absence_is_named(comfy, body_folder):
    _install_body(comfy, body_folder)
    _install_body(comfy, body_folder, "no_hands", skip=("mano",))
    comfy.install_pack()

    def load(folder):
        prompt = {"1": _node(LOADER, LOADER_DEFAULTS, folder=folder, load_mano=True)}
        return comfy.run(prompt, targets=["1"])

    bodies = load("body_models").raise_error().output("1")
    assert isinstance(bodies.mano_right, MANOModel) and bodies.mano_right.is_right and not bodies.mano_left.is_right
    result = load("no_hands")
    assert isinstance(result.error, CheckpointError) and "MANO_RIGHT.pkl" in str(result.error)


def test_cancel_during_the_render_stops_it_and_a_rerun_works(comfy, pack):
    seen = []

    def hook(value, total, preview, node_id=None):
        seen.append((node_id, value))
        if value == 1:
            comfy.interrupt()

    comfy.utils.set_progress_bar_global_hook(hook)
    small = {"width": WIDTH // 2, "height": HEIGHT // 2}  # the same camera at half size: a cheaper render
    result = comfy.run(_prompt(**small), targets=["3"])
    # The node checks Cancel itself on every frame (this hook, unlike main.py's, never does).
    assert (result.status, result.error_node, seen) == ("interrupted", "3", [(None, 1)])
    comfy.utils.set_progress_bar_global_hook(None)
    assert _render(comfy, **small).output("3", 0).shape == (FRAMES, HEIGHT // 2, WIDTH // 2, 3)


def test_gl_and_auto_backends_agree_with_torch(comfy, pack):
    pytest.importorskip("moderngl")
    from realisdance.pose import get_backend

    try:
        get_backend("gl")
    except InputError as exc:
        pytest.skip(f"no OpenGL context here: {exc}")
    assert get_backend("auto").name == "gl"  # what the node's default picks where a GL context exists
    reference = _render(comfy, backend="torch").outputs["3"]
    # Pixels whose colour differs lie on edges (GL snaps vertices to 1/256 px); the hands are ~250 pixels here,
    # so their edges are a larger share.
    rendered = _render(comfy, backend="auto").outputs["3"]
    for image, oracle, edge_share in zip(rendered, reference, (0.02, 0.15), strict=True):
        a, b = image.amax(-1) > 0, oracle.amax(-1) > 0
        assert float((a & b).sum() / (a | b).sum()) > 0.98
        both = a & b
        assert ((image[both] - oracle[both]).abs().amax(-1) > 0.02).float().mean() < edge_share


def test_pose_nodes_are_registered_with_the_pack(pack):
    module = sys.modules[f"{pack.module_name}.nodes.pose"]
    names = {cls.GET_SCHEMA().node_id for cls in module.NODES}
    assert {LOADER, GVHMR, RENDER} <= names
    assert all(name.startswith("RealisDance") for name in names)


WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "api" / "pose_gvhmr_to_video"


def test_bundled_pose_workflow_is_the_shape_aligned_chain():
    """Reference -> DWPose -> Fit Shape (initial pose: the motion) -> Transfer -> Smooth -> Render -> To Video.
    (tests/test_workflows.py executes it on the stand-ins and checks its UI twin.)"""
    import json

    api = json.loads(WORKFLOW.with_suffix(".api.json").read_text(encoding="utf-8"))
    by_class = {node["class_type"]: (node_id, node["inputs"]) for node_id, node in api.items()}

    def source(class_type, name):
        origin = by_class[class_type][1][name]
        return api[origin[0]]["class_type"], origin[1]

    assert api[by_class["RealisDanceDWPose"][1]["images"][0]]["_meta"]["title"] == "Reference image"
    assert source("RealisDanceFitShape", "keypoints") == ("RealisDanceDWPose", 0)
    assert source("RealisDanceFitShape", "image") == ("LoadImage", 0)
    assert source("RealisDanceFitShape", "initial_motion") == ("RealisDanceLoadGVHMR", 0)
    assert source("RealisDanceTransferShape", "shape") == ("RealisDanceFitShape", 0)
    assert source("RealisDanceTransferShape", "motion") == ("RealisDanceLoadGVHMR", 0)
    assert source("RealisDanceSmoothMotion", "motion") == ("RealisDanceTransferShape", 0)
    assert source("RealisDanceRenderPose", "motion") == ("RealisDanceSmoothMotion", 0)
    assert source("RealisDanceToVideo", "smpl") == ("RealisDanceRenderPose", 0)
    assert source("RealisDanceToVideo", "hamer") == ("RealisDanceRenderPose", 1)
    assert source("RealisDanceToVideo", "pose_fps") == ("RealisDanceLoadGVHMR", 4)
    ui_path = Path(__file__).resolve().parents[1] / "example_workflows" / "pose_gvhmr_to_video.json"
    ui = json.loads(ui_path.read_text(encoding="utf-8"))
    notes = " ".join(n["widgets_values"][0] for n in ui["nodes"] if n["type"] == "Note")
    for words in ("SMPLX_NEUTRAL.npz", "smplx_color.pt", "yolox_l.onnx", "dw-ll_ucoco_384.onnx", "hmr4d_results.pt",
                  "models/realisdance/dwpose/", "onnxruntime", "MANO_SMPLX_vertex_ids.pkl"):  # fmt: skip
        assert words in notes, words


def test_gl_reads_back_only_the_mesh_box_and_still_handles_the_edge_cases():
    """The GL backend clears and reads back only the projected mesh's pixel box (its speed-up on software GL)."""
    pytest.importorskip("moderngl")
    from realisdance.pose import TorchRasterizer, get_backend

    try:
        gl = get_backend("gl")
    except InputError as exc:
        pytest.skip(f"no OpenGL context here: {exc}")
    k = torch.tensor([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
    faces = torch.tensor([[0, 1, 2]])

    def triangle(pixels, depth):
        pixels, depth = torch.tensor(pixels), torch.tensor(depth)
        return torch.cat([(pixels - k[:2, 2]) / 100.0 * depth[:, None], depth[:, None]], dim=-1)

    # Partly outside the image (the box is clipped to it): same pixels as the oracle, edges aside.
    vertices = triangle([[-20.0, -10.0], [50.3, 10.1], [20.6, 70.4]], [2.0, 3.0, 4.0])
    ours = gl.rasterize(vertices, faces, vertices.clone(), k, 64, 48)
    oracle = TorchRasterizer().rasterize(vertices, faces, vertices.clone(), k, 64, 48)
    assert ours.attributes.shape == (48, 64, 3) and int((ours.mask ^ oracle.mask).sum()) <= 3
    # A second, smaller draw reuses the readback buffer: nothing of the first one may leak into it.
    small = triangle([[5.2, 3.7], [12.3, 4.1], [8.6, 11.4]], [2.0, 2.0, 2.0])
    again = gl.rasterize(small, faces, small.clone(), k, 64, 48)
    assert again.mask.sum() == TorchRasterizer().rasterize(small, faces, small.clone(), k, 64, 48).mask.sum()
    assert not again.mask[20:].any() and again.attributes[~again.mask].abs().max() == 0
    # Entirely off screen: an empty image, without drawing.
    away = triangle([[100.0, 100.0], [120.0, 100.0], [110.0, 120.0]], [2.0, 2.0, 2.0])
    empty = gl.rasterize(away, faces, away.clone(), k, 64, 48)
    assert not empty.mask.any() and torch.isinf(empty.depth).all()
    # A vertex behind the camera: GL clips the triangle, so the whole frame is read back (pixels beyond the
    # projected box of the visible vertices are covered).
    behind = torch.tensor([[-0.3, -0.2, 2.0], [0.3, -0.2, 2.0], [0.0, 0.5, -1.0]])
    clipped = gl.rasterize(behind, faces, behind.clone(), k, 64, 48)
    assert clipped.mask.any() and torch.isfinite(clipped.depth[clipped.mask]).all()
