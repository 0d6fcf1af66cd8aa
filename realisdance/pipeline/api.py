"""The public pipeline: reference image + pose videos (+ prompt) -> video, exactly as the release runs it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ..arguments import check_finite, check_generator, check_prompt, resolve_device
from ..caching import cached_token_states, make_step_cache
from ..errors import InputError
from ..memory import JobSize, MemoryOptions, MemoryPlan, ModelFacts, accelerator, place_transformer, plan_memory
from ..memory.text_cache import SHARED_TEXT_CACHE, text_encoder_key
from ..parallel.processes import process_rank, share_from_first, smallest_free_bytes
from ..parallel.settings import ParallelRun
from ..release_folder import check_release_folder
from .conditions import Conditions, ModelSignature, build_conditions
from .model_patches import ModelPatches, check_loras_fit, patch_after_placement, patch_before_placement
from .preprocess import PreparedInputs, load_pose_video, prepare_inputs
from .sampling import SamplerSettings, StepCallback, sample
from .settings import ComponentPaths, GenerationSettings


@dataclass
class RealisDanceOutput:
    frames: torch.Tensor | None  # (F, H, W, 3) float RGB in [0, 1]; None in the other processes of a parallel run
    latents: torch.Tensor  # (1, 16, T, H/8, W/8) normalised latents, kept so decoding can be retried
    cache_report: str | None = None  # what a step cache skipped ("TeaCache: skipped 23 of 80 DiT forwards ...")


def job_size(prepared: PreparedInputs, guidance: float = 2.0) -> JobSize:
    """The memory planner's view of prepared inputs."""
    ref_height, ref_width = prepared.reference.shape[-2:]
    return JobSize(prepared.num_frames, prepared.height, prepared.width, ref_height, ref_width, guidance)


def default_dtype(device: str | torch.device) -> str:
    """The release runs the DiT in bf16; on a CPU fp32 is faster and exact."""
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def decode_frames(vae, latents: torch.Tensor, tiling=None) -> torch.Tensor:
    """Normalised latents (1, 16, T, h, w) -> frames (F, H, W, 3) in [0, 1] on the CPU; the one decode path of the
    pipeline and of ``python -m realisdance decode``, so both give the same frames."""
    video = vae.decode(latents) if tiling is None else vae.decode(latents, tiling=tiling)
    return video[0].permute(1, 2, 3, 0).cpu()  # (1, 3, F, H, W) -> (F, H, W, 3)


