"""Peak activation bytes of one DiT forward, from the config and the job size.

Derived by walking the code the forward runs (our ``transformer.py`` and diffusers' ``WanTransformerBlock``) and
listing what is alive at its three worst moments; checked against a live-storage count of the real 14B architecture
(``benchmarks/plan_vs_measured.py``). With u = one (tokens x dim) tensor in the compute dtype (c bytes/element) and
f32 = the same tensor in float32:

- always alive: the block input (held by the caller's loop), the RoPE tables (cached), the text/CLIP context (the
  pose tokens are added and freed before the first block);
- q/k RMS norm (self- and cross-attention): normed input + q, k, v (self) or the new residual + the self-attention
  output + q (cross): 4u, plus the norm's float32 upcast and two float32 products: 3 f32 (2 when c is float32);
- FFN residual: residual, cross-attention output, normed input, FFN output (4u), plus float32 copies and products
  (3 f32 in bf16/fp16, 2 in float32);
- GELU: residual, cross-attention output, normed input (3u) plus the FFN hidden twice (projection and GELU output).

Attention itself is counted as a fused kernel (flash / memory-efficient SDPA: output + float32 log-sum-exp), which
stays below the norm peaks; the math kernel's (L x L) scores are counted separately when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wan_constants import CLIP_TOKENS, TEXT_TOKENS
from .sizes import JobSize

FLOAT32 = 4


@dataclass(frozen=True)
class ActivationEstimate:
    total_bytes: int
    persistent_bytes: int  # alive across all blocks
    block_peak_bytes: int  # extra at the worst moment of a block
    worst_phase: str

    def describe(self) -> str:
        return f"{self.total_bytes / 1024**3:.2f} GiB (worst inside a block: {self.worst_phase})"


def dit_activation_peak(
    config: dict, job: JobSize, compute_bytes: int = 2, batch: int = 1, attention: str = "fused", share: int = 1
) -> ActivationEstimate:
    """Peak bytes alive during one forward at ``batch`` (our sampler runs each CFG branch at batch 1).

    ``share``: the sequence is split over this many processes (Ulysses); each holds ceil(tokens / share) tokens,
    and after its all-to-all the whole sequence for 1/share of the heads, the same number of elements."""
    heads, head_dim = config["num_attention_heads"], config["attention_head_dim"]
    dim, ffn = heads * head_dim, config["ffn_dim"]
    tokens = -(-job.tokens // share)
    c = compute_bytes
    upcast = FLOAT32 if c < FLOAT32 else 0  # .float() copies only when the compute dtype is narrower
    u = batch * tokens * dim  # elements of one (tokens x dim) tensor

    context_tokens = TEXT_TOKENS + (CLIP_TOKENS if config.get("image_dim") is not None else 0)
    persistent = (
        u * c  # block input
        + 2 * tokens * head_dim * FLOAT32  # RoPE cos/sin, float32
        + batch * context_tokens * dim * c
    )
    phases = {
        "q/k RMS norm": u * (4 * c + upcast + 2 * FLOAT32),
        "FFN residual": u * (4 * c + max(2 * upcast + FLOAT32, upcast + 2 * FLOAT32)),
        "GELU": u * 3 * c + 2 * batch * tokens * ffn * c,
    }
    if attention == "math":  # (L x L) scores per head in float32 plus their softmax
        phases["attention scores"] = u * 5 * c + 2 * batch * heads * tokens * tokens * FLOAT32
    worst = max(phases, key=phases.get)
    return ActivationEstimate(persistent + phases[worst], persistent, phases[worst], worst)
