"""TeaCache exactly as the official RealisDance-DiT code runs it (spec section 3.5).

For each CFG branch separately: the relative L1 change of the timestep projection (the (B, 6, dim) modulation input
of the blocks) since the branch's previous forward, rescaled by a fitted polynomial, is accumulated; while the sum
stays under the threshold the forward skips every block and adds the residual (blocks' output minus input, over the
joint video + reference sequence) that the branch's last computed forward left. The first 5 steps (1 with the time
embedding as indicator) are always computed; the cutoff is the step count, so skipping may go on to the end. The
polynomial is TeaCache's fit for Wan 2.1 I2V 14B 720P, which the release uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import StepCache

# Highest power first (numpy.poly1d order), as the release sets them.
RELEASE_COEFFICIENTS = {
    "timestep_proj": (8.10705460e03, 2.13393892e03, -3.72934672e02, 1.66203073e01, -4.17769401e-02),
    "temb": (-114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683),
}
RELEASE_THRESHOLD = 0.2


@dataclass
class _BranchState:
    accumulated: float = 0.0
    previous_indicator: torch.Tensor | None = None
    previous_residual: torch.Tensor | None = None


class TeaCache(StepCache):
    name = "TeaCache"

    def __init__(self, num_steps: int, threshold: float = RELEASE_THRESHOLD, use_timestep_proj: bool = True) -> None:
        super().__init__(num_steps)
        self.threshold = threshold
        self.use_timestep_proj = use_timestep_proj
        self.rescale = np.poly1d(RELEASE_COEFFICIENTS["timestep_proj" if use_timestep_proj else "temb"])
        self.ret_steps = 5 if use_timestep_proj else 1
        self.cutoff_steps = num_steps
        self.states: dict[str, _BranchState] = {}
        self.decisions: list[tuple[str, int, bool]] = []  # (branch, step, computed), in call order

    def attach(self, transformer: torch.nn.Module) -> None:
        transformer.step_cache = self

    def detach(self, transformer: torch.nn.Module) -> None:
        transformer.step_cache = None
        self.states.clear()  # the residuals are activations-sized: free them with the run

    def _should_compute(self, state: _BranchState, indicator: torch.Tensor) -> bool:
        step = self.current_step
        if (
            state.previous_indicator is None
            or state.previous_residual is None
            or step < self.ret_steps
            or step >= self.cutoff_steps
        ):
            state.accumulated = 0.0
            return True
        previous = state.previous_indicator
        relative_l1 = ((indicator - previous).abs().mean() / previous.abs().mean()).item()
        state.accumulated += float(self.rescale(relative_l1))
        if state.accumulated < self.threshold:
            return False
        state.accumulated = 0.0
        return True

    def run(self, run_blocks, tokens: torch.Tensor, timestep_proj: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        state = self.states.setdefault(self.current_branch, _BranchState())
        indicator = timestep_proj if self.use_timestep_proj else temb
        compute = self._should_compute(state, indicator)
        state.previous_indicator = indicator.clone()
        self.decisions.append((self.current_branch, self.current_step, compute))
        if not compute:
            self.skipped += self.forwards_per_call
            return tokens + state.previous_residual
        self.computed += self.forwards_per_call
        out = run_blocks(tokens)
        state.previous_residual = out - tokens
        return out
