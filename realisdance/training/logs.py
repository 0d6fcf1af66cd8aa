"""The loss record of a training run: ``loss.csv`` (one row per optimiser step, appended as it goes) and
``loss.png`` (the raw loss and an exponential moving average, drawn with OpenCV: no plotting library needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SMOOTHING = 0.9  # EMA factor of the plotted curve


class LossLog:
    def __init__(self, run_dir: Path) -> None:
        self.csv = run_dir / "loss.csv"
        self.png = run_dir / "loss.png"
        if not self.csv.is_file():
            self.csv.write_text("step,loss,timestep,seconds\n")
        rows = self.read()
        self._last_step = rows[-1][0] if rows else 0  # read once: a resumed run may have logged past its checkpoint

    def add(self, step: int, loss: float, timestep: float, seconds: float) -> None:
        if step <= self._last_step:  # a resumed run repeats no step: drop rows past the checkpoint
            keep = [row for row in self.read() if row[0] < step]
            self.csv.write_text(
                "step,loss,timestep,seconds\n" + "".join(f"{s},{v!r},{t!r},{d!r}\n" for s, v, t, d in keep)
            )
        with self.csv.open("a") as handle:
            handle.write(f"{step},{loss!r},{timestep!r},{seconds!r}\n")
        self._last_step = step

    def read(self) -> list[tuple[int, float, float, float]]:
        with self.csv.open() as handle:
            return [(int(r["step"]), float(r["loss"]), float(r["timestep"]), float(r["seconds"]))
                    for r in csv.DictReader(handle)]  # fmt: skip

    def plot(self, width: int = 640, height: int = 360) -> Path:
        import cv2

        losses = np.array([row[1] for row in self.read()], dtype=np.float64)
        canvas = np.full((height, width, 3), 255, np.uint8)
        if len(losses) >= 2:
            smooth = ema(losses)
            low, high = float(losses.min()), float(losses.max()) or 1.0
            span = (high - low) or 1.0
            xs = np.linspace(40, width - 10, len(losses))

            def points(values):
                ys = height - 30 - (values - low) / span * (height - 50)
                return np.stack([xs, ys], axis=1).astype(np.int32).reshape(-1, 1, 2)

            cv2.polylines(canvas, [points(losses)], False, (200, 200, 200), 1, cv2.LINE_AA)
            cv2.polylines(canvas, [points(smooth)], False, (180, 80, 0), 2, cv2.LINE_AA)
            cv2.putText(canvas, f"loss {high:.4g}", (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
            cv2.putText(canvas, f"{low:.4g}", (5, height - 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
            cv2.putText(canvas, f"step {len(losses)}", (width - 90, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 0, 0), 1)  # fmt: skip
        cv2.imwrite(str(self.png), canvas)
        return self.png


def ema(values: np.ndarray, factor: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction (the first points are not pulled towards 0)."""
    out, running = np.empty_like(values), 0.0
    for index, value in enumerate(values):
        running = factor * running + (1 - factor) * value
        out[index] = running / (1 - factor ** (index + 1))
    return out
