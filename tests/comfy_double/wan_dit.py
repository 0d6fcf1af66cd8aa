"""Double of ``comfy.ldm.wan.model`` (+ ``comfy.ops``): a minimal Wan 2.1 DiT with the host's module names and call
contract, so the pack's ``RealisDanceWanModel`` subclass runs in CPU tests without ComfyUI.

Our own implementation of the Wan 2.1 math (the paper's blocks: AdaLN modulation from a 6-way timestep projection,
RMS-normed q/k with 3-axis RoPE, image + text cross-attention, tanh-GELU FFN, a modulated head). What the subclass
relies on, and the double therefore keeps:

- parameter names of original Wan / ComfyUI files (``patch_embedding``, ``text_embedding.0``, ``blocks.N.self_attn.q``,
  ``blocks.N.norm3``, ``head.head``, ``head.modulation``, ``img_emb.proj.N``), so files load with the pack's renaming;
- ``forward(x, timestep, context, clip_fea=None, time_dim_concat=None, transformer_options={}, **kwargs)`` hands its
  arguments to ``_forward``, which the subclass overrides;
- blocks are called as ``block(x, e=e0, freqs=..., context=..., context_img_len=..., transformer_options=...)`` with
  ``e0`` of shape (B, 1, 6, dim); the head as ``head(x, e)`` with ``e`` (B, 1, dim);
- ``rope_embedder(ids)`` takes (1, L, 3) integer positions and returns rotations that, moved with ``movedim(1, 2)``,
  the blocks apply to q and k;
- ``unpatchify(tokens, grid_sizes)``.

The real host's model is independently checked against the core transformer in tests/host; this double is held
to the core (diffusers' Wan) by tests/test_native_model.py, so a wrong double fails there too.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class disable_weight_init:  # noqa: N801 (the host's name)
    """The layer classes the host's ``comfy.ops.disable_weight_init`` provides (here plain torch layers)."""

    Linear = nn.Linear
    Conv3d = nn.Conv3d
    Conv2d = nn.Conv2d
    LayerNorm = nn.LayerNorm
    RMSNorm = nn.RMSNorm
    GroupNorm = nn.GroupNorm
    Embedding = nn.Embedding


