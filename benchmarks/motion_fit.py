"""The motion fit against ground truth on synthetic driving clips, and its speed at the release's size.

    python benchmarks/motion_fit.py                                  # every clip, 24 frames at 512x640, procedural body
    python benchmarks/motion_fit.py --body-models ~/body_models      # the real SMPL-X (nose, ears and finger tips on
                                                                     # its real vertices)
    python benchmarks/motion_fit.py --timing-only --frames 81 --width 1024 --height 576

Clips (tests/pose_motion_clips.py): a known motion of the body (arm waves, squat, turn, hand gesture) projected with
GVHMR's default camera, 1 px keypoint noise, 10 % dropped points, the left hand missing in a quarter of the frames and
one frame without a person. Per clip: reprojection error (px), MPJPE and PA-MPJPE of the 22 body joints and of the
30 finger joints (mm; MPJPE relative to the pelvis), acceleration error (mm / frame^2, the jitter against the
truth), and the SMPL-CS render of the
fit against the render of the truth: silhouette IoU and mean colour error of the pixels both cover. Timing: fit +
render of --frames frames at --width x --height (target from the issue: under 60 s for 81 frames at 1024x576 on 2
CPU cores with the GL backend).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

BODY, HANDS = list(range(22)), list(range(25, 55))


def body_model(body_models: str | None, tmp: Path):
    from realisdance.pose import load_smplx
    from realisdance.pose.landmarks import LandmarkSet

    if body_models:
        return load_smplx(body_models), LandmarkSet()
    from pose_assets import build_smplx_arrays, write_smplx
    from pose_motion_clips import procedural_landmarks

    write_smplx(tmp, build_smplx_arrays())
    model = load_smplx(tmp)
    return model, procedural_landmarks(model)


def render(model, sequence, colours, backend):
    from realisdance.pose import RenderOptions, render_smpl_cs

    return render_smpl_cs(model, sequence, colours, RenderOptions(backend=backend))


def damage(keypoints):
    """The left hand missing in every fourth frame and no person in the middle frame."""
    from realisdance.pose.keypoints import PersonKeypoints

    out = list(keypoints)
    for index in range(0, len(out), 4):
        points = out[index]
        left = points.left_hand.clone()
        left[:, 2] = 0
        out[index] = PersonKeypoints(points.body, points.face, left, points.right_hand, points.width, points.height)
    out[len(out) // 2] = None
    return out


def evaluate(model, landmarks, kind, args, colours):
    from pose_motion_clips import known_motion, procrustes_error, synthetic_keypoints

    from realisdance.pose import SMPLXSequence, estimate_intrinsics, pose_smplx
    from realisdance.pose.fitting.motion import fit_motion
    from realisdance.pose.fitting.motion_options import MotionFitOptions

    truth = known_motion(kind, args.frames)
    keypoints = damage(synthetic_keypoints(model, truth, landmarks, 1.0, 0.1, 0, args.width, args.height))
    start = time.perf_counter()
    result = fit_motion(model, keypoints, MotionFitOptions(landmarks=landmarks))
    seconds = time.perf_counter() - start
    fitted, true = pose_smplx(model, result.sequence.params).joints, pose_smplx(model, truth).joints
    rows = {"clip": kind, "px": result.mean_error_px, "fit s": seconds}
    for name, joints in (("body", BODY), ("hands", HANDS)):
        # MPJPE relative to the pelvis (the usual protocol: absolute depth and body size trade off in one view)
        relative = (fitted[:, joints] - fitted[:, :1]) - (true[:, joints] - true[:, :1])
        rows[f"{name} MPJPE"] = 1000 * float(relative.norm(dim=-1).mean())
        rows[f"{name} PA"] = 1000 * float(procrustes_error(fitted[:, joints], true[:, joints]).mean())
    accel = fitted[:, BODY].diff(n=2, dim=0) - true[:, BODY].diff(n=2, dim=0)
    rows["accel"] = 1000 * float(accel.norm(dim=-1).mean())
    k = estimate_intrinsics(args.width, args.height)[None].repeat(args.frames, 1, 1)
    ours = render(model, result.sequence, colours, "torch")
    reference = render(model, SMPLXSequence(truth, k, args.width, args.height), colours, "torch")
    a, b = ours.amax(-1) > 0, reference.amax(-1) > 0
    rows["IoU"] = float((a & b).sum() / (a | b).sum())
    both = a & b
    rows["colour"] = float((ours[both] - reference[both]).abs().mean())
    return rows


def timing(model, landmarks, args, colours):
    from pose_motion_clips import known_motion, synthetic_keypoints

    from realisdance.pose import available_backends
    from realisdance.pose.fitting.motion import fit_motion
    from realisdance.pose.fitting.motion_options import MotionFitOptions

    truth = known_motion("arm waves", args.frames)
    keypoints = synthetic_keypoints(model, truth, landmarks, 1.0, 0.1, 0, args.width, args.height)
    start = time.perf_counter()
    result = fit_motion(model, keypoints, MotionFitOptions(landmarks=landmarks))
    fit_seconds = time.perf_counter() - start
    backend = "gl" if "gl" in available_backends() else "torch"
    start = time.perf_counter()
    render(model, result.sequence, colours, backend)
    render_seconds = time.perf_counter() - start
    print(f"\n{args.frames} frames at {args.width}x{args.height}: fit {fit_seconds:.1f} s + render ({backend}) "
          f"{render_seconds:.1f} s = {fit_seconds + render_seconds:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body-models", default=None, help="a real body-model folder (default: the procedural body)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pose_motion_clips import KINDS

    with tempfile.TemporaryDirectory() as tmp:
        model, landmarks = body_model(args.body_models, Path(tmp))
        colours = torch.rand(model.num_vertices, 3, generator=torch.Generator().manual_seed(0))
        print(f"{platform.machine()} CPU, {args.threads} threads; "
              f"{'real SMPL-X' if args.body_models else 'procedural body'}")  # fmt: skip
        if not args.timing_only:
            print(f"{args.frames} frames at {args.width}x{args.height}, 1 px noise, 10 % dropped points, left hand "
                  "missing in every 4th frame, no person in the middle frame")  # fmt: skip
            columns = ["clip", "px", "body MPJPE", "body PA", "hands MPJPE", "hands PA", "accel", "IoU", "colour",
                       "fit s"]  # fmt: skip
            print("| " + " | ".join(columns) + " |")
            print("|" + "---|" * len(columns))
            for kind in KINDS:
                row = evaluate(model, landmarks, kind, args, colours)
                print("| " + " | ".join(row[c] if isinstance(row[c], str) else f"{row[c]:.3g}" for c in columns) + " |")
        timing(model, landmarks, args, colours)


if __name__ == "__main__":
    main()
