"""Which LoRA file, at which strength: the command line's ``--lora PATH[:STRENGTH]``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class LoraSpec:
    path: Path
    strength: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).expanduser())
        if not isinstance(self.strength, int | float) or not math.isfinite(self.strength):
            raise InputError(f"LoRA strength for {self.path.name} must be a finite number, got {self.strength!r}")
        object.__setattr__(self, "strength", float(self.strength))


def parse_lora_argument(text: str) -> LoraSpec:
    """``file.safetensors`` or ``file.safetensors:0.8`` (a Windows drive letter is not taken for a strength)."""
    path, sep, strength = text.rpartition(":")
    if sep and path and not (len(path) == 1 and path.isalpha()):
        try:
            value = float(strength)
        except ValueError:
            raise InputError(f"--lora {text}: the part after the last ':' must be a strength such as 0.8") from None
        return LoraSpec(Path(path), value)
    return LoraSpec(Path(text))
