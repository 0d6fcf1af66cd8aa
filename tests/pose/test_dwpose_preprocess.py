"""Letterbox, crop affine, normalisation and SimCC decoding of the DWPose front end."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realisdance.pose.dwpose import crop_transform, decode_simcc, letterbox, pose_input
from realisdance.pose.dwpose.config import POSE_MEAN_RGB, POSE_STD_RGB


def test_letterbox_scales_to_fit_places_top_left_pads_grey_and_feeds_bgr():
    image = np.zeros((200, 320, 3), dtype=np.uint8)
    image[..., 0] = 200  # a red frame: R=200, G=0, B=30
    image[..., 2] = 30
    tensor, ratio = letterbox(image, (640, 640), "bgr")
    assert ratio == pytest.approx(2.0)
    assert tensor.shape == (3, 640, 640) and tensor.dtype == np.float32
    # The 320x200 frame becomes 640x400 in the top rows; the rest is grey 114 (unnormalised values).
    np.testing.assert_array_equal(
        tensor[:, :400, :], np.array([30, 0, 200], np.float32)[:, None, None].repeat(400, 1).repeat(640, 2)
    )
    assert np.all(tensor[:, 400:, :] == 114)
    rgb, _ = letterbox(image, (640, 640), "rgb")
    assert rgb[0, 0, 0] == 200 and rgb[2, 0, 0] == 30


def test_letterbox_of_a_portrait_frame_pads_on_the_right():
    image = np.full((300, 100, 3), 255, dtype=np.uint8)
    tensor, ratio = letterbox(image, (640, 640), "bgr")
    assert ratio == pytest.approx(640 / 300)
    width = int(100 * ratio)
    assert np.all(tensor[:, :, :width] == 255) and np.all(tensor[:, :, width:] == 114)


def test_crop_transform_pads_the_box_and_fixes_the_aspect():
    tall = crop_transform(np.array([100, 40, 180, 160]), (288, 384), padding=1.25)
    np.testing.assert_allclose(tall.center, [140, 100])
    np.testing.assert_allclose(tall.scale, [150 * 0.75, 150])  # height 120 * 1.25 = 150 rules; width follows
    wide = crop_transform(np.array([0, 0, 300, 60]), (288, 384), padding=1.25)
    np.testing.assert_allclose(wide.scale, [375, 500])  # width 375 rules; height = 375 / 0.75


def test_crop_affine_matches_the_three_point_construction_and_inverts():
    """Parity with the reference construction: box centre -> input centre, centre + (0, -w/2) -> + (0, -W/2)."""
    transform = crop_transform(np.array([37.0, 12.5, 141.0, 230.0]), (288, 384), padding=1.25)
    cx, cy = transform.center
    half = transform.scale[0] / 2
    src = np.float32([[cx, cy], [cx, cy - half], [cx - half, cy - half]])  # 3rd point: rotate (a - b) by 90 deg
    dst = np.float32([[144, 192], [144, 192 - 144], [0, 192 - 144]])  # dst direction (0, -W/2)
    np.testing.assert_allclose(transform.matrix(), cv2.getAffineTransform(src, dst), atol=1e-4)
    points = np.random.default_rng(0).uniform(-50, 400, size=(20, 2))
    into_input = points @ transform.matrix()[:, :2].T + transform.matrix()[:, 2]
    np.testing.assert_allclose(transform.to_image(into_input), points, atol=1e-9)


def test_pose_input_warps_the_box_to_the_centre_and_normalises_rgb():
    image = np.zeros((200, 320, 3), dtype=np.uint8)
    image[40:160, 100:180] = (10, 120, 250)
    transform = crop_transform(np.array([100, 40, 180, 160]), (288, 384), padding=1.25)
    crop = pose_input(image, transform, "rgb")
    assert crop.shape == (3, 384, 288)
    expected = (np.array([10, 120, 250]) - np.array(POSE_MEAN_RGB)) / np.array(POSE_STD_RGB)
    np.testing.assert_allclose(crop[:, 192, 144], expected, rtol=1e-5)  # box centre -> input centre
    black = -np.array(POSE_MEAN_RGB) / np.array(POSE_STD_RGB)
    np.testing.assert_allclose(crop[:, 5, 5], black, rtol=1e-5)  # padding around the box is outside it
    bgr = pose_input(image, transform, "bgr")
    assert bgr[0, 192, 144] == pytest.approx((250 - POSE_MEAN_RGB[0]) / POSE_STD_RGB[0], rel=1e-5)


def test_simcc_decoding_halves_the_bins_and_scores_by_the_weaker_axis():
    simcc_x = np.zeros((2, 3, 576), np.float32)
    simcc_y = np.zeros((2, 3, 768), np.float32)
    simcc_x[0, 0, 101], simcc_y[0, 0, 700] = 0.9, 0.5
    simcc_x[0, 1, 0], simcc_y[0, 1, 767] = 0.4, 0.8
    simcc_x[1, 2, 575], simcc_y[1, 2, 1] = 2.0, 3.0  # DW-LL scores are not capped at 1
    simcc_x[1, 0] = -1.0  # nothing positive on x: absent
    keypoints, scores = decode_simcc(simcc_x, simcc_y, 2.0)
    np.testing.assert_allclose(keypoints[0, 0], [50.5, 350.0])
    np.testing.assert_allclose(keypoints[0, 1], [0.0, 383.5])
    np.testing.assert_allclose(keypoints[1, 2], [287.5, 0.5])
    np.testing.assert_allclose(scores[0, :2], [0.5, 0.4])
    assert scores[1, 2] == pytest.approx(2.0)
    np.testing.assert_allclose(keypoints[1, 0], [-1, -1])
    assert scores[1, 0] <= 0
