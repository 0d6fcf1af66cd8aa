"""What a prompt may make the pack read (issue: node file inputs stay inside ComfyUI's folders).

Every file-taking node is tried with absolute paths, ``..`` traversal and a symlink out of the input folder, both
through validation (the combos list only the input folder's files) and straight through ``execute`` (what a host
that does not check combo values, such as 0.3.64, would run). Refusals are one sentence that never echoes the file's
contents nor says whether the file exists; the server owner's opt-in (``REALISDANCE_ALLOWED_ROOTS``) lets a listed
folder through; annotated names ("x.pt [output]") work as in the host.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from comfy_double import PromptValidationError
from pose_assets import write_gvhmr, write_hamer

from realisdance.errors import CheckpointError, InputError
from realisdance.safe_paths import ALLOWED_ROOTS_ENV, resolve_user_file, user_files

pytest_plugins = ["comfy_double.fixtures"]

SECRET = "TOP-SECRET-CONTENT-1234"
GVHMR = "RealisDanceLoadGVHMR"
HAMER = "RealisDanceLoadHaMeR"
GVHMR_INPUTS = {"width": 0, "height": 0, "fps": 30.0, "start_frame": 0, "frame_count": 0, "camera": "incam",
                "match_intrinsics": True}  # fmt: skip
FILE_NODES = {GVHMR: ("path", GVHMR_INPUTS), HAMER: ("path", {"start_frame": 0, "frame_count": 0})}


@pytest.fixture
def outside(tmp_path) -> Path:
    """A readable file outside every ComfyUI folder, in the formats the nodes read."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    write_gvhmr(folder / "secret.pt", 3, 64, 80)
    write_hamer(folder / "secret.pkl", [(None, None)] * 3)
    (folder / "passwd").write_text(SECRET)
    return folder


@pytest.fixture
def pack(comfy, outside):
    input_dir = Path(comfy.folder_paths.get_input_directory())
    (input_dir / "link.pt").symlink_to(outside / "secret.pt")  # a link out of the input folder
    write_gvhmr(input_dir / "sub" / "ok.pt", 3, 64, 80)
    return comfy.install_pack()


def _names(outside: Path, input_dir: Path) -> list[str]:
    return [
        str(outside / "secret.pt"),
        str(outside / "passwd"),
        "/etc/passwd",
        "../" * 12 + "etc/passwd",
        str(Path("..") / ".." / outside.name / "secret.pt"),
        "sub/../../" + outside.name + "/secret.pt",
        "link.pt",
        "~/.ssh/id_rsa",
    ]


@pytest.mark.parametrize("node", sorted(FILE_NODES))
def test_paths_outside_the_input_folder_fail_validation(comfy, pack, outside, node):
    name, widgets = FILE_NODES[node]
    for value in _names(outside, Path(comfy.folder_paths.get_input_directory())):
        with pytest.raises(PromptValidationError, match="value_not_in_list"):
            comfy.run({"1": {"class_type": node, "inputs": {name: value, **widgets}}}, targets=["1"])


@pytest.mark.parametrize("node", sorted(FILE_NODES))
def test_paths_outside_the_input_folder_are_refused_when_executed_directly(comfy, pack, outside, node):
    """A host that does not check combo values still never reads them, and says nothing about them."""
    name, widgets = FILE_NODES[node]
    cls = pack.node(node)
    for value in _names(outside, Path(comfy.folder_paths.get_input_directory())):
        with pytest.raises(InputError) as refused:
            cls.execute(**{name: value, **widgets})
        message = str(refused.value)
        assert "outside ComfyUI's input folder" in message and ALLOWED_ROOTS_ENV in message, message
        assert SECRET not in message and "\n" not in message and "not found" not in message


def test_the_combos_list_only_files_inside_the_input_folder(comfy, pack):
    from comfy_double.latest_io import node_info

    options = node_info(pack.node(GVHMR))["input"]["required"]["path"][1]["options"]
    assert options == ["sub/ok.pt"]  # the link out of the folder is not offered


def test_files_inside_the_input_folder_and_annotated_names_load(comfy, pack):
    result = comfy.run({"1": {"class_type": GVHMR, "inputs": {"path": "sub/ok.pt", **GVHMR_INPUTS}}}, targets=["1"])
    assert result.raise_error().outputs["1"][3] == 3  # frames
    output = Path(comfy.folder_paths.get_output_directory())
    write_gvhmr(output / "made.pt", 4, 64, 80)
    motion = pack.node(GVHMR).execute(path="made.pt [output]", **GVHMR_INPUTS)
    assert motion.args[3] == 4


