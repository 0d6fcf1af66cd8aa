"""Find a component folder of the release and say clearly when a path is not what was expected.

Every loader here accepts either the release root (``RealisDance-DiT/``, which holds ``vae/``, ``text_encoder/``
...) or the component folder itself, so a user can point any loader at the one folder they downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import CheckpointError

RELEASE_NAME = "theFoxofSky/RealisDance-DiT"


def component_dir(path: str | Path, component: str, markers: Sequence[str], what: str) -> Path:
    """The folder holding ``component``: ``path`` itself, or ``path/component`` when ``path`` is the release root.

    ``markers`` are file names of which at least one must exist in the component folder (e.g. ``config.json``).
    ``what`` names the component for messages ("the umT5 text encoder").
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointError(
            f"{what} not found: {folder} does not exist. Download {RELEASE_NAME} and point this at the release "
            f"folder or its '{component}/' subfolder."
        )
    if not folder.is_dir():
        raise CheckpointError(
            f"{what}: expected a folder, got the file {folder}. Point this at the release folder or its "
            f"'{component}/' subfolder."
        )
    for candidate in (folder / component, folder):
        if candidate.is_dir() and any((candidate / marker).is_file() for marker in markers):
            return candidate
    raise CheckpointError(
        f"{what}: {folder} has no {' or '.join(markers)} and no '{component}/' subfolder. Point this at the "
        f"release folder of {RELEASE_NAME} or its '{component}/' subfolder."
    )


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; a broken file is a checkpoint problem, not a traceback."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read {path}: {error}. Re-download this file.") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object. Re-download this file.")
    return data


def describe_config(config: dict) -> str:
    """Short name of what a config.json describes, for 'this folder holds X, not Y' messages."""
    architectures = config.get("architectures") or []
    name = config.get("_class_name") or (architectures[0] if architectures else None) or config.get("model_type")
    return f"a {name} model" if name else "an unknown model"


def transformers_dtype_kwargs(dtype) -> dict:
    """``from_pretrained`` dtype keyword: ``dtype`` from transformers 4.56 on, ``torch_dtype`` before."""
    if dtype is None:
        return {}
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__).release >= (4, 56) else "torch_dtype"
    return {key: dtype}
