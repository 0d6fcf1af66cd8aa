"""One sentence for a file that holds more than plain data (and so is not unpickled) or that cannot be read at all.

torch's weights-only loader and our restricted body-model unpickler refuse every object that is not plain data (an
import in the pickle stream could run code). Their own messages are multi-sentence, and torch's even suggests
turning the protection off; users need the file's name, the refused object, and what to do.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from .errors import InputError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)|refusing to load ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)")


def refused_global(error: BaseException) -> str | None:
    """The ``module.name`` a refusing unpickler met, when ``error`` is such a refusal."""
    match = _GLOBAL.search(str(error))
    return next((group for group in match.groups() if group), None) if match else None


def unreadable(path, what: str, error: BaseException, error_type=InputError) -> Exception:
    """The error to raise for ``path`` (a ``what`` file) that failed to load with ``error``."""
    name = refused_global(error) if isinstance(error, pickle.UnpicklingError | RuntimeError) else None
    path = Path(path)
    if name:
        return error_type(
            f"{path} holds {name}, which is not plain data, so it was not unpickled (that could run code); a "
            f"{what} file holds only tensors, arrays and numbers: save it again that way."
        )
    return error_type(f"{path} could not be read as a {what} file; it is truncated or of another format.")


def torch_load_plain(path, what: str):
    """``torch.load(path, weights_only=True)`` on the CPU, its failures as one sentence (see ``unreadable``)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch's own errors alike: the file is the problem
        raise unreadable(path, what, error) from None