def test_the_server_owner_can_allow_another_folder(comfy, pack, outside, monkeypatch):
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, str(outside))
    motion = pack.node(GVHMR).execute(path=str(outside / "secret.pt"), **GVHMR_INPUTS)
    assert motion.args[3] == 3
    with pytest.raises(InputError, match="outside ComfyUI's input folder"):  # still only that folder
        pack.node(GVHMR).execute(path="/etc/passwd", **GVHMR_INPUTS)


def test_a_body_model_folder_name_cannot_climb_out_of_the_models_folder(comfy, pack):
    loader = pack.node("RealisDanceBodyModelLoader")
    for name in ("../../..", "/etc", "body_models/../../.."):
        with pytest.raises(CheckpointError, match="not a folder name"):
            loader.execute(folder=name, gender="neutral", load_mano=False)


def test_the_core_rule(tmp_path, monkeypatch):
    base = tmp_path / "input"
    (base / "a").mkdir(parents=True)
    (base / "a" / "x.pt").write_bytes(b"x")
    (tmp_path / "y.pt").write_bytes(b"y")
    (base / "up.pt").symlink_to(tmp_path / "y.pt")
    assert resolve_user_file("a/x.pt", base, "test") == (base / "a" / "x.pt").resolve()
    assert user_files(base, (".pt",)) == ["a/x.pt"]
    for name in ("../y.pt", str(tmp_path / "y.pt"), "up.pt", "a/../../y.pt"):
        with pytest.raises(InputError, match="outside"):
            resolve_user_file(name, base, "test")
    with pytest.raises(InputError, match="not found"):
        resolve_user_file("a/none.pt", base, "test")
    with pytest.raises(InputError, match="no test file chosen"):
        resolve_user_file("  ", base, "test")
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, str(tmp_path))
    assert resolve_user_file("../y.pt", base, "test") == (tmp_path / "y.pt").resolve()


def test_a_huge_reference_image_is_refused_from_its_header(tmp_path):
    """A 20000 x 20000 PNG: one sentence, before any decoding (PIL's DecompressionBombError never surfaces)."""
    import struct
    import time
    import zlib

    from realisdance.pipeline.preprocess import load_reference_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = tmp_path / "huge.png"  # a valid header, and an image body that would take minutes to inflate
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    started = time.perf_counter()
    with pytest.raises(InputError) as refused:
        load_reference_image(path)
    message = str(refused.value)
    assert "megapixels" in message and "scale it down" in message and "\n" not in message, message
    assert time.perf_counter() - started < 5


def test_16_bit_grey_references_are_scaled_not_clipped_to_white(tmp_path):
    import numpy as np
    from PIL import Image

    from realisdance.pipeline.preprocess import load_reference_image

    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    reference = load_reference_image(tmp_path / "grey16.png")  # (3, H, W) in [-1, 1]
    assert reference.shape == (3, 32, 64)
    assert abs(float(reference.mean())) < 0.05  # a full ramp averages to mid-grey, not to white
    assert float(reference.min()) == -1.0 and float(reference.max()) == 1.0


def test_a_large_reference_under_pils_guard_is_refused_with_its_size(tmp_path):
    from PIL import Image

    from realisdance.pipeline.preprocess import MAX_REFERENCE_PIXELS, load_reference_image

    side = int(MAX_REFERENCE_PIXELS**0.5) + 64  # past our limit, under PIL's bomb guard
    Image.new("L", (side, side)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match=f"{side}x{side} pixels"):
        load_reference_image(tmp_path / "big.png")


def test_files_holding_code_are_refused_in_one_sentence_that_never_suggests_unsafe_loading(tmp_path):
    """torch's own refusal is multi-sentence and suggests weights_only=False; ours names the object and the fix."""
    import os
    import pickle

    import torch

    from realisdance.latents_file import load_latents
    from realisdance.pose import load_hamer
    from realisdance.pose.gvhmr import load_gvhmr

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo never",))

    torch.save({"smpl_params_incam": Payload()}, tmp_path / "evil.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"vertices": Payload()}))
    for load, path in (
        (load_gvhmr, "evil.pt"),
        (load_hamer, "evil.pt"),
        (load_hamer, "evil.pkl"),
        (load_latents, "evil.pt"),
    ):
        with pytest.raises(InputError) as refused:
            load(tmp_path / path)
        message = str(refused.value)
        assert "\n" not in message and "weights_only" not in message and "truncated" not in message.split("holds")[0]
        if load is not load_latents:
            assert "system, which is not plain data" in message, message
