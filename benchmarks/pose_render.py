"""Speed of the pose-condition render (SMPL-CS + hands) with every available raster backend.

    python benchmarks/pose_render.py                      # 81 frames at 1024x576, 2 threads, every backend
    python benchmarks/pose_render.py --body-models ~/body_models --frames 81 --width 1024 --height 576

Times the whole ``render_pose_conditions`` call the ComfyUI render node makes (posing, normals, both
rasterizations, shading, the hand occlusion test and the copy into the output batches), after one warm-up frame
per backend so GL context creation and shader compilation are reported separately as "first frame". Without
``--body-models`` it uses the procedural SMPL-X-sized body of the tests (10475 vertices, 20908 faces, the real
joint tree; ``tests/pose/conftest.py``) and a random colour table; the body waves its arms and turns, so every
frame differs. The target from the pose issue: under 10 s for 81 frames at 576x1024 with GL on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# CPU time (all threads of this process, llvmpipe's included) is reported next to wall time: on a shared machine
# the wall time also counts other jobs' turns on the cores.


def build_body(body_models: str | None, tmp: Path):
    """(model, colours) from a real body-model folder, or the procedural test body with random colours."""
    import torch

    from realisdance.pose import load_smplx, load_vertex_colours

    if body_models:
        model = load_smplx(body_models)
        try:
            colours = load_vertex_colours(body_models)
        except Exception:  # timing does not depend on the colours
            colours = torch.rand(model.num_vertices, 3, generator=torch.Generator().manual_seed(0))
        return model, colours
    sys.path.insert(0, str(ROOT / "tests"))
    from pose_assets import build_smplx_arrays, write_smplx  # the procedural body of the tests

    write_smplx(tmp, build_smplx_arrays())
    model = load_smplx(tmp)
    return model, torch.rand(model.num_vertices, 3, generator=torch.Generator().manual_seed(0))


def dancing_sequence(frames: int, width: int, height: int, distance: float):
    """Upright body facing the camera, turning and waving both arms (GVHMR's default camera)."""
    import torch

    from realisdance.pose import SMPLXParams, SMPLXSequence, estimate_intrinsics

    t = torch.linspace(0, 2 * math.pi, frames)
    body_pose = torch.zeros(frames, 21, 3)
    body_pose[:, 15, 2] = -0.6 + 0.5 * torch.sin(t)  # left shoulder (joint 16) about z
    body_pose[:, 16, 2] = 0.6 - 0.5 * torch.cos(t)  # right shoulder (joint 17)
    body_pose[:, 17, 1] = -0.8 * torch.sin(2 * t).abs()  # left elbow bends
    orient = torch.stack([torch.full_like(t, math.pi), 0.4 * torch.sin(t), torch.zeros_like(t)], dim=-1)
    params = SMPLXParams(
        global_orient=orient,
        body_pose=body_pose.reshape(frames, 63),
        betas=torch.zeros(frames, 10),
        transl=torch.tensor([[0.0, -0.1, distance]]).repeat(frames, 1),
    )
    k = estimate_intrinsics(width, height)[None].repeat(frames, 1, 1)
    return SMPLXSequence(params, k, width, height, fps=24.0)


def time_backend(name: str, model, colours, sequence) -> dict:
    import torch

    from realisdance.errors import InputError
    from realisdance.pose import RenderOptions, get_backend, render_pose_conditions

    start = time.perf_counter()
    try:
        backend = get_backend(name)
        render_pose_conditions(model, sequence.select(slice(0, 1)), colours, RenderOptions(backend=backend))  # warm-up
    except InputError as exc:
        return {"backend": name, "error": str(exc)}
    first = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    videos = render_pose_conditions(model, sequence, colours, RenderOptions(backend=backend))
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    coverage = float((videos.smpl_cs.amax(-1) > 0).float().mean())
    hands = float((videos.hands.amax(-1) > 0).float().mean())
    assert torch.isfinite(videos.smpl_cs).all()
    return {"backend": backend.name, "first": first, "total": total, "cpu": cpu, "coverage": coverage, "hands": hands}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=576)
    parser.add_argument("--distance", type=float, default=3.0, help="metres from the camera (3 m: ~18%% coverage)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads and llvmpipe threads (LP_NUM_THREADS)")
    parser.add_argument("--backends", default="torch,gl", help="comma-separated: torch, gl, auto")
    parser.add_argument("--body-models", default=None, help="folder with smplx/SMPLX_NEUTRAL.npz")
    args = parser.parse_args()
    os.environ.setdefault("LP_NUM_THREADS", str(args.threads))  # Mesa llvmpipe's raster threads; read at GL init
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model, colours = build_body(args.body_models, Path(tmp))
    sequence = dancing_sequence(args.frames, args.width, args.height, args.distance)
    print(
        f"{args.frames} frames at {args.width}x{args.height}, {args.threads} threads, "
        f"{model.num_vertices} vertices / {len(model.faces)} faces, load avg {os.getloadavg()[0]:.1f}"
    )
    print("| backend | first frame (setup) | per frame | all frames (wall) | CPU time | body pixels | hand pixels |")
    print("|---|---|---|---|---|---|---|")
    for name in args.backends.split(","):
        row = time_backend(name.strip(), model, colours, sequence)
        if "error" in row:
            print(f"| {row['backend']} | unavailable: {row['error']} | | | | | |")
            continue
        per_frame = 1000 * row["total"] / args.frames
        print(
            f"| {row['backend']} | {row['first']:.2f} s | {per_frame:.0f} ms | {row['total']:.2f} s "
            f"| {row['cpu']:.1f} s | {100 * row['coverage']:.1f} % | {100 * row['hands']:.2f} % |"
        )


if __name__ == "__main__":
    main()
