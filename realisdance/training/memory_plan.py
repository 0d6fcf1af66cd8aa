"""Device memory of one training step, worked out before anything loads, and a refusal that says what would fit.

Per process:
- weights: fp32 master weights (1/N of them when sharded, plus the two blocks FSDP2 gathers whole around the one
  that runs and the root's own weights, whole from the forward to the backward); LoRA adapters beside a frozen base;
- gradients (fp32) and AdamW's two moments (fp32) of the trained parameters (1/N each when sharded; DDP keeps a
  second copy of the gradients in its communication buckets);
- bf16 autocast: the bf16 copies of the trained weights, cached for the step;
- the optimiser step (after the activations are freed): AdamW's foreach kernels make one temporary the size of the
  trained parameters;
- activations and gradients: what the forward keeps for the backward, the backward's own working set and the
  gradients made so far (at their real precision and share), *measured* by running
  one forward and backward of the real architecture at the real size on the meta device (no memory, no time) and
  counting every live storage op by op (``realisdance.memory.measure``); attention as a fused kernel (flash /
  memory-efficient SDPA keep q, k, v, the output and a float32 log-sum-exp). Under autocast the frozen weights'
  bf16 copies that matmuls keep for the backward are counted too (all blocks', or one block's with gradient
  checkpointing).
"""

from __future__ import annotations

import functools
import json
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..memory.measure import LiveBytesMode
from ..memory.sizes import JobSize, gib

FP32 = 4
BF16 = 2
DDP_BUCKETS = 1  # DDP's gradient buckets: one more copy of the gradients


@dataclass(frozen=True)
class TrainingMemory:
    weights: int
    gradients: int
    optimizer: int
    compute_copies: int
    backward_peak: int  # activations and the gradients made so far, at the backward's worst moment
    step_scratch: int = 0  # AdamW's foreach step: one temporary the size of the trained parameters
    processes: int = 1
    sharded: bool = False
    checkpointing: bool = False

    @property
    def total(self) -> int:
        """The backward's peak or the optimiser step's (all gradients and a temporary; the activations are gone by
        then), whichever is larger, over the weights and the optimiser state."""
        backward = self.compute_copies + self.backward_peak
        return self.weights + self.optimizer + max(backward, self.gradients + self.step_scratch)

    def describe(self) -> str:
        where = f", per process of {self.processes}" + (" (weights sharded)" if self.sharded else "")
        parts = [f"weights {gib(self.weights)}", f"AdamW {gib(self.optimizer)}", f"gradients {gib(self.gradients)}"]
        if self.compute_copies:
            parts.append(f"bf16 copies {gib(self.compute_copies)}")
        recompute = "with" if self.checkpointing else "without"
        parts.append(f"activations and gradients so far {gib(self.backward_peak)} at the backward's peak ({recompute} "
                     "gradient checkpointing)")  # fmt: skip
        return f"training memory{where if self.processes > 1 else ''}: {gib(self.total)} = " + ", ".join(parts)


class _FusedAttention(torch.autograd.Function):
    """The memory of flash / memory-efficient SDPA: forward keeps q, k, v, the output and a float32 log-sum-exp;
    backward makes dq, dk, dv (no (L x L) scores, which the meta device's math path would count)."""

    @staticmethod
    def forward(ctx, query, key, value):
        out = torch.empty((*query.shape[:-1], value.shape[-1]), dtype=query.dtype, device=query.device)
        lse = torch.empty(query.shape[:-1], dtype=torch.float32, device=query.device)
        ctx.save_for_backward(query, key, value, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad):
        query, key, value, _, _ = ctx.saved_tensors
        return torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)


