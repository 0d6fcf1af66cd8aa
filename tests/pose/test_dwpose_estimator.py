"""DWPose end to end on ONNX stand-ins: model files, wrong files, providers, frames -> POSE_KEYPOINT + skeleton."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from helpers import shared_data
from PIL import Image
from test_dwpose_graphs import (
    blob_detector,
    blob_pose_model,
    constant_detector,
    planted_pose_model,
    simcc_tables,
    yolox_raw_row,
)

from realisdance.errors import CheckpointError, InputError, RealisDanceError
from realisdance.pose.dwpose import (
    DETECTOR_FILE,
    POSE_FILE,
    DWPoseConfig,
    DWPoseEstimator,
    as_uint8_frames,
    choose_providers,
    crop_transform,
    find_dwpose_files,
)


@pytest.fixture(scope="module")
def blob_models(tmp_path_factory):
    """A models folder with the stand-ins in a dwpose/ subfolder, as a user would arrange it."""
    folder = tmp_path_factory.mktemp("models")
    blob_detector(folder / "dwpose" / DETECTOR_FILE)
    blob_pose_model(folder / "dwpose" / POSE_FILE)
    return folder


def rectangle_frame(width, height, x0, y0, x1, y1) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[y0:y1, x0:x1] = 255
    return frame


def corner_tolerance(box, zoom_padding=1.25) -> float:
    """One crop pixel in image pixels (the stand-in finds edges to the crop pixel), plus float slack."""
    transform = crop_transform(np.asarray(box, float), (288, 384), zoom_padding)
    return 1.0 / transform.zoom + 0.05


def test_frames_give_pixel_keypoints_of_the_rectangle_corners(blob_models):
    estimator = DWPoseEstimator.load(blob_models, DWPoseConfig(batch_size=2), providers=["CPUExecutionProvider"])
    boxes = [(100, 40, 180, 160), (30, 20, 90, 190), (200, 100, 310, 150)]
    video = torch.from_numpy(np.stack([rectangle_frame(320, 200, *box) for box in boxes])).float() / 255
    result = estimator.run(video)
    assert result.provider == "CPUExecutionProvider"
    assert len(result.pose_keypoint) == 3
    for frame, box, people in zip(result.pose_keypoint, boxes, result.people, strict=True):
        x0, y0, x1, y1 = box
        tolerance = corner_tolerance(box)
        (person,) = people
        np.testing.assert_allclose(person.box[:4], box, atol=1.0)
        # Pixel centres: the rectangle covers x0 .. x1 - 1, so its corners are half a pixel outside those.
        np.testing.assert_allclose(person.keypoints[:67], np.tile([x0 - 0.5, y0 - 0.5], (67, 1)), atol=tolerance)
        np.testing.assert_allclose(person.keypoints[67:], np.tile([x1 - 0.5, y1 - 0.5], (66, 1)), atol=tolerance)
        assert frame["canvas_width"] == 320 and frame["canvas_height"] == 200
        body = np.array(frame["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
        np.testing.assert_allclose(body[0, :2], [x0 - 0.5, y0 - 0.5], atol=tolerance)  # nose: COCO 0
        right_hand = np.array(frame["people"][0]["hand_right_keypoints_2d"]).reshape(21, 3)
        np.testing.assert_allclose(right_hand[:, :2], np.tile([x1 - 0.5, y1 - 0.5], (21, 1)), atol=tolerance)
    assert result.skeleton.shape == (3, 200, 320, 3)
    assert result.skeleton.sum() > 0


def test_no_person_gives_an_empty_people_list_and_a_black_frame(blob_models):
    estimator = DWPoseEstimator.load(blob_models)
    result = estimator.run(np.zeros((2, 48, 64, 3), np.uint8))
    assert result.pose_keypoint == [{"people": [], "canvas_width": 64, "canvas_height": 48}] * 2
    assert result.skeleton.shape == (2, 48, 64, 3) and result.skeleton.abs().sum() == 0
    with pytest.raises(InputError, match="no person"):
        estimator.reference_keypoints(np.zeros((48, 64, 3), np.uint8))


def test_progress_is_reported_per_batch_and_an_interrupt_propagates(blob_models):
    estimator = DWPoseEstimator.load(blob_models, DWPoseConfig(batch_size=2))
    frames = np.stack([rectangle_frame(64, 64, 10, 10, 40, 50)] * 5)
    calls = []
    estimator.estimate(frames, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]

    class Interrupted(Exception):
        pass

    def interrupt(done, total):
        calls.append((done, total))
        raise Interrupted

    calls.clear()
    with pytest.raises(Interrupted):
        estimator.run(frames, progress=interrupt)
    assert calls == [(2, 5)]


def test_several_people_keypoint_threshold_and_reference_person(tmp_path):
    """Constant detector (two people) + planted SimCC peaks: every crop decodes to the same crop pixels, so each
    person's keypoints are the planted crop positions mapped through that person's own box."""
    rows = {
        500: yolox_raw_row((20, 20, 120, 220), 500, person=0.9),  # letterbox pixels; frame ratio 2 -> /2
        7200: yolox_raw_row((300, 100, 340, 160), 7200, person=0.8),
    }
    constant_detector(tmp_path / DETECTOR_FILE, rows)
    rng = np.random.default_rng(3)
    x_bins, y_bins = rng.integers(0, 576, 133), rng.integers(0, 768, 133)
    heights = np.full(133, 0.8)
    heights[5], heights[91:112] = 0.2, 0.1  # left shoulder and left hand under the 0.3 threshold
    planted_pose_model(tmp_path / POSE_FILE, *simcc_tables(x_bins, y_bins, heights))
    estimator = DWPoseEstimator.load(tmp_path)
    frame = np.zeros((320, 320, 3), np.uint8)
    result = estimator.run(frame, draw=False)
    assert result.skeleton is None
    big, small = result.people[0]
    crop_points = np.stack([x_bins, y_bins], axis=1) / 2.0
    for person, box in ((big, (10, 10, 60, 110)), (small, (150, 50, 170, 80))):
        np.testing.assert_allclose(person.box[:4], box, atol=1e-3)
        transform = crop_transform(np.array(box, float), (288, 384), 1.25)
        # Independent inverse: image = centre + (crop - input centre) * region size / input size.
        expected = transform.center + (crop_points - [144, 192]) * transform.scale / [288, 384]
        np.testing.assert_allclose(person.keypoints, expected, atol=1e-3)
        np.testing.assert_allclose(person.scores, heights, atol=1e-6)
    people = result.pose_keypoint[0]["people"]
    assert len(people) == 2
    body = np.array(people[0]["pose_keypoints_2d"]).reshape(18, 3)
    assert body[5].tolist() == [0, 0, 0] and body[1].tolist() == [0, 0, 0]  # left shoulder gone, so is the neck
    assert body[2, 2] == 1.0
    assert set(people[0]["hand_left_keypoints_2d"]) == {0.0}
    reference = estimator.reference_keypoints(torch.zeros(1, 320, 320, 3))
    np.testing.assert_allclose(reference.box[:4], (10, 10, 60, 110), atol=1e-3)  # the larger person


def test_missing_files_say_which_file_to_download_and_where(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        find_dwpose_files(tmp_path / "nowhere")
    with pytest.raises(CheckpointError) as error:
        find_dwpose_files(tmp_path)
    message = str(error.value)
    assert DETECTOR_FILE in message and "huggingface.co/yzd-v/DWPose" in message and str(tmp_path) in message
    blob_detector(tmp_path / "yzd-v" / "DWPose" / DETECTOR_FILE)  # comfyui_controlnet_aux's cache layout
    with pytest.raises(CheckpointError, match=POSE_FILE):
        find_dwpose_files(tmp_path)
    blob_pose_model(tmp_path / POSE_FILE)
    files = find_dwpose_files(tmp_path)
    assert files.detector.parent.name == "DWPose" and files.pose.parent == tmp_path


def test_wrong_onnx_files_are_named_with_what_was_expected(tmp_path):
    detector = blob_detector(tmp_path / "det.onnx")
    pose = blob_pose_model(tmp_path / "pose.onnx")
    with pytest.raises(CheckpointError, match="not a YOLOX person detector.*pose model given as the detector"):
        DWPoseEstimator.from_files(pose, pose)
    with pytest.raises(CheckpointError, match="not a DWPose whole-body model.*'simcc_x'"):
        DWPoseEstimator.from_files(detector, detector)
    seventeen = planted_pose_model(tmp_path / "body17.onnx", *simcc_tables([1] * 17, [1] * 17, [1.0] * 17))
    with pytest.raises(CheckpointError, match="predicts 17 keypoints"):
        DWPoseEstimator.from_files(detector, seventeen)
    renamed = planted_pose_model(
        tmp_path / "renamed.onnx", *simcc_tables([1] * 133, [1] * 133, [1.0] * 133), names=("x", "y")
    )
    with pytest.raises(CheckpointError, match="not a DWPose whole-body model"):
        DWPoseEstimator.from_files(detector, renamed)
    short = planted_pose_model(tmp_path / "short.onnx", *simcc_tables([1] * 133, [1] * 133, [1.0] * 133, 500, 768))
    estimator = DWPoseEstimator.from_files(detector, short)
    with pytest.raises(CheckpointError, match="simcc_x"):
        estimator.run(rectangle_frame(64, 64, 10, 10, 40, 50))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(CheckpointError, match="could not be opened as the YOLOX person detector"):
        DWPoseEstimator.from_files(garbage, pose)


def test_provider_choice_prefers_cuda_only_when_available():
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    import onnxruntime

    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else None
    assert choose_providers()[0] == (expected or "CPUExecutionProvider")


def test_image_inputs_are_checked_and_converted():
    frames = as_uint8_frames(torch.tensor([[[[0.0, 0.5, 1.0]]]]))
    assert frames.dtype == np.uint8 and frames.tolist() == [[[[0, 128, 255]]]]
    assert as_uint8_frames(np.zeros((4, 5, 3), np.uint8)).shape == (1, 4, 5, 3)
    with pytest.raises(InputError, match="RGB images"):
        as_uint8_frames(torch.zeros(2, 4, 5, 4))
    with pytest.raises(InputError, match="RGB images"):
        as_uint8_frames(torch.zeros(0, 4, 5, 3))


def test_missing_onnxruntime_says_what_to_install(blob_models, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(RealisDanceError, match="pip install onnxruntime"):
        DWPoseEstimator.load(blob_models)


@pytest.mark.skipif(not os.environ.get("DWPOSE_MODEL_DIR"), reason="set DWPOSE_MODEL_DIR to the real DWPose files")
def test_real_models_find_the_dancer_in_the_demo_reference():
    image = np.asarray(Image.open(shared_data("realisdance-demo", "ref.png")).convert("RGB"))
    estimator = DWPoseEstimator.load(os.environ["DWPOSE_MODEL_DIR"])
    person = estimator.reference_keypoints(image)
    (frame,) = estimator.run(image, draw=False).pose_keypoint
    body = np.array(frame["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    assert body[[0, 1, 2, 5, 8, 11], 2].min() > 0  # nose, neck, shoulders and hips found
    assert body[0, 1] < body[1, 1] < body[8, 1]  # nose above neck above hip (image y grows downwards)
    assert person.box_area > 0.05 * image.shape[0] * image.shape[1]
