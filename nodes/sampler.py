"""RealisDance Sampler (deprecated): the pipeline path's sampler, now sampling the native MODEL on the host.

Saved workflows keep this node and its widgets. It turns the condition bundle of 'RealisDance Conditions' into the
native CONDITIONING ('RealisDance To Video' builds the same) and samples with the release preset
('RealisDance Sampler (release preset)': the host's sampling with the release's flow-UniPC), so the host's memory
manager, model patches and previews apply. The options the native path gives other homes are mapped or refused:
shift -> a model-sampling patch on a clone, TeaCache -> the native TeaCache patch; long clips -> ComfyUI's context
windows; another scheduler -> KSampler; memory placement -> ComfyUI's memory manager (the summary says so).
"""

from __future__ import annotations

import logging
import time

import torch

from realisdance.encoders.scheduler import KINDS
from realisdance.errors import InputError
from realisdance.memory import MODES
from realisdance.pipeline.preprocess import MAX_FRAMES
from realisdance.pipeline.sampling import SamplerSettings
from realisdance.pipeline.window_sampling import DEFAULT_SCHEME, SCHEMES
from realisdance.pipeline.windows import DEFAULT_OVERLAP_FRAMES, DEFAULT_WINDOW_FRAMES, check_window

from . import host
from .deprecation import deprecated
from .host import io

logger = logging.getLogger(__name__)

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes any non-negative int64
NATIVE_SCHEDULERS = ("auto", "unipc")  # the release's flow-UniPC, which the release preset runs


class RealisDanceSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        defaults = SamplerSettings()
        schema = io.Schema(
            node_id="RealisDanceSampler",
            display_name="RealisDance Sampler",
            category="RealisDance",
            description=(
                "Samples the conditions of 'RealisDance Conditions' with the release preset on ComfyUI's sampling "
                "(kept so saved workflows run). Outputs a Wan 2.1 LATENT for VAE Decode."
            ),
            inputs=[
                io.MultiType.Input(
                    "model", types=host.REALISDANCE_MODEL_TYPES, tooltip="RealisDance-DiT (MODEL), with any patches."
                ),
                host.RealisDanceConditions.Input("conditions", tooltip="From RealisDance Conditions, same model."),
                io.Int.Input(
                    "seed",
                    default=defaults.seed,
                    min=0,
                    max=SEED_MAX,
                    control_after_generate=True,
                    tooltip="Noise seed (drawn on the CPU, so a seed gives the same video on every device).",
                ),
                io.Int.Input("steps", default=defaults.steps, min=1, max=1000, tooltip="Sampling steps (release: 40)."),
                io.Float.Input(
                    "cfg",
                    default=defaults.guidance,
                    min=1.0,
                    max=30.0,
                    step=0.1,
                    round=0.01,
                    tooltip="Classifier-free guidance (release: 2.0). 1 runs one forward per step instead of two.",
                ),
                io.Float.Input(
                    "shift",
                    default=0.0,
                    min=0.0,
                    max=100.0,
                    step=0.1,
                    round=0.01,
                    tooltip="Flow shift; 0 = the release's scheduler config (or Wan 2.1 I2V's 5.0 for single files).",
                ),
                io.Combo.Input(
                    "scheduler",
                    options=list(KINDS),
                    default="auto",
                    tooltip="auto = the release's flow-UniPC (the only choice here; KSampler samples with the others).",
                ),
                io.Float.Input(
                    "denoise",
                    default=1.0,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    tooltip="1 starts from pure noise. Below 1, starts from the connected latent noised to that "
                    "strength (the last steps of a round(steps/denoise)-step schedule).",
                ),
                io.Latent.Input(
                    "latent",
                    optional=True,
                    tooltip="Optional start latent (Wan 2.1 layout, same size and frames as the conditions).",
                ),
                io.Combo.Input(
                    "memory",
                    options=list(MODES),
                    default="auto",
                    optional=True,
                    tooltip="Kept for saved workflows: ComfyUI's memory manager places the model (the summary says "
                    "when a setting is not applied).",
                ),
                io.Float.Input(
                    "vram_budget_gb",
                    default=0.0,
                    min=0.0,
                    max=1024.0,
                    step=0.25,
                    optional=True,
                    tooltip="Kept for saved workflows: ComfyUI's memory manager decides (--reserve-vram leaves room).",
                ),
                io.Boolean.Input(
                    "keep_on_device",
                    default=False,
                    optional=True,
                    tooltip="Kept for saved workflows: ComfyUI's memory manager keeps or offloads the model.",
                ),
                io.Float.Input(
                    "teacache_threshold",
                    default=0.0,
                    min=0.0,
                    max=1e6,
                    step=0.01,
                    optional=True,
                    tooltip="TeaCache as the release runs it (the 'RealisDance TeaCache' patch): 0 = off; 0.2 = the "
                    "release's threshold. The summary says how many forwards were skipped.",
                ),
                io.Int.Input(
                    "window_frames",
                    default=DEFAULT_WINDOW_FRAMES,
                    min=5,
                    max=MAX_FRAMES,
                    step=4,
                    optional=True,
                    tooltip="Clips up to this long are sampled as the release does; longer clips are refused with the "
                    "native way (ComfyUI's context windows on the MODEL).",
                ),
                io.Int.Input(
                    "window_overlap",
                    default=DEFAULT_OVERLAP_FRAMES,
                    min=0,
                    max=1000,
                    step=4,
                    optional=True,
                    tooltip="Kept for saved workflows (windows are ComfyUI's context windows now).",
                ),
                io.Combo.Input(
                    "window_scheme",
                    options=list(SCHEMES),
                    default=DEFAULT_SCHEME,
                    optional=True,
                    tooltip="Kept for saved workflows (windows are ComfyUI's context windows now).",
                ),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="Wan 2.1 LATENT {'samples': [B,16,T,H/8,W/8]}.")],
        )
        return deprecated(schema)

    @classmethod
    def execute(
        cls,
        model,
        conditions,
        seed: int = 1024,
        steps: int = 40,
        cfg: float = 2.0,
        shift: float = 0.0,
        scheduler: str = "auto",
        denoise: float = 1.0,
        latent=None,
        memory: str = "auto",
        vram_budget_gb: float = 0.0,
        keep_on_device: bool = False,
        teacache_threshold: float = 0.0,
        window_frames: int = DEFAULT_WINDOW_FRAMES,
        window_overlap: int = DEFAULT_OVERLAP_FRAMES,
        window_scheme: str = DEFAULT_SCHEME,
    ) -> io.NodeOutput:
        from .native.release_sampler import sample_release, with_shift
        from .native.signature import signature_of
        from .native.step_cache import teacache_of, with_teacache
        from .native_nodes import native_conditioning

        signature = signature_of(model)  # everything refused here happens before anything slow
        if signature != conditions.signature:
            raise InputError(
                f"these conditions were built for another model ({conditions.signature}) than the one sampling "
                f"({signature}). Build the conditions again with this model connected."
            )
        check_window(window_frames, window_overlap)
        _check_native_options(conditions, scheduler, window_frames, denoise, latent)
        start = latent if latent is not None else {"samples": torch.zeros(conditions.latent_shape)}
        if tuple(start["samples"].shape) != tuple(conditions.latent_shape):
            raise InputError(
                f"the start latent is {tuple(start['samples'].shape)} but these conditions sample "
                f"{tuple(conditions.latent_shape)}; connect a latent of the same size and frames."
            )
        patched = with_shift(model, shift) if shift > 0 else model
        if teacache_threshold > 0:
            patched = with_teacache(patched, teacache_threshold)
        positive, negative = native_conditioning(conditions, {}, {}, {})
        started = time.perf_counter()
        out = sample_release(patched, positive, negative, start, seed, steps, cfg, denoise)
        used_shift = float(patched.get_model_object("model_sampling").shift)
        line = (
            f"{conditions.width}x{conditions.height}, {conditions.num_frames} frames, {steps} steps, cfg {cfg:g}, "
            f"UniPC shift {used_shift:g}, seed {seed}, denoise {denoise:g}, {time.perf_counter() - started:.1f} s"
        )
        teacache = teacache_of(patched.model_options.get("transformer_options", {}))
        if teacache is not None:
            teacache.finish()
            line += f"; {teacache.last_report}"
        handed_over = _memory_settings_handed_over(memory, vram_budget_gb, keep_on_device)
        if handed_over:
            logger.warning("RealisDance Sampler (deprecated): %s", handed_over)
            line += f"; {handed_over}"
        return io.NodeOutput(out, ui={"realisdance_summary": [line]})