class RealisDancePipeline:
    """Holds the loaded components; see ``from_pretrained`` and ``__call__``."""

    def __init__(
        self,
        transformer,
        vae,
        text_encoder,
        clip_encoder,
        scheduler,
        memory_plan: MemoryPlan | None = None,
        facts: ModelFacts | None = None,
        memory_options: MemoryOptions | None = None,
        device: str | torch.device | None = None,
        parallel: ParallelRun | None = None,
    ):
        self.transformer = transformer
        self.vae = vae
        self.text_encoder = text_encoder
        self.clip_encoder = clip_encoder
        self.scheduler = scheduler
        self.signature = ModelSignature.of(transformer)
        self.parallel = parallel or ParallelRun()
        # A --parallel run encodes and decodes in its first process only; the others get the conditions from it.
        self.encodes = not self.parallel.active or process_rank() == 0
        if self.signature.is_i2v and clip_encoder is None and self.encodes:
            raise InputError("this I2V model needs the CLIP image encoder (the release's image_encoder/ folder)")
        # Without a plan every component stays where it was loaded (the behaviour before memory planning).
        self.memory_plan = memory_plan
        self.facts = facts
        self.memory_options = memory_options
        self.device = torch.device(device) if device is not None else transformer.patch_embedding.weight.device
        if self.device.type == "meta" or self.device.type == "cpu" and device is None:
            self.device = torch.device(device or "cpu")
        self.placement = getattr(transformer, "_realisdance_placement", None)
        self.text_cache = SHARED_TEXT_CACHE

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        dtype: str | None = None,
        device: str | torch.device = "cpu",
        scheduler: str = "auto",
        memory: MemoryOptions | str = "auto",
        job: JobSize | None = None,
        components: ComponentPaths | None = None,
        patches: ModelPatches | None = None,
        progress=None,
        parallel: ParallelRun | None = None,
    ) -> RealisDancePipeline:
        """Load the official folder (``model``); ``components`` may name other files for any component;
        ``patches`` adds LoRAs, picks the attention kernel and compiles the blocks (``ModelPatches``).

        ``memory`` ('auto', 'resident', 'stream', 'stream-all', 'fp8' or ``MemoryOptions``) plans device memory for
        ``job`` (default: 81 frames at 576x1024) before anything is loaded, and refuses a job that cannot fit.

        ``parallel`` (under torch.distributed.run): the DiT's sequence split over the processes, its weights
        replicated or sharded; the encoders and the VAE load in the first process only.
        """
        from ..checkpoints import load_transformer
        from ..encoders import load_clip_image_encoder, load_scheduler, load_text_encoder, load_vae
        from ..memory.device import check_host_memory_for_cpu_run, free_device_bytes
        from ..memory.facts import release_facts
        from ..parallel.sequence import enable_sequence_parallel
        from ..parallel.sharding import check_shardable, load_sharded_transformer

        paths = components or ComponentPaths()
        patches = patches or ModelPatches()
        patches.check_files()
        transformer = paths.transformer
        model = Path(model).expanduser()
        if paths.encoders_from_release:
            check_release_folder(model, transformer, option="model")  # complete before minutes of loading
        device = resolve_device(device)
        dtype = dtype or default_dtype(device)
        options = memory if isinstance(memory, MemoryOptions) else MemoryOptions(mode=memory)
        parallel = parallel or ParallelRun()
        if parallel.shard_weights:
            check_shardable(patches, options.mode, dtype)
        options = dataclasses.replace(options, **parallel.memory_split())
        options = dataclasses.replace(options, adapter_bytes=max(options.adapter_bytes, patches.adapter_bytes()))
        facts = release_facts(model, dtype, transformer)
        check_loras_fit(facts.config, patches)
        free = smallest_free_bytes(device) if parallel.active else free_device_bytes(device)
        plan = plan_memory(facts, job or JobSize(), options, free)
        check_host_memory_for_cpu_run(plan, facts, device)
        if plan.kind == "sharded":  # built, split and sharded on the meta device; each process reads its slices
            dit = load_sharded_transformer(transformer or model, dtype, device, parallel.kind, patches, progress)
        else:  # a resident plan loads straight onto the device; any other loads on the CPU and is then placed
            direct = not plan.streams and plan.dtype == facts.dtype
            dit = load_transformer(transformer or model, dtype=dtype, device=device if direct else "cpu",
                                   progress=progress)  # fmt: skip
            patch_before_placement(dit, patches)
            place_transformer(dit, plan, device)
            patch_after_placement(dit, patches)
            if parallel.active:
                enable_sequence_parallel(dit, parallel.kind)
        if parallel.active and process_rank() != 0:  # the first process encodes and decodes for all
            return cls(dit, None, None, None, load_scheduler(model, kind=scheduler), plan, facts, options,
                       device=device, parallel=parallel)  # fmt: skip
        # Encoders live on the CPU when a budget applies and visit the device per stage, as the plan says;
        # umT5 and CLIP never leave the CPU when asked (the plan then marks them CPU).
        home = "cpu" if plan.budget_bytes is not None else device
        encoders_home = "cpu" if options.encoders_on_cpu else home
        text_dtype = torch.float32 if dtype == "fp32" else torch.bfloat16
        text = load_text_encoder(paths.text_encoder or model, device=encoders_home, dtype=text_dtype)
        clip = None
        if dit.config.image_dim is not None:
            clip = load_clip_image_encoder(paths.image_encoder or model, device=encoders_home)
        vae_model = load_vae(paths.vae or model, device=home)
        return cls(
            dit,
            vae_model,
            text,
            clip,
            load_scheduler(model, kind=scheduler),
            plan,
            facts,
            options,
            device=device,
            parallel=parallel,
        )

    # -- where components run ------------------------------------------------------------------------------------

    @contextmanager
    def _on_device(self, component, wanted: bool):
        """Run ``component`` on the pipeline's device for a stage (when the plan says so), then send it home."""
        if component is None or self.memory_plan is None or self.memory_plan.budget_bytes is None or not wanted:
            yield
            return
        if self.placement is not None and self.memory_plan.park_dit:
            self.placement.park()
        home = component.device
        component.to(self.device)
        try:
            yield
        finally:
            component.to(home)
            accelerator.current().empty_cache(self.device)

    def _require_encoders(self, what: str) -> None:
        if not self.encodes:
            raise InputError(f"this process of a parallel run has no encoders or VAE (the first process loads them "
                             f"and encodes for all): {what} in the first process only")  # fmt: skip

    def check_job(self, job: JobSize, cached_token_states: int = 0) -> None:
        """Refuse, before any work, a job that needs more device memory than the plan made at load time
        (``cached_token_states``: what a step cache keeps, when the load-time options did not count it)."""
        if self.memory_plan is None or self.facts is None or self.memory_plan.budget_bytes is None:
            return
        options = self.memory_options or MemoryOptions()
        if cached_token_states > options.cached_token_states:
            options = dataclasses.replace(options, cached_token_states=cached_token_states)
        needed = plan_memory(self.facts, job, options, self.memory_plan.budget_bytes)
        placed = self.memory_plan
        if len(needed.streamed_blocks) > len(placed.streamed_blocks) or needed.dtype != placed.dtype:
            raise InputError(
                f"{job.describe()} needs more device memory than the plan made when the model was loaded (for "
                f"{self.memory_plan.job.describe()}); load the model again for this size, or use fewer frames or a "
                f"smaller size"
            )

    # -- stages, usable one by one (the ComfyUI nodes call them separately) --

    def encode_text(self, prompt: str | torch.Tensor) -> torch.Tensor:
        """(1, 512, D) embeddings of a prompt, or precomputed embeddings padded/truncated to 512 tokens."""
        from ..encoders import pad_text_embeddings

        if isinstance(prompt, torch.Tensor):
            return pad_text_embeddings(prompt if prompt.ndim == 3 else prompt.unsqueeze(0)).float()
        self._require_encoders("encode a prompt")
        key = text_encoder_key(self.text_encoder)
        cached = self.text_cache.get(key, prompt)
        if cached is None:
            plan = self.memory_plan
            with self._on_device(self.text_encoder, plan is None or plan.text_on_device):
                cached = self.text_encoder.encode(prompt).float().cpu()
            self.text_cache.put(key, prompt, cached)
        return cached.clone()

    def build_conditions(
        self,
        prepared: PreparedInputs,
        prompt: str | torch.Tensor = "",
        negative_prompt: str | torch.Tensor = "",
        dwpose: torch.Tensor | None = None,
        grey_frames: int | None = None,
    ) -> Conditions:
        """``dwpose``: the third pose stream (3, F, H, W) in [-1, 1] of 48-channel models (the paper's setup);
        ``grey_frames``: encode the grey video only this long (one window, for a clip sampled in windows)."""
        if not self.encodes:  # another process of a --parallel run encodes; this one receives
            return share_from_first(None)
        text, negative_text = self.encode_text(prompt), self.encode_text(negative_prompt)
        plan = self.memory_plan
        with (
            self._on_device(self.clip_encoder, plan is None or plan.clip_on_device),
            self._on_device(self.vae, plan is None or plan.vae_on_device),
        ):
            conditions = build_conditions(
                prepared,
                self.vae,
                self.signature,
                text,
                negative_text,
                self.clip_encoder,
                dwpose=dwpose,
                tiling=None if plan is None else plan.vae_tiling,
                grey_frames=grey_frames,
            )
        conditions = conditions.to("cpu")
        return share_from_first(conditions) if self.parallel.active else conditions

    def sample(self, conditions: Conditions, settings: SamplerSettings, **kwargs) -> torch.Tensor:
        """The sampling loop; an error or interrupt inside it sends streamed blocks home and frees the cache."""
        if self.placement is not None:
            self.placement.unpark()
        try:
            return sample(self.transformer, self.scheduler, conditions, settings, **kwargs)
        except BaseException:
            if self.placement is not None:
                self.placement.release()
            raise

    def decode_chunks(self, latents: torch.Tensor) -> Iterator[torch.Tensor]:
        """Normalised latents (1, 16, T, h, w) -> frames (F_i, H, W, 3) in [0, 1] on the CPU, a few latent frames'
        worth at a time (tiled when the plan says so): the device never holds the whole video."""
        self._require_encoders("decode")
        plan = self.memory_plan
        with self._on_device(self.vae, plan is None or plan.vae_on_device):
            yield from self.vae.decode_chunks(latents, None if plan is None else plan.vae_tiling)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> frames (F, H, W, 3) in [0, 1] on the CPU (see ``decode_chunks``)."""
        self._require_encoders("decode")
        if latents.shape[0] != 1:
            plan = self.memory_plan
            with self._on_device(self.vae, plan is None or plan.vae_on_device):
                return decode_frames(self.vae, latents, None if plan is None else plan.vae_tiling)
        return torch.cat(list(self.decode_chunks(latents)))

    def __call__(
        self,
        reference,
        smpl,
        hamer,
        prompt: str | torch.Tensor = "",
        negative_prompt: str | torch.Tensor = "",
        settings: GenerationSettings | None = None,
        *,
        dwpose=None,
        latents: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        callback: StepCallback | None = None,
        **overrides,
    ) -> RealisDanceOutput:
        """Animate ``reference`` with the ``smpl`` and ``hamer`` pose videos (paths, arrays or IMAGE batches).

        ``settings`` (``GenerationSettings``: frames, area, steps, guidance, seed, pose fps) default to the
        release's; any of its fields may also be passed by name (``pipe(ref, smpl, hamer, steps=20)``).
        ``dwpose`` (same forms) is the third pose stream, only for models whose pose patchifier is 48 channels wide.
        """
        # Every number and object is checked before the first frame is read or the first encoder runs.
        settings = (settings or GenerationSettings()).with_overrides(overrides)
        check_prompt(prompt, "prompt")
        check_prompt(negative_prompt, "negative_prompt")
        check_generator(generator)
        if latents is not None:
            check_finite(torch.as_tensor(latents), "initial latents")
        num_frames, fps = settings.num_frames, settings.pose_fps
        prepared = prepare_inputs(
            reference, smpl, hamer, num_frames=num_frames, max_area=settings.max_area, pose_fps=fps,
            stream_poses=True,  # read and encoded a chunk at a time: the float pose videos are never whole
        )  # fmt: skip
        cache_states = cached_token_states(settings.cache, settings.guidance)
        planned = dataclasses.replace(
            job_size(prepared, settings.guidance), num_frames=settings.planned_frames(), clip_frames=prepared.num_frames
        )
        self.check_job(planned, cached_token_states=cache_states)
        dwpose_video = None
        if dwpose is not None:
            dwpose_video = load_pose_video(dwpose, num_frames, size=(prepared.height, prepared.width), fps=fps)
        grey_frames = settings.window if settings.windowed else None
        conditions = self.build_conditions(prepared, prompt, negative_prompt, dwpose=dwpose_video,
                                           grey_frames=grey_frames)  # fmt: skip
        sampler = SamplerSettings(
            steps=settings.steps, guidance=settings.guidance, seed=settings.seed, **settings.sampler_windows()
        )
        step_cache = make_step_cache(settings.cache, settings.steps)
        final = self.sample(
            conditions, sampler, latents=latents, generator=generator, callback=callback, step_cache=step_cache
        )
        report = None if step_cache is None else step_cache.describe()
        frames = self.decode(final) if self.encodes else None  # the first process of a --parallel run decodes
        return RealisDanceOutput(frames=frames, latents=final.cpu(), cache_report=report)
