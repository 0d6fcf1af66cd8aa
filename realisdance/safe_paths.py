"""Which files a prompt may make the pack read: only those inside the folder they are meant to come from.

A ComfyUI server takes prompts over HTTP, so a file name in a prompt is untrusted input. A name is resolved inside its
base folder (ComfyUI's input folder for user data); the resolved path, symlinks followed, must stay inside that folder.
Absolute paths, ``..`` that climbs out, and links that point elsewhere are refused with one sentence that names only
what was asked for: nothing about whether such a file exists, nothing of its contents. The server's owner can allow
more folders by listing them in the environment variable ``REALISDANCE_ALLOWED_ROOTS`` (``os.pathsep``-separated).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

ALLOWED_ROOTS_ENV = "REALISDANCE_ALLOWED_ROOTS"


def allowed_roots() -> list[Path]:
    """The extra folders the server owner allowed (resolved; empty entries ignored)."""
    value = os.environ.get(ALLOWED_ROOTS_ENV, "")
    return [Path(entry).expanduser().resolve() for entry in value.split(os.pathsep) if entry.strip()]


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_user_file(name: str, base: str | os.PathLike, what: str) -> Path:
    """The file ``name`` names inside ``base`` (or inside an allowed root), as a resolved path.

    what: a few words for the messages, e.g. "GVHMR result".
    """
    text = str(name).strip().strip('"')
    if not text:
        raise InputError(f"no {what} file chosen: put it in ComfyUI's input folder and pick it in the node.")
    base_dir = Path(base).resolve()
    candidate = Path(text).expanduser()
    real = (candidate if candidate.is_absolute() else base_dir / candidate).resolve()
    if not any(is_inside(real, root) for root in (base_dir, *allowed_roots())):
        raise InputError(
            f"the {what} file {text!r} is outside ComfyUI's input folder, so it is not read; put the file in "
            f"{base_dir} and pick it (a server owner can allow other folders with {ALLOWED_ROOTS_ENV})."
        )
    if not real.is_file():
        raise InputError(f"the {what} file {text!r} was not found in {base_dir}; put it there and refresh (R).")
    return real


def user_files(base: str | os.PathLike, extensions: tuple[str, ...]) -> list[str]:
    """Files under ``base`` with one of ``extensions``, as sorted relative paths with "/" (what a combo lists);
    links that lead out of ``base`` are left out."""
    base_dir = Path(base).resolve()
    if not base_dir.is_dir():
        return []
    found = []
    for path in base_dir.rglob("*"):
        if path.suffix.lower() in extensions and path.is_file() and is_inside(path.resolve(), base_dir):
            found.append(path.relative_to(base_dir).as_posix())
    return sorted(found)
