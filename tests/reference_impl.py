"""A second, independent RealisDance-DiT forward written from the spec (tests only).

It follows the official formulation rather than ours: RoPE as complex multiplication with a polar table indexed by
explicit per-token positions built in Python loops, attention written out with SDPA, and unpatchify with einops.
Only the weight-holding submodules (linear layers, norms, embedders) are shared with the model under test.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from einops import rearrange

SHIFT_F_SIZE = 81


def polar_tables(head_dim: int = 128, length: int = 1024, theta: float = 10000.0):
    """Complex rotation tables per axis, as the official (diffusers 0.33) WanRotaryPosEmbed built them."""
    hw = 2 * (head_dim // 6)
    tables = []
    for dim in (head_dim - 2 * hw, hw, hw):
        omega = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        angles = torch.outer(torch.arange(length, dtype=torch.float64), omega)
        tables.append(torch.polar(torch.ones_like(angles), angles))
    return tables


def token_positions(video_grid, reference_grid, shift_f: bool, shift_h: bool, shift_w: bool) -> list[tuple]:
    positions = list(itertools.product(*(range(n) for n in video_grid)))
    if reference_grid is not None:
        _, vh, vw = video_grid
        for f, i, j in itertools.product(*(range(n) for n in reference_grid)):
            positions.append((f + SHIFT_F_SIZE * shift_f, i + vh * shift_h, j + vw * shift_w))
    return positions


def complex_rotary(positions, head_dim=128) -> torch.Tensor:
    tables = polar_tables(head_dim)
    index = torch.tensor(positions)
    return torch.cat([table[index[:, axis]] for axis, table in enumerate(tables)], dim=-1)  # (L, head_dim/2)


class ComplexRopeSelfAttention:
    """Self-attention processor applying RoPE by complex multiplication in float64, as the release does."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        q = attn.norm_q(attn.to_q(hidden_states))
        k = attn.norm_k(attn.to_k(hidden_states))
        v = attn.to_v(hidden_states)
        q, k, v = (t.unflatten(2, (attn.heads, -1)).transpose(1, 2) for t in (q, k, v))

        def rotate(x):
            pairs = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
            return torch.view_as_real(pairs * rotary_emb).flatten(-2).type_as(x)

        out = F.scaled_dot_product_attention(rotate(q), rotate(k), v)
        return attn.to_out[0](out.transpose(1, 2).flatten(2))


def reference_forward(
    model,
    hidden_states,
    timestep,
    encoder_hidden_states,
    encoder_hidden_states_image=None,
    add_cond=None,
    attn_cond=None,
):
    cfg = model.config
    pt, ph, pw = cfg.patch_size
    b, _, t, h, w = hidden_states.shape
    video_grid = (t // pt, h // ph, w // pw)
    video = rearrange(model.patch_embedding(hidden_states), "b d f h w -> b (f h w) d")
    if add_cond is not None:
        video = video + model.add_proj(rearrange(model.add_conv_in(add_cond), "b d f h w -> b (f h w) d"))
    sequence, reference_grid = video, None
    if attn_cond is not None:
        reference = model.attn_conv_in(attn_cond)
        reference_grid = tuple(reference.shape[2:])
        sequence = torch.cat([video, rearrange(reference, "b d f h w -> b (f h w) d")], dim=1)
    rotary = complex_rotary(
        token_positions(video_grid, reference_grid, cfg.shift_f, cfg.shift_h, cfg.shift_w), cfg.attention_head_dim
    )

    temb, timestep_proj, context, image_context = model.condition_embedder(
        timestep, encoder_hidden_states, encoder_hidden_states_image
    )
    if image_context is not None:
        context = torch.cat([image_context, context], dim=1)
    saved = [block.attn1.processor for block in model.blocks]
    try:
        for block in model.blocks:
            block.attn1.processor = ComplexRopeSelfAttention()
            sequence = block(sequence, context, timestep_proj.unflatten(1, (6, -1)), rotary)
    finally:
        for block, processor in zip(model.blocks, saved, strict=True):
            block.attn1.processor = processor
    shift, scale = (model.scale_shift_table + temb[:, None]).chunk(2, dim=1)
    sequence = model.proj_out(F.layer_norm(sequence.float(), sequence.shape[-1:], eps=cfg.eps) * (1 + scale) + shift)
    video_out = sequence[:, : video.shape[1]]
    f, hh, ww = video_grid
    return rearrange(
        video_out, "b (f h w) (pf ph pw c) -> b c (f pf) (h ph) (w pw)", f=f, h=hh, w=ww, pf=pt, ph=ph, pw=pw
    )
