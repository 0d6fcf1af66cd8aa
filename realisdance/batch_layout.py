"""The official batch layout (``ref/<id>.<image>``, ``smpl/<id>.mp4``, ``hamer/<id>.mp4``, ``prompt/<id>.txt``) and
one job of it: what the command line's batches and the trainer's data folders share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class Job:
    ref: Path
    smpl: Path
    hamer: Path
    prompt: str
    out: Path


def read_prompt(path: Path) -> str:
    """A prompt file as text: UTF-8 (with or without a byte-order mark) or UTF-16 with its mark."""
    data = path.read_bytes()
    for mark, encoding in ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig")):
        if data.startswith(mark):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; save the prompt as UTF-8 and retry.") from None


def batch_jobs(root: Path, out_dir: Path) -> list[Job]:
    """The official batch layout: ref/<id>.<img>, smpl/<id>.mp4, hamer/<id>.mp4, prompt/<id>.txt."""
    missing = [name for name in ("ref", "smpl", "hamer") if not (root / name).is_dir()]
    if missing:
        raise InputError(
            f"{root}: a batch folder needs ref/, smpl/ and hamer/ sub-folders; missing {', '.join(missing)}"
        )
    jobs = []
    for ref in sorted(p for p in (root / "ref").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        smpl, hamer = root / "smpl" / f"{ref.stem}.mp4", root / "hamer" / f"{ref.stem}.mp4"
        absent = [str(p) for p in (smpl, hamer) if not p.is_file()]
        if absent:
            raise InputError(f"batch item {ref.stem!r} has no {' or '.join(absent)}; every reference needs both videos")
        prompt_file = root / "prompt" / f"{ref.stem}.txt"
        # the release joins the stripped lines of the prompt file
        prompt = (
            " ".join(line.strip() for line in read_prompt(prompt_file).splitlines()) if prompt_file.is_file() else ""
        )
        jobs.append(Job(ref, smpl, hamer, prompt, out_dir / f"{ref.stem}.mp4"))
    if not jobs:
        raise InputError(f"{root / 'ref'}: no reference images found ({', '.join(IMAGE_SUFFIXES)})")
    return jobs
