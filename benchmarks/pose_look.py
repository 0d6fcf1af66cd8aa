"""Does our SMPL-CS render look like the release's own condition videos?

Compares colour statistics of the body pixels, the background and the edges of the release demo's SMPL-CS video
(``../shared/data/realisdance-demo/smpl.mp4``, a real render of the real pipeline) with our render of a moving body
at the same size with the real colour table (``../shared/data/body/smplx_color.pt``):

    python benchmarks/pose_look.py                              # procedural body (colours land on other places)
    python benchmarks/pose_look.py --body-models ~/body_models  # the real SMPL-X: the like-for-like comparison

The shading is colour * (0.4 + 0.3 max(0, n.l)) + 0.2, so every body channel has a floor of 0.2 and the background is
black; with the real SMPL-X the per-channel means should agree within a few hundredths (the poses differ).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "data"


def statistics(frames: np.ndarray) -> dict[str, str]:
    """frames (F, H, W, 3) float in [0, 1]."""
    body = frames.max(-1) > 0.05
    pixels = frames[body]
    faint = (frames.max(-1) > 0.02) & (frames.max(-1) < 0.15)
    return {
        "background mean": f"{frames[~body].mean():.4f}",
        "body mean RGB": " ".join(f"{v:.3f}" for v in pixels.mean(0)),
        "body p5 RGB": " ".join(f"{v:.3f}" for v in np.percentile(pixels, 5, axis=0)),
        "body p95 RGB": " ".join(f"{v:.3f}" for v in np.percentile(pixels, 95, axis=0)),
        "darkest channel p5 / p50": " / ".join(f"{v:.3f}" for v in np.percentile(pixels.min(-1), [5, 50])),
        "faint edge pixels per body pixel": f"{faint.sum() / body.sum():.4f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body-models", default=None)
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    demo, table = SHARED / "realisdance-demo" / "smpl.mp4", SHARED / "body" / "smplx_color.pt"
    if not demo.exists() or not table.exists():
        sys.exit(f"needs {demo} and {table}")
    from benchmarks.pose_render import build_body, dancing_sequence
    from realisdance.pose import RenderOptions, load_vertex_colours, render_smpl_cs
    from realisdance.video import read_video, write_video

    video, _ = read_video(demo)
    theirs = video[:: max(1, len(video) // args.frames)].astype(np.float32) / 255
    height, width = theirs.shape[1:3]
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = build_body(args.body_models, Path(tmp))
        colours = load_vertex_colours(table, model.num_vertices)
        # About the demo's framing: the body fills most of the frame height.
        sequence = dancing_sequence(args.frames, width, height, distance=2.6)
        ours = render_smpl_cs(model, sequence, colours, RenderOptions(backend="auto")).numpy()
        # Through the same kind of H.264 file as the demo, whose edges and darkest pixels the encoder softened.
        write_video(Path(tmp) / "ours.mp4", ours, fps=24)
        encoded = read_video(Path(tmp) / "ours.mp4")[0].astype(np.float32) / 255
    rows = statistics(theirs), statistics(ours), statistics(encoded)
    body = "real SMPL-X" if args.body_models else "procedural body"
    print(f"| statistic | release demo smpl.mp4 ({width}x{height}) | ours ({body}, same size) | ours after H.264 |")
    print("|---|---|---|---|")
    for key in rows[0]:
        print(f"| {key} | {rows[0][key]} | {rows[1][key]} | {rows[2][key]} |")


if __name__ == "__main__":
    main()
