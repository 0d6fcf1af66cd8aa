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
        moves = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        # torch's own .to: diffusers' override warns about fp32-kept modules whenever a dtype keyword is present,
        # even None, and the encoders keep none.
        torch.nn.Module.to(self.module, **moves)
        return self
