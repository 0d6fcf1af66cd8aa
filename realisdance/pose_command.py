"""``realisdance pose``: the two condition videos (and a QC preview) from a plain driving video, ready for animate.

realisdance pose --video dance.mp4 --ref ref.png --body-models DIR --dwpose DIR --out pose/
-> pose/smpl.mp4, pose/hamer.mp4, pose/qc.mp4
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import InputError
from .output_paths import check_output

OUTPUTS = {"smpl": "smpl.mp4", "hamer": "hamer.mp4", "preview": "qc.mp4"}


def add_pose_arguments(parser: argparse.ArgumentParser) -> None:
    from .pose.fitting.motion_options import MotionFitOptions

    parser.add_argument("--body-models", type=Path, help="folder with smplx/SMPLX_NEUTRAL.npz and smplx/smplx_color.pt")
    parser.add_argument(
        "--dwpose", type=Path, help="folder with the DWPose ONNX pair (yolox_l.onnx, dw-ll_ucoco_384.onnx)"
    )
    parser.add_argument(
        "--fit-iterations", type=int, default=MotionFitOptions().iterations, help="motion-fit optimisation steps"
    )
    parser.add_argument(
        "--gvhmr", type=Path, default=None, help="a GVHMR hmr4d_results.pt of the same video: the fit starts from it"
    )
    parser.add_argument(
        "--hamer-results", type=Path, default=None,
        help="a HaMeR result of the same video (hamer_info.pkl, .pt, .npz): its hands replace the fitted ones",
    )  # fmt: skip
    parser.add_argument(
        "--fov", type=float, default=None, help="camera diagonal field of view in degrees; none: GVHMR's default (53)"
    )


def check_pose_arguments(args, out_dir: Path) -> dict[str, Path]:
    """Every file and number of a pose run, before anything loads; returns the output paths."""
    from .pose.fitting.motion_options import MotionFitOptions

    missing = [name for name in ("body_models", "dwpose") if getattr(args, name) is None]
    if missing:
        raise InputError(f"making pose videos needs --{' and --'.join(n.replace('_', '-') for n in missing)}")
    given = [("--video", args.video), ("--body-models", args.body_models), ("--dwpose", args.dwpose)]
    for name in ("gvhmr", "hamer_results"):
        if getattr(args, name, None) is not None:
            given.append((f"--{name.replace('_', '-')}", getattr(args, name)))
    for name, path in given:
        if not Path(path).exists():
            raise InputError(f"{name} {path} does not exist")
    if getattr(args, "ref", None) is not None and not Path(args.ref).is_file():
        raise InputError(f"--ref {args.ref} does not exist")
    MotionFitOptions(iterations=args.fit_iterations, fov_degrees=args.fov)  # refuses bad numbers
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {key: out_dir / name for key, name in OUTPUTS.items()}
    for path in paths.values():
        check_output(path)
    return paths


def make_pose_videos(args, out_dir: Path) -> dict[str, Path]:
    """Run DWPose, the motion fit, the shape transfer and the renders; write the videos; return their paths."""
    import numpy as np
    from PIL import Image

    from .pose.fitting.motion_options import MotionFitOptions
    from .pose.from_video import pose_conditions_from_video
    from .video import read_video, write_video

    paths = check_pose_arguments(args, out_dir)
    frames, fps = read_video(args.video)
    reference = None
    if getattr(args, "ref", None) is not None:
        reference = np.asarray(Image.open(args.ref).convert("RGB"))
    options = MotionFitOptions(iterations=args.fit_iterations, fov_degrees=args.fov)
    initial = None
    if args.gvhmr is not None:
        from .pose.gvhmr import load_gvhmr

        height, width = frames.shape[1:3]
        initial = load_gvhmr(args.gvhmr, image_size=(width, height), fps=fps)
    result = pose_conditions_from_video(
        frames, fps, args.body_models, args.dwpose, reference, options, initial=initial, hamer=args.hamer_results
    )
    write_video(paths["smpl"], result.smpl_cs, fps=fps)
    write_video(paths["hamer"], result.hands, fps=fps)
    write_video(paths["preview"], result.preview, fps=fps)
    counts = result.fit.flag_counts()
    flags = ", ".join(f"{name} in {count} frame(s)" for name, count in counts.items()) or "no flags"
    shape = "the reference's body shape" if result.reshaped else "the driving body's shape (no --ref)"
    print(f"motion fit: mean keypoint error {result.fit.mean_error_px:.1f} px; {flags}; rendered with {shape}")
    print(f"wrote {paths['smpl']}, {paths['hamer']} and the QC preview {paths['preview']}")
    return paths
