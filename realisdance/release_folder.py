"""Is this the release folder, complete? Answered from the file tree alone, before anything is loaded.

The command line and ``RealisDancePipeline.from_pretrained`` take the root of the diffusers release
(``theFoxofSky/RealisDance-DiT``: ``model_index.json``, ``transformer/``, ``text_encoder/``, ``tokenizer/``,
``image_encoder/``, ``vae/``, ``scheduler/``). Pointing at one of its sub-folders, at a single file, or at a folder that
lacks a component is one sentence that says exactly what to give instead, so no advice ever sends the user in a
circle, and a missing ``scheduler/`` is found before minutes of loading, not after.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import CheckpointError

RELEASE_NAME = "theFoxofSky/RealisDance-DiT"
COMPONENTS = ("transformer", "text_encoder", "tokenizer", "vae", "scheduler")
MARKERS = {
    "transformer": ("config.json",),
    "text_encoder": ("config.json",),
    "tokenizer": ("tokenizer_config.json", "spiece.model", "tokenizer.json"),
    "vae": ("config.json",),
    "scheduler": ("scheduler_config.json",),
    "image_encoder": ("config.json",),
}


def _holds(folder: Path, component: str) -> bool:
    return (folder / component).is_dir() and any((folder / component / m).is_file() for m in MARKERS[component])


def _needs_image_encoder(folder: Path, transformer) -> bool:
    """The I2V release does (its DiT has a CLIP branch); read from the transformer config when there is one."""
    config = (Path(transformer) if transformer else folder / "transformer") / "config.json"
    if not config.is_file():
        return True  # a single-file transformer: the released model is I2V
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("image_dim") is not None
    except (OSError, ValueError):
        return True  # the transformer loader reports a broken config itself


def check_release_folder(path, transformer=None, option: str = "--model") -> Path:
    """The release root ``path`` as a Path, or a CheckpointError saying what to point ``option`` at."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{option} {folder} does not exist; download {RELEASE_NAME} and give its folder.")
    if folder.is_file():
        raise CheckpointError(
            f"{option} takes the release folder of {RELEASE_NAME}, not a file ({folder.name}); for a single-file "
            f"transformer give it as --transformer and keep {option} on the release folder (for the encoders)."
        )
    parent = folder.parent
    if folder.name in (*COMPONENTS, "image_encoder") and (parent / "model_index.json").is_file():
        raise CheckpointError(
            f"{folder} is the release's {folder.name}/ sub-folder; give {option} its parent folder {parent}."
        )
    wanted = [c for c in COMPONENTS if not (c == "transformer" and transformer)]
    if _needs_image_encoder(folder, transformer):
        wanted.append("image_encoder")
    missing = [c for c in wanted if not _holds(folder, c)]
    if missing:
        raise CheckpointError(
            f"{folder} is not a complete {RELEASE_NAME} folder: {', '.join(m + '/' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; download the whole release into it."
        )
    return folder
