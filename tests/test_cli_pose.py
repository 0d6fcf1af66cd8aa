"""``realisdance pose`` and ``animate --video``: a plain driving video to the condition videos (and on to a video).

The DWPose stand-ins of tests/pose_assets.py load and run as the real pair would, but draw corners of a bright box,
which no body fits; the estimator's keypoints are therefore replaced by the projected landmarks of a known motion
of the procedural body (the DWPose step itself is tested in tests/pose/test_dwpose_*.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pose_assets import write_body_folder, write_dwpose_models, write_gvhmr, write_hamer
from pose_motion_clips import arm_wave_pose_keypoint

from realisdance import cli
from realisdance.pose import from_video, load_smplx
from realisdance.pose.dwpose import DWPoseEstimator
from realisdance.pose.dwpose.estimator import DWPoseResult
from realisdance.tiny import build_tiny_release
from realisdance.video import probe_video, read_video, write_video

WIDTH, HEIGHT, FRAMES = 96, 128, 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pose_cli")
    body = write_body_folder(root / "body_models")
    write_dwpose_models(root)
    video = root / "dance.mp4"
    write_video(video, np.random.default_rng(0).integers(0, 255, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8), fps=24)
    return {"body": body, "dwpose": root / "dwpose", "video": video, "root": root}


@pytest.fixture
def known_keypoints(files, monkeypatch):
    frames = arm_wave_pose_keypoint(load_smplx(files["body"]), FRAMES, WIDTH, HEIGHT)

    def run(self, images, draw=True, progress=None):
        assert len(images) == FRAMES  # the real estimator is loaded and handed the video's frames
        return DWPoseResult(people=[], pose_keypoint=frames, skeleton=None, provider=self.provider)

    monkeypatch.setattr(DWPoseEstimator, "run", run)
    # The reference's shape fit runs DWPose on the reference image: there the first frame's keypoints stand in.
    monkeypatch.setattr(DWPoseEstimator, "reference_keypoints", lambda self, image: "main person")
    monkeypatch.setattr(from_video, "pose_keypoint_video", lambda people, *args: frames[:1])


def test_pose_writes_both_condition_videos_and_the_qc_preview(files, known_keypoints, tmp_path, capsys):
    out = tmp_path / "pose"
    args = ["pose", "--video", str(files["video"]), "--body-models", str(files["body"]), "--dwpose",
            str(files["dwpose"]), "--out", str(out), "--fit-iterations", "40"]  # fmt: skip
    assert cli.main(args) == 0
    for name in ("smpl.mp4", "hamer.mp4", "qc.mp4"):
        info = probe_video(out / name)
        assert (info.frame_count, info.width, info.height, info.fps) == (FRAMES, WIDTH, HEIGHT, 24), name
    printed = capsys.readouterr().out
    assert "motion fit: mean keypoint error" in printed and "no --ref" in printed


def test_animate_from_a_plain_video_makes_the_pose_videos_first(files, known_keypoints, tmp_path, capsys):
    release = build_tiny_release(tmp_path / "release")
    ref = files["root"] / "ref.png"
    Image.fromarray(np.full((80, 60, 3), 200, dtype=np.uint8)).save(ref)
    out = tmp_path / "dance.mp4"
    args = ["animate", "--model", str(release), "--ref", str(ref), "--video", str(files["video"]), "--out", str(out),
            "--body-models", str(files["body"]), "--dwpose", str(files["dwpose"]), "--fit-iterations", "20",
            "--frames", "5", "--max-area", str(64 * 96), "--steps", "2", "--device", "cpu"]  # fmt: skip

    assert cli.main([*args, "--steps", "0"]) == 2  # numbers are checked before minutes of pose fitting
    assert "steps" in capsys.readouterr().err and not (tmp_path / "dance.mp4.pose" / "smpl.mp4").exists()
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "rendered with the reference's body shape" in printed
    assert probe_video(tmp_path / "dance.mp4.pose" / "smpl.mp4").frame_count == FRAMES
    assert probe_video(out).frame_count == 5


def test_a_gvhmr_result_of_the_same_video_starts_the_fit(files, known_keypoints, tmp_path, capsys):
    gvhmr = tmp_path / "hmr4d_results.pt"
    write_gvhmr(gvhmr, FRAMES, WIDTH, HEIGHT)
    base = ["pose", "--video", str(files["video"]), "--body-models", str(files["body"]), "--dwpose",
            str(files["dwpose"]), "--fit-iterations", "20"]  # fmt: skip
    assert cli.main([*base, "--out", str(tmp_path / "a"), "--gvhmr", str(gvhmr)]) == 0
    assert probe_video(tmp_path / "a" / "smpl.mp4").frame_count == FRAMES
    other = tmp_path / "other.pt"
    write_gvhmr(other, FRAMES + 2, WIDTH, HEIGHT)
    assert cli.main([*base, "--out", str(tmp_path / "b"), "--gvhmr", str(other)]) == 2
    assert f"initial motion has {FRAMES + 2} frames" in capsys.readouterr().err


def test_hamer_results_take_precedence_over_the_fitted_hands(files, known_keypoints, tmp_path):
    base = ["pose", "--video", str(files["video"]), "--body-models", str(files["body"]), "--dwpose",
            str(files["dwpose"]), "--fit-iterations", "20"]  # fmt: skip
    assert cli.main([*base, "--out", str(tmp_path / "fitted")]) == 0
    # HaMeR "found" two hands of another shape in every frame: they are registered onto the fitted hands and drawn.
    rng = np.random.default_rng(1)
    hands = [(rng.normal(0, 0.03, (778, 3)), rng.normal(0, 0.03, (778, 3))) for _ in range(FRAMES)]
    hamer = write_hamer(tmp_path / "hamer_info.pkl", hands)
    assert cli.main([*base, "--out", str(tmp_path / "hamer"), "--hamer-results", str(hamer)]) == 0
    fitted, _ = read_video(tmp_path / "fitted" / "hamer.mp4")
    from_hamer, _ = read_video(tmp_path / "hamer" / "hamer.mp4")
    assert fitted.max() > 100 and from_hamer.max() > 100
    changed = np.abs(fitted.astype(int) - from_hamer.astype(int)).max(-1) > 60
    assert changed.mean() > 0.001  # the hand video shows HaMeR's hands, not the fitted ones


@pytest.mark.parametrize(
    "extra, words",
    [
        ([], "needs --body-models and --dwpose"),
        (["--body-models", "/nonexistent", "--dwpose", "/nonexistent"], "does not exist"),
        (["--body-models", ".", "--dwpose", ".", "--fov", "500"], "fov_degrees"),
    ],
)
def test_bad_pose_arguments_are_one_sentence(files, tmp_path, capsys, extra, words):
    args = ["pose", "--video", str(files["video"]), "--out", str(tmp_path / "p"), *extra]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
