"""Pick how the job uses device memory: the fastest plan whose every stage fits the budget with headroom.

Candidates, fastest first (``auto``): every block resident; as many blocks resident as fit with the rest streamed
from pinned host memory (prefetched on a side stream, so at 50k tokens per forward the copies hide behind compute);
all blocks streamed; then the same with fp8 block storage, which changes the numbers a little and is therefore only
taken when nothing in the model's own precision fits. The encoders go to the CPU when they do not fit beside the
resident DiT; the VAE decode gets tiles small enough to fit. When no candidate fits, planning raises before any
work, naming what would fit.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

from ..encoders.vae_tiling import VaeTiling, default_overlap
from ..errors import InputError
from ..model.precision import DTYPES, FP8
from .activations import dit_activation_peak
from .sizes import GIB, JobSize, gib
from .stages import choose_vae_tiling, clip_activation_bytes, text_activation_bytes, vae_decode_peak
from .weights import DitWeights, dit_weights

MODES = ("auto", "resident", "stream", "stream-all", "fp8")
FP8_STORAGE = "fp8_e4m3fn"
IN_FLIGHT_BLOCKS = 2
_STAGE_ORDER = ("text encoder", "CLIP", "sampling", "VAE decode")  # the block computing and the one being prefetched


@dataclass(frozen=True)
class MemoryOptions:
    mode: str = "auto"
    budget_bytes: int | None = None  # device bytes we may use; None: the device's free memory (no limit on a CPU)
    headroom_bytes: int | None = None  # kept free for the allocator and kernels; None: max(0.75 GiB, 8 %)
    host_bytes: int | None = None  # RAM for pinned buffers; None: MemAvailable
    attention: str = "fused"  # "math" counts the (L x L) scores of the math SDPA kernel
    encoders_on_cpu: bool = False  # umT5 and CLIP run on the CPU: their device memory stays free (slower)
    vae_tile: int | None = None  # VAE tile side in px instead of the planned one; 0: untiled
    vae_overlap: int | None = None  # VAE tile overlap in px; None: a quarter of the tile
    # What fast sampling adds on the device: token-sized states a step cache keeps between forwards (TeaCache: one
    # residual per CFG branch), and LoRA weights kept as adapters beside the blocks (merged LoRAs add nothing).
    cached_token_states: int = 0
    adapter_bytes: int = 0
    # One clip on several processes (--parallel): each holds 1/N of the token sequence, and the whole model or, with
    # weight_shards = N (--shard-weights, FSDP2), 1/N of it plus the blocks gathered for the forward in flight.
    sequence_parallel: int = 1
    weight_shards: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown memory mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.vae_tile is not None and self.vae_tile < 0:
            raise InputError(f"VAE tile size {self.vae_tile} px is invalid: use 0 (untiled) or a multiple of 8")
        self.vae_tiling_for(None)  # an invalid tile / overlap is refused now, not when the decode starts
        if self.weight_shards > 1 and self.mode not in ("auto", "resident"):
            raise InputError(
                f"sharded weights stay on the device (1/{self.weight_shards} each); memory mode {self.mode!r} "
                "(streaming / fp8 storage) does not combine with them: use 'auto', or more processes"
            )

    def vae_tiling_for(self, planned: VaeTiling | None) -> VaeTiling | None:
        """The tiling to use when the plan chose ``planned``: the asked tile (0: untiled) and / or overlap win."""
        if self.vae_tile == 0:
            return None
        if self.vae_tile is not None:
            overlap = default_overlap(self.vae_tile) if self.vae_overlap is None else self.vae_overlap
            return VaeTiling(self.vae_tile, overlap)
        if planned is not None and self.vae_overlap is not None:
            return VaeTiling(planned.tile, self.vae_overlap)
        return planned

    def headroom(self, budget: int) -> int:
        if self.headroom_bytes is not None:
            return self.headroom_bytes
        return max(int(0.75 * GIB), int(0.08 * budget))


@dataclass(frozen=True)
class ModelFacts:
    """What planning needs to know about the model, without its weights."""

    config: dict
    dtype: str  # the DiT's storage precision as it will be loaded (a name of DTYPES)
    text_encoder_bytes: int = 0
    clip_bytes: int = 0
    vae_bytes: int = 0
    text_itemsize: int = 2  # umT5 runs in bf16 unless the whole job is fp32
    clip_itemsize: int = 4  # CLIP runs in fp32, as the release does

    def weights(self, dtype: str) -> DitWeights:
        return _cached_weights(json.dumps(self.config, sort_keys=True), dtype)


@functools.lru_cache(maxsize=8)
def _cached_weights(config_json: str, dtype: str) -> DitWeights:
    return dit_weights(json.loads(config_json), dtype)


@dataclass(frozen=True)
class StagePeak:
    name: str
    bytes: int
    detail: str = ""


@dataclass(frozen=True)
class MemoryPlan:
    kind: str  # resident | stream | stream-all | sharded | unlimited (no budget: everything where the device is)
    dtype: str
    num_blocks: int
    streamed_blocks: tuple[int, ...]
    pinned_bytes: int
    pin_memory: bool
    text_on_device: bool
    clip_on_device: bool
    vae_on_device: bool
    vae_tiling: object | None
    stages: tuple[StagePeak, ...]
    budget_bytes: int | None
    headroom_bytes: int
    job: JobSize
    park_dit: bool = False  # move the resident DiT blocks to the CPU while the encoders / VAE use the device
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def streams(self) -> bool:
        return bool(self.streamed_blocks)

    @property
    def peak_bytes(self) -> int:
        return max(stage.bytes for stage in self.stages)

    def stage(self, name: str) -> StagePeak:
        return next(stage for stage in self.stages if stage.name == name)

    def describe(self) -> str:
        budget = "no limit"
        if self.budget_bytes is not None:
            budget = f"{gib(self.budget_bytes)} (headroom {gib(self.headroom_bytes)})"
        resident = self.num_blocks - len(self.streamed_blocks)
        lines = [f"memory plan: {self.kind}, DiT blocks in {self.dtype}, budget {budget}, job {self.job.describe()}"]
        if self.streams:
            first, last = self.streamed_blocks[0], self.streamed_blocks[-1]
            pinned = "pinned" if self.pin_memory else "pageable (not enough RAM to pin)"
            lines.append(
                f"  DiT: {resident} of {self.num_blocks} blocks resident, blocks {first}-{last} streamed from "
                f"{pinned} host memory ({gib(self.pinned_bytes)})"
            )
        else:
            lines.append(f"  DiT: all {self.num_blocks} blocks resident")
        if self.budget_bytes is None:  # a CPU run: one memory, nothing moves
            lines[0] = lines[0].replace("budget no limit", "no device (a CPU run: everything in host RAM)")
            lines.append("  text encoder and CLIP: beside the DiT, in host RAM")
        else:
            where = {True: "device, then offloaded", False: "CPU"}
            lines.append(f"  text encoder: {where[self.text_on_device]}; CLIP: {where[self.clip_on_device]}")
        tiling = self.vae_tiling
        vae = "CPU" if not self.vae_on_device else ("untiled" if tiling is None else f"tiles {tiling.tile} px")
        lines.append(f"  VAE decode: {vae}")
        lines.append(
            "  predicted peak per stage: "
            + "; ".join(f"{s.name} {gib(s.bytes)}" + (f" ({s.detail})" if s.detail else "") for s in self.stages)
        )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _candidates(mode: str, dtype: str, shards: int = 1) -> list[tuple[str, str]]:
    """(kind, storage dtype) in the order tried."""
    if shards > 1:  # FSDP2 shards of the model's own precision (no fp8 storage: see parallel/sharding.py)
        return [] if DTYPES[dtype] in FP8 else [("sharded", dtype)]
    own = [("resident", dtype), ("stream", dtype)]
    fp8 = [] if DTYPES[dtype] in FP8 else [("resident", FP8_STORAGE), ("stream", FP8_STORAGE)]
    return {
        "auto": own + fp8,
        "resident": [("resident", dtype)],
        "stream": [("stream", dtype)],
        "stream-all": [("stream-all", dtype)],
        "fp8": fp8 or own,
    }[mode]


def _compute_bytes(dtype: str) -> int:
    return 2 if DTYPES[dtype] in FP8 else DTYPES[dtype].itemsize


def _sampler_state_bytes(facts: ModelFacts, job: JobSize) -> int:
    """Latents, velocities, conditions of both branches and the DiT input, all float32 on the device (one window's:
    a clip sampled in windows keeps its own latents and solver history on the CPU)."""
    latent = job.latent_frames * job.latent_height * job.latent_width * 4
    in_channels = facts.config["in_channels"]
    pose = facts.config.get("add_cond_in_dim", 32)
    text = 2 * 512 * facts.config["text_dim"] * 4
    return latent * (16 * 4 + in_channels + pose + 20) + text


def _resident_blocks(kind, weights, fixed, budget, streamed_cost) -> int | None:
    """How many blocks may stay resident for this kind (None: it does not fit)."""
    blocks = list(weights.block_bytes)
    if kind == "resident":
        return len(blocks) if fixed + sum(blocks) <= budget else None
    if kind == "stream-all":
        return 0 if fixed + streamed_cost <= budget else None
    for resident in range(len(blocks) - 1, -1, -1):  # keep the first blocks resident, stream the tail
        if fixed + sum(blocks[:resident]) + streamed_cost <= budget:
            return resident
    return None


@dataclass(frozen=True)
class _Request:
    """One planning question: this job, with these options, in this device budget (None: a CPU, no limit)."""

    facts: ModelFacts
    job: JobSize
    options: MemoryOptions
    budget: int | None
    headroom: int

    @property
    def usable(self) -> int | None:
        return None if self.budget is None else self.budget - self.headroom

    def sampling_fixed_bytes(self, dtype: str, job: JobSize | None = None) -> tuple[int, int]:
        """(bytes the sampling stage needs besides the DiT blocks, its activation part) for ``job`` (default: ours)."""
        job = job or self.job
        weights = self.facts.weights(dtype)
        compute = _compute_bytes(dtype)
        activations = dit_activation_peak(
            self.facts.config, job, compute, attention=self.options.attention, share=self.options.sequence_parallel
        ).total_bytes
        fixed = weights.other_bytes + activations + _sampler_state_bytes(self.facts, job) + weights.cast_bytes
        dim = self.facts.config["num_attention_heads"] * self.facts.config["attention_head_dim"]
        fixed += self.options.cached_token_states * job.tokens * dim * compute + self.options.adapter_bytes
        return fixed, activations


def plan_memory(facts: ModelFacts, job: JobSize, options: MemoryOptions = MemoryOptions(), free_bytes=None):
    """The fastest ``MemoryPlan`` that fits; ``free_bytes`` is the device's free memory (None: a CPU, no limit)."""
    budget = options.budget_bytes if options.budget_bytes is not None else free_bytes
    request = _Request(facts, job, options, budget, 0 if budget is None else options.headroom(budget))
    tried = []
    candidates = _candidates(options.mode, facts.dtype, options.weight_shards)
    if not candidates:
        raise InputError(f"sharded weights are kept in bf16, fp16 or fp32, not {facts.dtype}: load another dtype")
    for kind, dtype in candidates:
        plan = _try(request, kind, dtype)
        if plan is not None:
            return plan
        tried.append((kind, dtype))
    raise InputError(_refusal(request, tried))