def sinusoidal_embedding_1d(dim: int, position: torch.Tensor) -> torch.Tensor:
    """Wan's timestep embedding: [cos | sin] of position * 10000^(-i/half)."""
    half = dim // 2
    position = position.to(torch.float32)
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = position[:, None] * frequencies.to(position.device)[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class RotaryPositions(nn.Module):
    """3-axis RoPE (frame, height, width) over consecutive channel pairs, theta 10000.

    Returns (1, 1, L, head_dim / 2, 2, 2) rotation matrices; after ``movedim(1, 2)`` they broadcast over heads.
    """

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        spatial = 2 * (head_dim // 6)
        self.axes = [head_dim - 2 * spatial, spatial, spatial]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        parts = []
        for axis, size in enumerate(self.axes):
            omega = 1.0 / (10000.0 ** (torch.arange(0, size, 2, dtype=torch.float64, device=ids.device) / size))
            angles = ids[..., axis].to(torch.float64)[..., None] * omega  # (1, L, size / 2)
            cos, sin = torch.cos(angles), torch.sin(angles)
            parts.append(torch.stack([cos, -sin, sin, cos], dim=-1).reshape(*angles.shape, 2, 2))
        return torch.cat(parts, dim=-3).unsqueeze(1).float()


def _rotate(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """x (B, L, heads, D) rotated pairwise by freqs (1, L, 1, D / 2, 2, 2)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    rotated = (freqs * pairs).sum(-1)
    return rotated.flatten(-2).type_as(x)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    b, lq, _ = q.shape
    q, k, v = (t.view(b, t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, lq, -1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, eps: float, ops) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (ops.Linear(dim, dim) for _ in range(4))
        self.norm_q = ops.RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.norm_k = ops.RMSNorm(dim, eps=eps, elementwise_affine=True)

    def forward(self, x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        q = _rotate(self.norm_q(self.q(x)).view(b, length, self.heads, -1), freqs).reshape(b, length, dim)
        k = _rotate(self.norm_k(self.k(x)).view(b, length, self.heads, -1), freqs).reshape(b, length, dim)
        return self.o(_attention(q, k, self.v(x), self.heads))


class CrossAttention(nn.Module):
    """Text cross-attention, plus a second attention over the CLIP tokens for I2V models (their sum)."""

    def __init__(self, dim: int, heads: int, eps: float, image: bool, ops) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (ops.Linear(dim, dim) for _ in range(4))
        self.norm_q = ops.RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.norm_k = ops.RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.image = image
        if image:
            self.k_img, self.v_img = ops.Linear(dim, dim), ops.Linear(dim, dim)
            self.norm_k_img = ops.RMSNorm(dim, eps=eps, elementwise_affine=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_img_len: int | None) -> torch.Tensor:
        q = self.norm_q(self.q(x))
        image_len = context_img_len if self.image and context_img_len else 0
        text = context[:, image_len:]
        out = _attention(q, self.norm_k(self.k(text)), self.v(text), self.heads)
        if image_len:
            clip = context[:, :image_len]
            out = out + _attention(q, self.norm_k_img(self.k_img(clip)), self.v_img(clip), self.heads)
        return self.o(out)


class AttentionBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int, eps: float, cross_attn_norm: bool, image: bool, ops):
        super().__init__()
        self.norm1 = ops.LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, heads, eps, ops)
        self.norm3 = ops.LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.cross_attn = CrossAttention(dim, heads, eps, image, ops)
        self.norm2 = ops.LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(ops.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), ops.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.zeros(1, 6, dim))

    def forward(self, x, e, freqs, context, context_img_len=257, transformer_options=None):
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation.unsqueeze(0) + e).unbind(2)
        x = x + self.self_attn(self.norm1(x) * (1 + scale1) + shift1, freqs) * gate1
        x = x + self.cross_attn(self.norm3(x), context, context_img_len)
        return x + self.ffn(self.norm2(x) * (1 + scale2) + shift2) * gate2


class Head(nn.Module):
    def __init__(self, dim: int, out_dim: int, patch_size, eps: float, ops) -> None:
        super().__init__()
        self.norm = ops.LayerNorm(dim, eps, elementwise_affine=False)
        self.head = ops.Linear(dim, out_dim * math.prod(patch_size))
        self.modulation = nn.Parameter(torch.zeros(1, 2, dim))

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        shift, scale = (self.modulation.unsqueeze(0) + e.unsqueeze(2)).unbind(2)
        return self.head(self.norm(x) * (1 + scale) + shift)


class ImageProjection(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, ops) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            ops.LayerNorm(in_dim), ops.Linear(in_dim, in_dim), nn.GELU(), ops.Linear(in_dim, out_dim),
            ops.LayerNorm(out_dim),
        )  # fmt: skip

    def forward(self, clip_fea: torch.Tensor) -> torch.Tensor:
        return self.proj(clip_fea)


class WanModel(nn.Module):
    def __init__(
        self,
        model_type="t2v",
        patch_size=(1, 2, 2),
        text_len=512,
        in_dim=16,
        dim=2048,
        ffn_dim=8192,
        freq_dim=256,
        text_dim=4096,
        out_dim=16,
        num_heads=16,
        num_layers=32,
        window_size=(-1, -1),
        qk_norm=True,
        cross_attn_norm=True,
        eps=1e-6,
        image_dim=1280,
        device=None,
        dtype=None,
        operations=None,
        **unused,
    ) -> None:
        super().__init__()
        ops = operations or disable_weight_init
        self.model_type, self.patch_size, self.dim, self.freq_dim = model_type, tuple(patch_size), dim, freq_dim
        self.in_dim, self.ffn_dim, self.text_dim, self.out_dim = in_dim, ffn_dim, text_dim, out_dim
        self.num_heads, self.num_layers = num_heads, num_layers
        self.patch_embedding = ops.Conv3d(in_dim, dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.text_embedding = nn.Sequential(
            ops.Linear(text_dim, dim), nn.GELU(approximate="tanh"), ops.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(ops.Linear(freq_dim, dim), nn.SiLU(), ops.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), ops.Linear(dim, dim * 6))
        image = model_type == "i2v"
        self.blocks = nn.ModuleList(
            AttentionBlock(dim, ffn_dim, num_heads, eps, cross_attn_norm, image, ops) for _ in range(num_layers)
        )
        self.head = Head(dim, out_dim, self.patch_size, eps, ops)
        self.img_emb = ImageProjection(image_dim, dim, ops) if image else None
        self.rope_embedder = RotaryPositions(dim // num_heads)

    def forward(self, x, timestep, context, clip_fea=None, time_dim_concat=None, transformer_options=None, **kwargs):
        options = {} if transformer_options is None else transformer_options
        return self._forward(x, timestep, context, clip_fea, time_dim_concat, transformer_options=options, **kwargs)

    def _forward(self, x, timestep, context, clip_fea=None, time_dim_concat=None, transformer_options=None, **kw):
        raise NotImplementedError("the double runs Wan subclasses only (they override _forward)")

    def unpatchify(self, tokens: torch.Tensor, grid_sizes) -> torch.Tensor:
        """(B, F*H*W, out*pt*ph*pw) -> (B, out, F*pt, H*ph, W*pw)."""
        frames, height, width = (int(v) for v in grid_sizes)
        p_t, p_h, p_w = self.patch_size
        grid = tokens.reshape(tokens.shape[0], frames, height, width, p_t, p_h, p_w, self.out_dim)
        return grid.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(
            tokens.shape[0], self.out_dim, frames * p_t, height * p_h, width * p_w
        )
