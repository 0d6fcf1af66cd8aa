"""The paper's evaluation protocols, as folders ``animate --root`` generates from and ``evaluate`` scores against.

- ``tiktok`` / ``ubc`` (as HumanVid sets them): source frames 1, 4, ..., 70 (``[1, 72)`` with stride 3: 24 frames),
  the middle one of them as the reference image, 512x896 (portrait; landscape clips 896x512).
- ``realisdance-val``: the first 5 s at 16 fps (81 frames), 576x1024 or 1024x576 by the clip's aspect, the first
  frame as the reference.

``prepare`` reads a folder of real clips with their pose renders (``video/``, ``smpl/``, ``hamer/``, ``prompt/``
optional) and writes ``OUT/ref``, ``OUT/smpl``, ``OUT/hamer`` and ``OUT/prompt`` for ``animate --root OUT`` and
``OUT/gt`` (the real frames the protocol scores). The model makes 4k+1 frames, so the 24-frame protocols are
generated as 25 (the pose's last frame repeated) and ``evaluate`` scores the 24 the truth has. All selected frames
are written at 16 fps, so ``animate`` takes them one for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Protocol:
    name: str
    long_side: int
    short_side: int
    first: int | None  # stride protocols: frames first, first + stride, ... below stop
    stop: int | None
    stride: int | None
    seconds: float | None  # time protocols: the first ``seconds`` at 16 fps
    reference: str  # "middle" or "first" of the selected frames

    def frames(self, length: int, fps: float) -> list[int]:
        if self.stride is not None:
            picked = list(range(self.first, min(self.stop, length), self.stride))
            wanted = len(range(self.first, self.stop, self.stride))
            if len(picked) < wanted:
                raise InputError(f"the {self.name} protocol needs {self.stop} frames; this clip has {length}")
            return picked
        count = int(round(self.seconds * 16))
        if length / fps < self.seconds - 1e-6:
            raise InputError(f"the {self.name} protocol needs {self.seconds:g} s; this clip is {length / fps:.2f} s")
        times = np.arange(count + 1) / 16.0  # 81 frames: 0 .. 5 s
        return [min(int(round(t * fps)), length - 1) for t in times]

    def size(self, height: int, width: int) -> tuple[int, int]:
        return (self.long_side, self.short_side) if height >= width else (self.short_side, self.long_side)


PROTOCOLS = {
    "tiktok": Protocol("tiktok", 896, 512, 1, 72, 3, None, "middle"),
    "ubc": Protocol("ubc", 896, 512, 1, 72, 3, None, "middle"),
    "realisdance-val": Protocol("realisdance-val", 1024, 576, None, None, None, 5.0, "first"),
}


def _resized(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    height, width = size
    scale = max(height / frames.shape[1], width / frames.shape[2])  # cover, then centre-crop
    out = []
    for frame in frames:
        resized = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)  # fmt: skip
        top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
        out.append(resized[top : top + height, left : left + width])
    return np.stack(out)


def prepare(protocol_name: str, data: Path, out: Path) -> list[str]:
    """Write the protocol's folders for every clip of ``data``; returns the clip names."""
    from PIL import Image

    from ..video import probe_video, read_video, write_video

    protocol = PROTOCOLS.get(protocol_name)
    if protocol is None:
        raise InputError(f"unknown protocol {protocol_name!r}; use one of {', '.join(PROTOCOLS)}")
    videos = sorted((data / "video").glob("*.mp4")) if (data / "video").is_dir() else []
    if not videos:
        raise InputError(f"{data / 'video'} holds no clips (<id>.mp4) to evaluate on")
    names = []
    for video in videos:
        name = video.stem
        streams = {kind: data / kind / f"{name}.mp4" for kind in ("smpl", "hamer")}
        absent = [str(path) for path in streams.values() if not path.is_file()]
        if absent:
            raise InputError(f"clip {name!r} has no {' or '.join(absent)}; render its poses first (realisdance pose)")
        info = probe_video(video)
        picked = protocol.frames(info.frame_count, info.fps)
        size = protocol.size(info.height, info.width)
        truth = _resized(read_video(video, picked)[0], size)
        generated = picked + [picked[-1]] * ((1 - len(picked)) % 4)  # 4k+1 frames for the model
        write_video(out / "gt" / f"{name}.mp4", truth, fps=16)
        for kind, path in streams.items():
            write_video(out / kind / f"{name}.mp4", _resized(read_video(path, generated)[0], size), fps=16)
        reference = truth[len(truth) // 2] if protocol.reference == "middle" else truth[0]
        (out / "ref").mkdir(parents=True, exist_ok=True)
        Image.fromarray(reference).save(out / "ref" / f"{name}.png")
        prompt = data / "prompt" / f"{name}.txt"
        if prompt.is_file():
            (out / "prompt").mkdir(parents=True, exist_ok=True)
            (out / "prompt" / f"{name}.txt").write_text(prompt.read_text())
        names.append(name)
    return names
