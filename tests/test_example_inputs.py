"""The templates' example inputs: the pack writes them into ComfyUI's input folder once, so the reference templates
open with every media choice filled and run as they are (81 frames at the release's 16 fps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realisdance.pipeline.preprocess import DEFAULT_NUM_FRAMES, TARGET_FPS
from realisdance.video import probe_video

pytest_plugins = ["comfy_double.fixtures"]

REPO = Path(__file__).resolve().parents[1]
READY = ["reference_pose_to_video", "reference_pose_to_video_fast"]  # no licensed or user-made file needed


def _examples(comfy):
    import sys

    pack = comfy.install_pack()
    return pack, sys.modules[f"{pack.module_name}.nodes.examples"]


@pytest.mark.parametrize("name", READY)
def test_a_fresh_host_offers_every_media_file_the_template_names(comfy, name):
    pack, examples = _examples(comfy)
    prompt = json.loads((REPO / "workflows" / "api" / f"{name}.api.json").read_text())
    classes = comfy.nodes.NODE_CLASS_MAPPINGS
    media = [(n["class_type"], key, value) for n in prompt.values() for key, value in n["inputs"].items()
             if n["class_type"] in ("LoadImage", "LoadVideo") and isinstance(value, str)]  # fmt: skip
    assert len(media) == 3
    for class_type, key, value in media:
        (option,) = [i for i in classes[class_type].GET_SCHEMA().inputs if i.id == key]
        assert value in option.options, (value, option.options)
    smpl = probe_video(Path(comfy.base_dir) / "input" / examples.EXAMPLE_NAMES["smpl"])
    # long enough for the release's clip once resampled to 16 fps
    assert smpl.frame_count / smpl.fps * TARGET_FPS >= DEFAULT_NUM_FRAMES


def test_examples_are_written_once_and_a_deleted_one_stays_deleted(comfy, caplog):
    _, examples = _examples(comfy)
    folder = Path(comfy.base_dir) / "input"
    ref = folder / examples.EXAMPLE_NAMES["ref"]
    assert ref.is_file() and (folder / examples.MARKER).is_file()
    ref.unlink()
    assert examples.place_example_inputs(folder) == [] and not ref.exists()

    not_a_folder = folder / "not_a_folder"  # an input folder that cannot be written (even by root)
    not_a_folder.write_text("")
    assert examples.place_example_inputs(not_a_folder) == []
    assert "could not write the templates' example inputs" in caplog.text
