"""The training objective: flow matching as Wan and the release sample it, with the paper's condition dropout.

A clean latent x0 is noised to x_t = (1 - s) x0 + s e at s = t / 1000 (the sampler's interpolation), and the DiT is
trained to predict the velocity e - x0 (what the flow solvers step with). The timestep t comes from the schedule
(``timesteps.py``) and is floored to an integer, as the release feeds ``int64(1000 * sigma)`` to its DiT.

Dropout (paper section 3.3, 5 % each by default, drawn independently): the reference is replaced by the release's
unconditional reference (the grey image's latent and CLIP of a grey image) and the prompt by the empty prompt, exactly
the inputs of the release's CFG branch, so guidance 2 works on the fine-tuned model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..pipeline.conditions import Branch, Conditions
from .timesteps import NUM_TRAIN_TIMESTEPS


@dataclass(frozen=True)
class Dropout:
    reference: float = 0.05
    prompt: float = 0.05


@dataclass
class TrainingSample:
    """One clip, encoded once: the target's clean latent and every condition of both branches (the negative branch
    carries the empty prompt and the grey reference, the dropout inputs)."""

    target: torch.Tensor  # (1, 16, T, h, w) normalised latent of the target video
    conditions: Conditions


def branch_for(conditions: Conditions, drop_reference: bool, drop_prompt: bool) -> Branch:
    keep, empty = conditions.positive, conditions.negative
    return Branch(
        text=empty.text if drop_prompt else keep.text,
        clip=empty.clip if drop_reference else keep.clip,
        reference=empty.reference if drop_reference else keep.reference,
    )


def flow_matching_loss(
    model: torch.nn.Module,
    sample: TrainingSample,
    timestep: torch.Tensor,
    noise: torch.Tensor,
    drop_reference: bool = False,
    drop_prompt: bool = False,
) -> torch.Tensor:
    """Mean squared error between the DiT's velocity and e - x0 at ``timestep`` (a 1-element tensor in [0, T))."""
    device = next(p for p in model.parameters()).device
    target = sample.target.to(device=device, dtype=torch.float32)
    noise = noise.to(device=device, dtype=torch.float32)
    t = timestep.floor().to(device)
    sigma = (t / NUM_TRAIN_TIMESTEPS).view(-1, 1, 1, 1, 1)
    noisy = (1.0 - sigma) * target + sigma * noise
    conditions = sample.conditions.to(device)
    hidden = noisy
    if conditions.image_condition is not None:
        hidden = torch.cat([noisy, conditions.image_condition[:, :, : noisy.shape[2]]], dim=1)
    branch = branch_for(conditions, drop_reference, drop_prompt)
    prediction = model(
        hidden, t, branch.text, branch.clip, add_cond=conditions.pose, attn_cond=branch.reference, return_dict=False
    )[0]
    return torch.nn.functional.mse_loss(prediction.float(), noise - target)