@contextmanager
def _fused_attention():
    """SDPA replaced by ``_FusedAttention`` while measuring: patched on the module (not a function mode), because the
    recomputation of checkpointed blocks runs inside the autograd engine, where modes are not active."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention

    def fused(query, key, value, *args, **kwargs):
        return _FusedAttention.apply(query, key, value)

    F.scaled_dot_product_attention = fused
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def meta_inputs(config: dict, job: JobSize, dtype: torch.dtype) -> dict:
    t, h, w = job.latent_frames, job.latent_height, job.latent_width
    image = config.get("image_dim")

    def empty(*shape):
        return torch.empty(*shape, device="meta", dtype=dtype)

    return {
        "hidden_states": empty(1, config["in_channels"], t, h, w),
        "timestep": torch.empty(1, device="meta"),
        "encoder_hidden_states": empty(1, 512, config["text_dim"]),
        "encoder_hidden_states_image": None if image is None else empty(1, 257, image),
        "add_cond": empty(1, config["add_cond_in_dim"], t, h, w),
        "attn_cond": empty(1, config["attn_cond_in_dim"], 1, job.height // 8, job.width // 8),
    }


def measure_training_step(config: dict, job: JobSize, parts, dtype: torch.dtype, checkpointing: bool,
                          gradient_scale: float = 1.0) -> dict:  # fmt: skip
    """Peak live bytes of one forward + backward on the meta device (weights and inputs excluded; each finished
    gradient counted ``gradient_scale`` times its bytes, for its real precision and share), the trained / total
    parameter counts, and the bytes of weights the matmuls keep."""
    from ..memory.measure import cache_rope_on_meta
    from ..model import build_transformer
    from .parts import select_trainable

    model = build_transformer(config, device="meta", dtype=dtype)
    select_trainable(model, parts)
    if checkpointing:
        model.enable_gradient_checkpointing()
    model.train()
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    in_blocks = sum(p.numel() for p in model.blocks.parameters())
    linear_weights = sum(m.weight.numel() for m in model.blocks[0].modules() if isinstance(m, torch.nn.Linear))
    inputs = meta_inputs(config, job, dtype)
    grid = (job.latent_frames, job.height // 16, job.width // 16)
    setup = cache_rope_on_meta(model, grid, (1, job.height // 16, job.width // 16))
    external = [*model.parameters(), *[v for v in inputs.values() if isinstance(v, torch.Tensor)]]
    tracker = _TrainingBytes(external)
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.register_post_accumulate_grad_hook(lambda p: tracker.scale(p.grad, gradient_scale))
    with _fused_attention(), tracker:
        setup()
        out = model(**inputs, return_dict=False)[0]
        out.float().square().mean().backward()
        del out
    return {"peak": tracker.peak_bytes, "trained": trained, "total": total, "block_linear": linear_weights,
            "blocks": len(model.blocks), "outside_blocks": total - in_blocks}  # fmt: skip


@functools.lru_cache(maxsize=16)
def _measured(config_json: str, job: JobSize, parts, bf16: bool, checkpointing: bool, gradient_scale: float) -> dict:
    """One meta run per distinct question (a few seconds for the 14B model at full size)."""
    compute = torch.bfloat16 if bf16 else torch.float32
    return measure_training_step(json.loads(config_json), job, parts, compute, checkpointing, gradient_scale)


def plan_training_memory(config: dict, job: JobSize, parts, bf16: bool, checkpointing: bool, processes: int = 1,
                         sharded: bool = False) -> TrainingMemory:  # fmt: skip
    share = processes if sharded else 1
    ddp = processes > 1 and not sharded
    # Gradients are fp32 (the master weights'); sharded, each block's are reduce-scattered to 1/N after its backward;
    # DDP copies them into its buckets.
    scale = FP32 / (BF16 if bf16 else FP32) / share * (1 + DDP_BUCKETS if ddp else 1)
    measured = _measured(json.dumps(config, sort_keys=True), job, parts, bf16, checkpointing, scale)
    trained, total = measured["trained"], measured["total"]
    block = (total - measured["outside_blocks"]) // max(1, measured["blocks"])
    weights = -(-total * FP32 // share)
    if sharded:  # two blocks gathered whole around the one running, and the root's weights whole until the backward
        weights += (2 * block + measured["outside_blocks"]) * FP32
    gradients = -(-trained * FP32 // share) * (1 + (DDP_BUCKETS if ddp else 0))
    optimizer = -(-2 * trained * FP32 // share)
    copies = 0
    if bf16:  # autocast's weight copies: the trained ones cached for the step, the frozen ones kept by matmuls
        kept_blocks = 1 if checkpointing else measured["blocks"]
        copies = trained * BF16 + kept_blocks * measured["block_linear"] * BF16
    scratch = -(-trained * FP32 // share)
    return TrainingMemory(weights, gradients, optimizer, copies, measured["peak"], scratch, processes, sharded,
                          checkpointing)  # fmt: skip


class _TrainingBytes(LiveBytesMode):
    """Live bytes with each finished gradient reweighted to what it really takes (precision, share)."""

    def scale(self, tensor: torch.Tensor, factor: float) -> None:
        key = tensor.untyped_storage()._cdata
        if key in self._live:
            reference, nbytes = self._live[key]
            scaled = int(nbytes * factor)
            self._live[key] = (reference, scaled)
            self.live_bytes += scaled - nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)


def check_training_fits(memory: TrainingMemory, budget: int | None, strategy: str) -> None:
    """Refuse a run that cannot fit ``budget`` bytes of device memory, naming what to change (None: a CPU)."""
    if budget is None or memory.total <= budget:
        return
    advice = []
    if not memory.checkpointing:
        advice.append("--gradient-checkpointing")
    if strategy == "full":
        advice.append("--train part (the paper's) or lora")
    elif strategy == "part":
        advice.append("--train lora")
    if not memory.sharded:
        advice.append("several GPUs with --shard-weights (python -m torch.distributed.run --nproc-per-node N)")
    advice.append("fewer --frames or a smaller --max-area")
    raise InputError(
        f"one training step needs about {gib(memory.total)} of device memory ({memory.describe()}), but "
        f"{gib(budget)} is free; try {', or '.join(advice)}"
    )