def _check_native_options(conditions, scheduler: str, window_frames: int, denoise: float, latent) -> None:
    """Refuse, in one sentence naming the native way, what this shim cannot sample as the old node did."""
    if scheduler not in NATIVE_SCHEDULERS:
        raise InputError(
            f"scheduler '{scheduler}' is not the release's solver, which this deprecated node now samples with; "
            "set it to 'auto', or sample the MODEL with ComfyUI's KSampler (e.g. euler / simple)."
        )
    if conditions.num_frames > window_frames:
        raise InputError(
            f"this clip has {conditions.num_frames} frames, more than window_frames ({window_frames}): long clips "
            "are now sampled with ComfyUI's context windows. Build the graph with 'RealisDance To Video', put "
            "'WAN Context Windows (Manual)' on the MODEL and sample with 'RealisDance Sampler (release preset)'."
        )
    if denoise < 1.0 and latent is None:
        raise InputError(f"denoise {denoise:g} starts from a given latent: connect one, or set denoise to 1.")


def _memory_settings_handed_over(memory: str, vram_budget_gb: float, keep_on_device: bool) -> str:
    """The old placement settings a workflow set, which ComfyUI's memory manager now decides ('' when none)."""
    changed = [name for name, is_set in (("memory", memory != "auto"), ("vram_budget_gb", vram_budget_gb > 0),
                                         ("keep_on_device", keep_on_device)) if is_set]  # fmt: skip
    if not changed:
        return ""
    return f"{', '.join(changed)} not applied: ComfyUI's memory manager places the model"


NODES: list[type[io.ComfyNode]] = [RealisDanceSampler]
