"""The part every encoder wrapper shares: where its torch module lives and how to move it."""

from __future__ import annotations

import torch


class WrappedModule:
    """Base of the encoder wrappers; subclasses keep their torch module in ``self.module``."""

    module: torch.nn.Module

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def to(self, device=None, dtype=None):
        self.module.to(device=device, dtype=dtype)
        return self
