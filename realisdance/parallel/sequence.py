"""Sequence (context) parallelism of RealisDance-DiT through diffusers' machinery (``enable_parallelism``).

Every process holds the whole model and a 1/N share of the token sequence (video tokens followed by the reference
tokens); self-attention exchanges shares with Ulysses all-to-all (each process then attends over the whole sequence
for 1/N of the heads). diffusers' plan for its own Wan model splits the input of ``blocks.0`` and
the RoPE table and gathers the output of ``proj_out``; ours is the same, since our forward builds the joint sequence
and its shifted RoPE before the first block and drops the reference tokens after ``proj_out``.

A sequence whose length does not divide by N is padded at the end (the official code pads too, but leaves the
padding in attention): here the padding keys are masked out of every self-attention (Ulysses passes the mask of the
whole sequence to each process) and the padding tokens are dropped with the reference tokens, so the result is the
single-process result.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from ..errors import InputError

# Ring attention needs an attention kernel that returns log-sum-exp (flash / cuDNN on GPUs), not the portable one,
# and takes no mask; it is left out until it can be tested on a GPU.
KINDS = ("ulysses",)


def _processor_class():
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    class PaddedSelfAttention(WanAttnProcessor):
        """Wan's attention processor that masks padding keys out of self-attention (``key_padding_mask``)."""

        key_padding_mask: torch.Tensor | None = None

        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
            if encoder_hidden_states is None and attention_mask is None:
                attention_mask = self.key_padding_mask
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)

    return PaddedSelfAttention


def sequence_parallel_plan() -> dict:
    from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

    split_rope = ContextParallelInput(split_dim=1, expected_dims=4, split_output=True)
    return {
        "rope": {0: split_rope, 1: split_rope},
        "blocks.0": {"hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False)},
        "proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }


@contextmanager
def _cpu_as_accelerator():
    """diffusers resolves the process's device as ``rank % torch.accelerator.device_count()``, which divides by zero
    on a machine without one; a CPU run (gloo) counts its CPU as the one device."""
    if torch.accelerator.is_available():
        yield
        return
    original = torch.accelerator.device_count
    torch.accelerator.device_count = lambda: 1
    try:
        yield
    finally:
        torch.accelerator.device_count = original


def enable_sequence_parallel(model: torch.nn.Module, kind: str = "ulysses") -> int:
    """Split ``model``'s sequence over every process of the initialised default group; returns the degree."""
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    if kind not in KINDS:
        raise InputError(f"sequence parallelism is one of {', '.join(KINDS)}; got {kind!r}")
    if not (dist.is_available() and dist.is_initialized()):
        raise InputError("sequence parallelism needs several processes: launch with python -m torch.distributed.run")
    degree = dist.get_world_size()
    heads = model.config.num_attention_heads
    if kind == "ulysses" and heads % degree:
        raise InputError(f"Ulysses splits the {heads} attention heads: use a process count that divides {heads}")
    processor = _processor_class()
    for block in model.blocks:
        block.attn1.set_processor(processor())
    config = ContextParallelConfig(ulysses_degree=degree)
    with _cpu_as_accelerator():
        model.enable_parallelism(config=config, cp_plan=sequence_parallel_plan())
    model.sequence_parallel_degree = degree
    model.sequence_parallel_masks = kind == "ulysses"  # ring attention takes no mask: its sequence must split evenly
    return degree
