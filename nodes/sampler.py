"""The sampler node: conditions -> Wan 2.1 LATENT (un-normalised, so native nodes can take it)."""

from __future__ import annotations

import dataclasses
import os
import time

from realisdance.caching import StepCacheSettings, TeaCache, cached_token_states
from realisdance.encoders import WAN21_I2V_SCHEDULER_CONFIG, load_scheduler, scheduler_shift
from realisdance.encoders.scheduler import KINDS
from realisdance.memory import GIB, MODES, MemoryOptions
from realisdance.memory.loaded import placed_for_sampling, plan_for_loaded, room_to_request
from realisdance.pipeline.preprocess import MAX_FRAMES
from realisdance.pipeline.sampling import SamplerSettings, sample
from realisdance.pipeline.window_sampling import DEFAULT_SCHEME, SCHEMES
from realisdance.pipeline.windows import (
    DEFAULT_OVERLAP_FRAMES,
    DEFAULT_WINDOW_FRAMES,
    WindowPlan,
    check_window,
    latent_frames_of,
)

from . import host
from .deprecation import deprecated
from .host import io
from .latents import from_comfy_latent, to_comfy_latent
from .plan_summary import short_plan

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes any non-negative int64


def scheduler_for(model_path: str, kind: str, shift: float):
    """The release folder's scheduler config when the model came from one, else Wan 2.1 I2V's; shift 0 keeps
    the config's own shift."""
    source = model_path if os.path.isdir(os.path.join(model_path, "scheduler")) else WAN21_I2V_SCHEDULER_CONFIG
    return load_scheduler(source, kind=kind, shift=shift if shift > 0 else None)


def memory_options(memory: str, vram_budget_gb: float) -> MemoryOptions:
    """The planner's options from the node's widgets (budget 0 = the device's free memory)."""
    return MemoryOptions(mode=memory, budget_bytes=int(vram_budget_gb * GIB) if vram_budget_gb > 0 else None)


def plan_sampling(transformer, job, options: MemoryOptions):
    """Make room on the device (the host unloads its own models as far as needed), then plan from what is free.

    The planner's refusal reaches the user as is (the core words it for no particular front end)."""
    host.make_room(room_to_request(transformer, job, options))
    return plan_for_loaded(transformer, job, options, host.free_device_bytes())


class RealisDanceSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        defaults = SamplerSettings()
        schema = io.Schema(
            node_id="RealisDanceSampler",
            display_name="RealisDance Sampler",
            category="RealisDance",
            description=(
                "Flow-matching sampling with the release's timesteps and CFG (conditional then unconditional pass). "
                "Outputs a Wan 2.1 LATENT that ComfyUI's own VAE Decode accepts too."
            ),
            inputs=[
                host.RealisDanceModel.Input("model", tooltip="From RealisDance-DiT Loader."),
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
                    tooltip="auto = the class the release's config names (flow-UniPC); euler = flow-matching Euler.",
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
                    tooltip=(
                        "How the DiT uses device memory, planned from this job's size before the first step. auto = "
                        "the fastest plan that fits: all blocks resident, else the first blocks resident and the "
                        "rest streamed from pinned host memory, else all streamed, else fp8 storage. resident / "
                        "stream / stream-all force a kind of plan; fp8 allows only fp8 block storage (converts the "
                        "loaded model). A job that cannot fit is refused before sampling, saying what would fit."
                    ),
                ),
                io.Float.Input(
                    "vram_budget_gb",
                    default=0.0,
                    min=0.0,
                    max=1024.0,
                    step=0.25,
                    optional=True,
                    tooltip="Device memory to plan for, in GiB; 0 = what is free after ComfyUI unloads its own "
                    "models as far as needed. Set it to leave room for other programs.",
                ),
                io.Boolean.Input(
                    "keep_on_device",
                    default=False,
                    optional=True,
                    tooltip="Keep the DiT placed on the device after the run (faster re-runs, but the memory stays "
                    "taken). Off: it goes back to host memory. After an error or Cancel it always goes back.",
                ),
                io.Float.Input(
                    "teacache_threshold",
                    default=0.0,
                    min=0.0,
                    max=1e6,
                    step=0.01,
                    optional=True,
                    tooltip="TeaCache as the release runs it: 0 = off; 0.2 = the release's threshold (higher skips "
                    "more steps). The first 5 steps always run; the summary says how many forwards were skipped.",
                ),
                io.Int.Input(
                    "window_frames",
                    default=DEFAULT_WINDOW_FRAMES,
                    min=5,
                    max=MAX_FRAMES,
                    step=4,
                    optional=True,
                    tooltip="Longer clips are sampled in windows of this many frames (4k+1; 81 = the model's length) "
                    "sharing window_overlap frames. Clips up to this long are sampled as the release does (set it to "
                    "the clip's length to sample a long clip in one piece).",
                ),
                io.Int.Input(
                    "window_overlap",
                    default=DEFAULT_OVERLAP_FRAMES,
                    min=0,
                    max=1000,
                    step=4,
                    optional=True,
                    tooltip="Frames (a multiple of 4) consecutive windows share at least; their predictions are "
                    "blended there.",
                ),
                io.Combo.Input(
                    "window_scheme",
                    options=list(SCHEMES),
                    default=DEFAULT_SCHEME,
                    optional=True,
                    tooltip="average: every window's prediction blended at every step; continue: window after window, "
                    "each conditioned on the previous one's last frames (see docs/long-video.md).",
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
        conditions.check_for(model.transformer)  # before anything slow
        windows = window_settings(window_frames, window_overlap, window_scheme)
        settings = SamplerSettings(steps=steps, guidance=cfg, seed=seed, denoise=denoise, **windows)
        transformer = model.transformer
        options = memory_options(memory, vram_budget_gb)
        if teacache_threshold > 0:  # one residual per CFG branch stays on the device between steps
            kept = cached_token_states(StepCacheSettings("teacache", teacache_threshold), cfg)
            options = dataclasses.replace(options, cached_token_states=kept)
        job = conditions.job_size(cfg)
        if job.num_frames > window_frames:  # the device sees one window at a time
            job = dataclasses.replace(job, num_frames=window_frames, clip_frames=job.num_frames)
        plan = plan_sampling(transformer, job, options)
        solver = scheduler_for(model.path, scheduler, shift)
        init = from_comfy_latent(latent) if latent is not None else None
        latent_frames = conditions.latent_shape[2]
        windowed = latent_frames > settings.window
        one_by_one = settings.window_scheme == "continue"
        passes = len(WindowPlan(latent_frames, settings.window, settings.window_overlap).windows()) if windowed else 1
        report = host.progress_reporter(steps * (passes if one_by_one else 1))
        render_preview = host.latent_preview_renderer()
        previews: list = [None]
        started = time.perf_counter()

        def on_denoised(index: int, total: int, denoised) -> None:
            previews[0] = render_preview(denoised)

        def on_step(index: int, total: int, latents) -> None:
            report(index + 1, total, previews[0])  # raises on Cancel: the loop stops between steps

        step_cache = TeaCache(steps, teacache_threshold) if teacache_threshold > 0 else None
        device, home = host.compute_device(), host.offload_device()
        with placed_for_sampling(transformer, plan, device, keep_on_device, home):
            final = sample(
                transformer,
                solver,
                conditions,
                settings,
                callback=on_step,
                init_latents=init,
                on_denoised=on_denoised if render_preview is not None else None,
                step_cache=step_cache,
            )
        seconds = time.perf_counter() - started
        kind = type(solver).__name__.replace("MultistepScheduler", "").replace("DiscreteScheduler", "")
        line = (
            f"{conditions.width}x{conditions.height}, {conditions.num_frames} frames, {steps} steps, cfg {cfg:g}, "
            f"{kind} shift {scheduler_shift(solver):g}, seed {seed}, denoise {denoise:g}, {seconds:.1f} s; "
            f"{short_plan(plan)}"
        )
        if windowed:
            line += f"; {passes} windows of {window_frames} frames ({settings.window_scheme})"
        if step_cache is not None:
            line += f"; {step_cache.describe()}"
        return io.NodeOutput(to_comfy_latent(final), ui={"realisdance_summary": [line]})


def window_settings(window_frames: int, window_overlap: int, scheme: str) -> dict:
    """The sampler's window fields from the node's widgets (video frames)."""
    check_window(window_frames, window_overlap)
    return {"window": latent_frames_of(window_frames), "window_overlap": window_overlap // 4, "window_scheme": scheme}


NODES: list[type[io.ComfyNode]] = [RealisDanceSampler]