def _try(request: _Request, kind: str, dtype: str) -> MemoryPlan | None:
    facts, usable = request.facts, request.usable
    weights = facts.weights(dtype)
    fixed, activations = request.sampling_fixed_bytes(dtype)
    streamed_cost = IN_FLIGHT_BLOCKS * weights.largest_block
    if kind == "sharded":  # this process's slices stay; the root's and two blocks' whole weights while in use
        resident_bytes = -(-(weights.other_bytes + sum(weights.block_bytes)) // request.options.weight_shards)
        sampling = fixed + resident_bytes + streamed_cost
        if usable is not None and sampling > usable:
            return None
        return _finish_plan(request, kind, dtype, sampling, activations, resident_bytes, ())
    if usable is None:
        resident = len(weights.block_bytes) if kind == "resident" else (0 if kind == "stream-all" else None)
        if resident is None:
            resident = len(weights.block_bytes)
    else:
        resident = _resident_blocks(kind, weights, fixed, usable, streamed_cost)
        if resident is None:
            return None
    streamed = tuple(range(resident, len(weights.block_bytes)))
    if kind == "stream" and not streamed and usable is not None:
        kind = "resident"  # everything fit after all
    resident_bytes = weights.other_bytes + sum(weights.block_bytes[:resident])
    sampling = fixed + sum(weights.block_bytes[:resident]) + (streamed_cost if streamed else 0)
    return _finish_plan(request, kind, dtype, sampling, activations, resident_bytes, streamed)


def _finish_plan(request: _Request, kind, dtype, sampling, activations, resident_bytes, streamed) -> MemoryPlan | None:
    """The other stages beside what the DiT keeps on the device (``resident_bytes``), the notes, the plan."""
    facts, job, options, usable = request.facts, request.job, request.options, request.usable
    weights = facts.weights(dtype)
    stages = [StagePeak("sampling", sampling, f"{gib(activations)} activations")]

    # A stage runs on the device beside the resident DiT when it fits; else with the DiT parked on the CPU for it
    # (moved back before sampling: seconds, against minutes for running the stage on the CPU); else on the CPU.
    park = False

    def where(name: str, weights_and_work: int) -> bool:
        nonlocal park
        if usable is None or resident_bytes + weights_and_work <= usable:
            stages.append(StagePeak(name, (resident_bytes if usable is not None else 0) + weights_and_work))
            return True
        if weights_and_work <= usable and kind != "sharded":  # shards are not parked: they are this process's only copy
            park = True
            stages.append(StagePeak(name, weights_and_work, "DiT parked on the CPU"))
            return True
        return False

    if options.encoders_on_cpu:
        text_on_device = clip_on_device = False
    else:
        text_on_device = where("text encoder", facts.text_encoder_bytes + text_activation_bytes(facts.text_itemsize))
        clip_on_device = where("CLIP", facts.clip_bytes + clip_activation_bytes(facts.clip_itemsize))
    vae_room = None if usable is None else usable - resident_bytes - facts.vae_bytes
    tiling, vae_work = choose_vae_tiling(job, vae_room if vae_room is not None else 1 << 62)
    if vae_room is not None and vae_work > vae_room:  # not beside the DiT: tiles for the room with it parked
        tiling, vae_work = choose_vae_tiling(job, usable - facts.vae_bytes)
    if options.vae_tile is not None or options.vae_overlap is not None:
        asked = options.vae_tiling_for(tiling)
        if asked != tiling:
            tiling, vae_work = asked, vae_decode_peak(job, asked)
    vae_on_device = where("VAE decode", facts.vae_bytes + vae_work)
    stages.sort(key=lambda stage: _STAGE_ORDER.index(stage.name))

    notes = []
    pinned = sum(weights.block_bytes[i] for i in streamed)
    host = options.host_bytes
    if host is None and streamed:
        from .device import available_host_bytes

        host = available_host_bytes()
    pin = bool(streamed) and (host is None or pinned <= 0.8 * host)
    if streamed and not pin:
        notes.append(f"streamed blocks ({gib(pinned)}) exceed 80% of free RAM, so they are pinned on the fly (slower)")
    if park:
        notes.append("the resident DiT blocks move to the CPU while the encoders / VAE run, and back for sampling")
    if dtype != facts.dtype:
        notes.append(f"blocks converted to {dtype} storage: nothing in {facts.dtype} fits this budget")
    if options.encoders_on_cpu:
        notes.append("the text encoder and CLIP run on the CPU, as asked (their device memory stays free)")
    if options.sequence_parallel > 1:
        held = f"1/{options.weight_shards} of the weights ({gib(resident_bytes)})"
        held = held if kind == "sharded" else "the whole model"
        notes.append(f"per process: {held} and 1/{options.sequence_parallel} of the {job.tokens:,} tokens (sequence "
                     "split, Ulysses); the encoders and the VAE run in the first process only")  # fmt: skip
    if options.cached_token_states or options.adapter_bytes:
        dim = facts.config["num_attention_heads"] * facts.config["attention_head_dim"]
        kept = options.cached_token_states * job.tokens * dim * _compute_bytes(dtype)
        parts = [f"{gib(kept)} of step-cache states"] if kept else []
        parts += [f"{gib(options.adapter_bytes)} of LoRA adapters"] if options.adapter_bytes else []
        notes.append("sampling includes " + " and ".join(parts))
    if not vae_on_device or not (options.encoders_on_cpu or (text_on_device and clip_on_device)):
        notes.append("stages marked CPU do not fit beside the resident DiT and run on the CPU (slower, not an error)")
    plan_kind = kind if usable is not None else ("unlimited" if kind == "resident" else kind)
    return MemoryPlan(
        kind=plan_kind,
        dtype=dtype,
        num_blocks=len(weights.block_bytes),
        streamed_blocks=streamed,
        pinned_bytes=pinned,
        pin_memory=pin,
        text_on_device=text_on_device,
        clip_on_device=clip_on_device,
        vae_on_device=vae_on_device,
        vae_tiling=tiling,
        stages=tuple(stages),
        park_dit=park,
        budget_bytes=request.budget,
        headroom_bytes=request.headroom,
        job=job,
        notes=tuple(notes),
    )


def _refusal(request: _Request, tried) -> str:
    """One actionable sentence: what the smallest plan needs and which smaller jobs would fit."""
    job, options, budget = request.job, request.options, request.budget
    dtype = tried[-1][1]
    if options.weight_shards > 1:
        return _sharded_refusal(request, dtype)
    streamed_cost = IN_FLIGHT_BLOCKS * request.facts.weights(dtype).largest_block

    def need(j: JobSize) -> int:
        return request.sampling_fixed_bytes(dtype, j)[0] + streamed_cost + request.headroom

    usable = budget
    options_text = []
    for frames in range(job.num_frames - 4, 0, -4):
        smaller = JobSize(frames, job.height, job.width, job.reference_height, job.reference_width, job.guidance)
        if need(smaller) <= usable:
            options_text.append(f"{frames} frames")
            break
    for scale in (0.875, 0.75, 0.625, 0.5):
        height, width = int(job.height * scale) // 16 * 16, int(job.width * scale) // 16 * 16
        smaller = JobSize(job.num_frames, height, width, None, None, job.guidance)
        if need(smaller) <= usable:
            options_text.append(f"{width}x{height}")
            break
    if not options_text:  # neither fewer frames nor a smaller size alone fits: the largest job with both reduced
        combos = [
            JobSize(frames, int(job.height * scale) // 16 * 16, int(job.width * scale) // 16 * 16, None, None,
                    job.guidance)
            for scale in (0.875, 0.75, 0.625, 0.5)
            for frames in range(job.num_frames - 4, 0, -4)
        ]  # fmt: skip
        fitting = [j for j in combos if need(j) <= usable]
        if fitting:
            best = max(fitting, key=lambda j: j.video_tokens)
            options_text.append(f"{best.num_frames} frames at {best.width}x{best.height}")
    if DTYPES[dtype] not in FP8 and options.mode not in ("auto", "fp8"):
        options_text.append("memory mode 'auto' (allows fp8 block storage)")
    suggestion = ", or ".join(options_text) if options_text else "a GPU with more free memory"
    return (
        f"this job ({job.describe()}) needs at least {gib(need(job))} of device memory even with every DiT block "
        f"streamed in {dtype}, but the budget is {gib(budget)}; try {suggestion}"
    )


def _sharded_refusal(request: _Request, dtype: str) -> str:
    """Sharded weights do not fit: how many processes would (the activations shrink with the sequence share too)."""
    job, options = request.job, request.options

    def need(shards: int) -> int:
        wider = dataclasses.replace(request, options=dataclasses.replace(options, weight_shards=shards,
                                                                         sequence_parallel=shards))  # fmt: skip
        fixed = wider.sampling_fixed_bytes(dtype)[0]
        weights = request.facts.weights(dtype)
        shard = -(-(weights.other_bytes + sum(weights.block_bytes)) // shards)
        return fixed + shard + IN_FLIGHT_BLOCKS * weights.largest_block + request.headroom

    heads = request.facts.config["num_attention_heads"]
    enough = next((n for n in range(options.weight_shards + 1, heads + 1) if heads % n == 0
                   and need(n) <= request.budget), None)  # fmt: skip
    advice = f"{enough} processes (--nproc-per-node {enough})" if enough else "fewer frames or a smaller size"
    return (
        f"this job ({job.describe()}) needs {gib(need(options.weight_shards))} of device memory per process with the "
        f"weights sharded over {options.weight_shards} processes, but the budget is {gib(request.budget)}; try "
        f"{advice}"
    )
