"""Command line: ``python -m realisdance animate`` (single run or batch), ``decode`` and ``demo``.

Errors the user can fix are printed as one sentence (exit code 2), never as a traceback. Every output video is
written atomically, and the sampled latents are saved next to it (``<out>.latents.pt``) before decoding, so a
decode failure never loses the sampling work: ``decode`` turns that file into the video again (e.g. with smaller
VAE tiles after running out of device memory, which both commands answer with the exact command to retry).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .batch_layout import Job, batch_jobs
from .convert.command import add_convert_parser
from .decode_stage import (
    RetryDecode,
    decode_command,
    decode_or_advise,
    sampling_out_of_memory_advice,
)
from .errors import InputError, RealisDanceError
from .evaluation.command import add_evaluate_parser, add_prepare_parser
from .latents_file import OUTPUT_FPS, latents_path_for, save_latents
from .output_paths import OutputClaim, check_output
from .pipeline.window_sampling import DEFAULT_SCHEME, SCHEMES
from .pipeline.windows import DEFAULT_OVERLAP_FRAMES, DEFAULT_WINDOW_FRAMES, check_window, latent_frames_of
from .pose_command import OUTPUTS, add_pose_arguments, check_pose_arguments, make_pose_videos
from .release_folder import check_release_folder
from .run_options import memory_options, parallel_run
from .speed_options import (
    GivenValue,
    add_speed_options,
    apply_fast_preset,
    cache_settings,
    describe_speed,
    model_patches,
)
from .training.command import add_train_parser

CACHE_DIR = Path.home() / ".cache" / "realisdance"

# The demo on the tiny model: small enough to finish in about a minute on 2 CPU cores.
TINY_DEMO = {"frames": 17, "max_area": 256 * 448, "steps": 8}


def _add_run_options(parser: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    defaults = defaults or {}
    parser.add_argument("--prompt", default="", help="text prompt (the release accepts an empty one)")
    parser.add_argument("--negative-prompt", default="", help="negative prompt (release default: empty)")
    parser.add_argument(
        "--steps", type=int, action=GivenValue, default=defaults.get("steps", 40), help="sampling steps (release: 40)"
    )
    parser.add_argument(
        "--cfg", type=float, action=GivenValue, default=2.0, help="guidance scale; 1 runs one forward per step"
    )
    parser.add_argument("--seed", type=int, default=1024, help="noise seed (release: 1024)")
    parser.add_argument(
        "--frames", type=frames_argument, default=defaults.get("frames", 81),
        help="4k+1 frames (81 = 5 s at 16 fps), or 'all': as many as the pose video gives",
    )  # fmt: skip
    parser.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW_FRAMES,
        help="longer clips run in windows of this many frames (4k+1; 81 = the model's length), blended; 0: one window",
    )  # fmt: skip
    parser.add_argument(
        "--window-overlap", type=int, default=DEFAULT_OVERLAP_FRAMES,
        help="frames (a multiple of 4) consecutive windows share at least",
    )  # fmt: skip
    parser.add_argument(
        "--window-scheme", choices=SCHEMES, default=DEFAULT_SCHEME,
        help="average: every window's prediction blended at every step; continue: window after window, each "
        "conditioned on the previous one's last frames (docs/long-video.md compares them)",
    )  # fmt: skip
    parser.add_argument("--max-area", type=int, default=defaults.get("max_area", 768 * 768), help="pixels")
    parser.add_argument("--dtype", default=None, help="auto, bf16, fp16, fp32, fp8_e4m3fn, fp8_e5m2")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument(
        "--scheduler",
        action=GivenValue,
        default="auto",
        choices=["auto", "unipc", "euler", "distill"],
        help="auto = the class the release folder's scheduler config names (flow-UniPC); distill = the "
        "step-distilled sampler (see --fast)",
    )
    parser.add_argument(
        "--memory",
        default="auto",
        choices=["auto", "resident", "stream", "stream-all", "fp8"],
        help="device memory plan: auto picks the fastest that fits (resident, then streamed blocks, then fp8)",
    )
    parser.add_argument(
        "--vram-budget", type=float, default=None, help="GiB of device memory to plan for (default: what is free)"
    )
    parser.add_argument("--plan-only", action="store_true", help="print the memory plan and exit without running")
    _add_vae_tiling_options(parser)
    add_speed_options(parser)
    parser.add_argument(
        "--encoders-on-cpu",
        action="store_true",
        help="run the text encoder (umT5) and CLIP on the CPU: slower, but their device memory stays free",
    )


def _add_vae_tiling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vae-tile", type=int, default=None, help="VAE tile side in px instead of the planned one (0: untiled)"
    )
    parser.add_argument(
        "--vae-overlap", type=int, default=None, help="VAE tile overlap in px (default: a quarter of the tile)"
    )


def build_parser() -> argparse.ArgumentParser:
    # Every option's default is shown in --help.
    shown = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}
    parser = argparse.ArgumentParser(prog="realisdance", description="RealisDance-DiT character animation", **shown)
    commands = parser.add_subparsers(dest="command", required=True)

    animate = commands.add_parser("animate", help="animate a reference image with SMPL-CS and hand videos", **shown)
    animate.add_argument("--model", required=True, help="RealisDance-DiT release folder (diffusers layout)")
    animate.add_argument("--transformer", default=None, help="a transformer file or folder instead of model's")
    animate.add_argument("--ref", type=Path, help="reference image")
    animate.add_argument("--smpl", type=Path, help="SMPL-CS condition video")
    animate.add_argument("--hamer", type=Path, help="hand condition video")
    animate.add_argument("--out", type=Path, help="output mp4 (default: <ref>_<smpl>.mp4 in the current folder)")
    animate.add_argument("--root", type=Path, help="batch: a folder with ref/, smpl/, hamer/ and prompt/")
    animate.add_argument("--out-dir", type=Path, default=Path("outputs"), help="batch output folder")
    animate.add_argument(
        "--workers", type=int, default=None,
        help="batch: processes sharing the clips, one per GPU (default: one per visible GPU on CUDA, else 1)",
    )  # fmt: skip
    animate.add_argument("--clips", default=None, help="batch: only these clips (comma-separated names)")
    animate.add_argument(
        "--video", type=Path, help="a plain driving video instead of --smpl/--hamer: pose videos are made first "
        "(needs --body-models and --dwpose; written to <out>.pose/)"
    )  # fmt: skip
    animate.add_argument(
        "--parallel", choices=("none", "ulysses"), default="none",
        help="one clip on several processes (python -m torch.distributed.run --nproc-per-node N -m realisdance "
        "animate ...): the DiT's sequence split between them (Ulysses); the encoders and the VAE run in the first",
    )  # fmt: skip
    animate.add_argument(
        "--shard-weights", action="store_true",
        help="with --parallel: each process keeps 1/N of the DiT's weights (FSDP2), for a model too large for one GPU",
    )  # fmt: skip
    add_pose_arguments(animate)
    _add_run_options(animate)

    pose = commands.add_parser(
        "pose", help="make the SMPL-CS and hand condition videos (and a QC preview) from a plain driving video", **shown
    )
    pose.add_argument("--video", type=Path, required=True, help="the driving video")
    pose.add_argument("--ref", type=Path, help="the reference image: the motion is rendered with its body shape")
    pose.add_argument("--out", type=Path, default=Path("pose"), help="output folder: smpl.mp4, hamer.mp4, qc.mp4")
    add_pose_arguments(pose)

    decode = commands.add_parser(
        "decode", help="decode the latents animate saved (<out>.latents.pt) into the mp4", **shown
    )
    decode.add_argument("--model", required=True, help="RealisDance-DiT release folder, its vae/ folder or a VAE file")
    decode.add_argument("--latents", type=Path, required=True, help="the <out>.latents.pt file animate wrote")
    decode.add_argument("--out", type=Path, help="output mp4 (default: the latents file's name without .latents.pt)")
    decode.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    decode.add_argument(
        "--vram-budget", type=float, default=None, help="GiB of device memory to plan the tiles for (default: free)"
    )
    _add_vae_tiling_options(decode)

    add_train_parser(commands, shown)
    add_convert_parser(commands, shown)
    add_evaluate_parser(commands, shown)
    add_prepare_parser(commands, shown)

    demo = commands.add_parser("demo", help="the main job on an embedded tiny model and a synthetic pose clip", **shown)
    demo.add_argument("--model", default=None, help="a real RealisDance-DiT release folder instead of the tiny one")
    demo.add_argument("--out", type=Path, default=Path("outputs/demo.mp4"))
    _add_run_options(demo, TINY_DEMO)
    return parser


def frames_argument(text: str) -> int | str:
    """--frames: a whole number, or 'all'."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a 4k+1 frame count or 'all', got {text!r}") from None


def job_frames(args, job: Job) -> int:
    """The job's frame count: --frames, or with 'all' the longest 4k+1 its SMPL-CS video gives at 16 fps."""
    if args.frames != "all":
        return args.frames
    from .pipeline.preprocess import whole_clip_frames
    from .video import probe_video

    info = probe_video(job.smpl)
    return whole_clip_frames(info.frame_count, info.fps)


def single_job(args) -> Job:
    if getattr(args, "video", None) is not None:
        if args.smpl is not None or args.hamer is not None:
            raise InputError("--video makes the pose videos itself; give either --video or --smpl/--hamer")
        if args.ref is None:
            raise InputError("give --ref, the reference image to animate")
        out = args.out or Path(f"{args.ref.stem}_{args.video.stem}.mp4")
        pose_dir = out.with_name(out.name + ".pose")
        check_pose_arguments(args, pose_dir)
        return Job(args.ref, pose_dir / OUTPUTS["smpl"], pose_dir / OUTPUTS["hamer"], args.prompt, out)
    absent = [name for name in ("ref", "smpl", "hamer") if getattr(args, name) is None]
    if absent:
        raise InputError(f"give --{', --'.join(absent)} (or --root for a batch folder)")
    out = args.out or Path(f"{args.ref.stem}_{args.smpl.stem}.mp4")
    return Job(args.ref, args.smpl, args.hamer, args.prompt, out)


def run_jobs(pipeline, jobs: list[Job], args, model=None) -> None:
    """``model``: what ``decode --model`` should load to retry a decode (default: ``args.model``)."""
    from .pipeline.sampling import SamplerSettings

    windows = {"window": None}
    if args.window:
        windows = {
            "window": latent_frames_of(args.window),
            "window_overlap": args.window_overlap // 4,
            "window_scheme": args.window_scheme,
        }
    settings = SamplerSettings(steps=args.steps, guidance=args.cfg, seed=args.seed, **windows)
    for job in jobs:
        if not writes_outputs(args):  # the other processes of a --parallel run: they sample, the first one writes
            run_job(pipeline, job, args, settings, model)
            continue
        with OutputClaim(job.out):
            run_job(pipeline, job, args, settings, model)


def run_job(pipeline, job: Job, args, settings, model) -> None:
    """One job under its output claim: sample, keep the latents (before anything can fail), decode, write."""
    import torch
    from tqdm import tqdm

    from .caching import make_step_cache
    from .encoders.chunk_hooks import condition_encode_chunks
    from .memory.device import is_out_of_memory, return_freed_host_memory
    from .pipeline.preprocess import prepare_inputs
    from .pipeline.sampling_progress import SamplingProgress, progress_path_for
    from .pipeline.windows import WindowPlan, describe_windows
    from .video import each_frame, write_video

    start = time.perf_counter()
    frames = job_frames(args, job)
    # Every clip: pose videos read and encoded a chunk at a time, the decode streamed to the file. A clip longer
    # than one window also gets its grey condition one window long and progress kept for a resume.
    windowed = settings.window is not None and latent_frames_of(frames) > settings.window
    prepared = prepare_inputs(job.ref, job.smpl, job.hamer, num_frames=frames, max_area=args.max_area,
                              stream_poses=True)  # fmt: skip
    print(f"{job.ref.name}: {prepared.num_frames} frames at {prepared.width}x{prepared.height}")
    plan = None
    if windowed:
        plan = WindowPlan(latent_frames_of(frames), settings.window, settings.window_overlap)
        print(describe_windows(plan, settings.steps, settings.guidance, settings.window_scheme))
    streams = pipeline.transformer.config.add_cond_in_dim // 16
    grey_frames = args.window if windowed else None
    encodes = condition_encode_chunks(prepared.num_frames, streams, grey_frames)
    with vae_progress(pipeline.vae, "encoding", encodes):
        conditions = pipeline.build_conditions(prepared, job.prompt, args.negative_prompt, grey_frames=grey_frames)
    return_freed_host_memory()  # the encoders' working memory, before sampling
    step_cache = make_step_cache(cache_settings(args), settings.steps)
    writer = writes_outputs(args)
    progress = SamplingProgress(progress_path_for(job.out), writer=writer) if windowed else None
    if progress is not None and writer:
        PROGRESS.resumable.append(progress.path)
    step_times = [time.perf_counter()]

    def step_done(index, total, latents) -> None:
        step_times.append(time.perf_counter())
        bar.update(1)

    one_by_one = plan is not None and settings.window_scheme == "continue"  # each window runs every step
    steps = settings.steps * (len(plan.windows()) if one_by_one else 1)
    try:
        with tqdm(total=steps, desc="sampling", unit="step") as bar:
            latents = pipeline.sample(conditions, settings, callback=step_done, step_cache=step_cache,
                                      progress=progress)  # fmt: skip
    except RuntimeError as error:  # the pipeline has already sent streamed blocks home and emptied the cache
        if not is_out_of_memory(error):
            raise
        raise InputError(sampling_out_of_memory_advice(pipeline.memory_plan)) from None
    if not writer:
        return
    del conditions  # the sampling's state is done with: return it before the decode
    return_freed_host_memory()
    latents_path = keep_latents(latents, latents_path_for(job.out))
    if progress is not None:
        progress.clear()  # everything it held is in the latents file now
        PROGRESS.resumable.remove(progress.path)
    if step_cache is not None:
        print(step_cache.describe())
    if args.compile and len(step_times) > 2:
        first, rest = step_times[1] - step_times[0], (step_times[-1] - step_times[1]) / (len(step_times) - 2)
        print(f"compiled blocks: first step {first:.1f} s (includes compiling), then {rest:.1f} s per step")
    # An older video under this name belongs to another sampling: never leave it beside these latents.
    job.out.unlink(missing_ok=True)
    if not bool(torch.isfinite(latents).all()):
        raise InputError(
            f"sampling produced NaN or infinite latents (kept at {latents_path}); the weights or the inputs are "
            "damaged: check the model files (download them again) and the input images."
        )
    memory = pipeline.memory_plan
    retry = RetryDecode(model or args.model, latents_path, job.out, None if memory is None else memory.vae_tiling)
    print(f"decoding and writing {job.out} ({4 * (latents.shape[2] - 1) + 1} frames)")
    with vae_progress(pipeline.vae, "decoding", latents.shape[2]):
        decode_or_advise(lambda saved: write_video(job.out, each_frame(pipeline.decode_chunks(saved)), fps=OUTPUT_FPS),
                         latents, retry)  # fmt: skip
    print(f"wrote {job.out} ({time.perf_counter() - start:.1f} s); latents in {latents_path}")


@contextmanager
def vae_progress(vae, desc: str, total: int):
    """A tqdm bar that moves on every VAE chunk (realisdance.encoders.chunk_hooks): the encodes and the decode take
    a large share of a run and used to pass in silence. Tiled runs take more chunks; the total grows with them."""
    from tqdm import tqdm

    from .encoders.chunk_hooks import on_every_chunk

    with tqdm(total=total, desc=desc, unit="chunk", leave=False) as bar:

        def tick() -> None:
            if bar.n >= bar.total:
                bar.total = bar.n + 1
            bar.update(1)

        with on_every_chunk(getattr(vae, "module", None), tick):
            yield


@dataclass
class RunProgress:
    """What this process has kept so far, for the message when it is interrupted."""

    kept: list = field(default_factory=list)
    resumable: list = field(default_factory=list)  # progress files of long samplings a rerun resumes from


PROGRESS = RunProgress()
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C; kill and service managers


def keep_latents(latents, path: Path) -> Path:
    """Save the sampled latents under ``path``; when that fails (disk full, folder gone), under the cache's
    rescued/ folder instead, and say where: a finished sampling is never dropped. Ctrl-C and SIGTERM wait until the
    file is complete (a few seconds at most), so an interrupt never throws the sampling away half-saved."""
    import threading

    # Deferred, not blocked: torch's worker threads would take a blocked signal and interrupt us anyway. Only the
    # main thread may set handlers; elsewhere the save simply runs.
    arrived: list[int] = []
    swap = threading.current_thread() is threading.main_thread()
    previous = (
        {stop: signal.signal(stop, lambda number, frame: arrived.append(number)) for stop in STOP_SIGNALS}
        if swap
        else {}
    )
    try:
        kept = _save_or_rescue(latents, path)
        PROGRESS.kept.append(kept)
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
    if arrived:
        raise KeyboardInterrupt  # the stop that came during the save, now that the file is complete
    return kept


def _save_or_rescue(latents, path: Path) -> Path:
    try:
        save_latents(path, latents)
        return path
    except OSError as error:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        rescue = CACHE_DIR / "rescued" / path.name.replace(".latents.pt", f".{stamp}.latents.pt")
        try:
            save_latents(rescue, latents)
        except OSError as second:
            raise InputError(
                f"the sampled latents could not be saved at {path} ({error.strerror or error}) nor at {rescue} "
                f"({second.strerror or second}); free some disk space and run again."
            ) from None
        print(f"could not write {path} ({error.strerror or error}); the latents are saved at {rescue} instead",
              file=sys.stderr)  # fmt: skip
        return rescue


def quiet_libraries() -> None:
    """Keep the terminal for our progress and errors: no per-file load bars or hints from the libraries."""
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()


def check_run_arguments(args) -> None:
    """Every number of the run, before any file is read or model loaded."""
    from .arguments import check_guidance, check_max_area, check_seed, check_steps
    from .pipeline.preprocess import check_frame_count

    check_steps(args.steps)
    check_seed(args.seed)
    check_guidance(args.cfg)
    check_max_area(args.max_area)
    if args.frames != "all":
        check_frame_count(args.frames)
    if args.window:
        check_window(args.window, args.window_overlap)
    _device(args)  # an unknown device, or cuda on a CPU-only torch
    memory_options(args)  # --vram-budget, --memory, the VAE tiling options, the step cache
    model_patches(args)  # --lora files exist and parse, --attention is installed


def batch_command(args) -> int:
    """``animate --root``: every clip that is not done yet; a bad clip is reported and the others still run."""
    from .batch import run_batch

    check_run_arguments(args)  # the numbers are the batch's, not a clip's: a mistake there stops everything
    jobs = batch_jobs(args.root, args.out_dir)
    if args.clips:
        wanted = set(args.clips.split(","))
        jobs = [job for job in jobs if job.ref.stem in wanted]
    workers = batch_workers(args)
    if workers > 1:
        from .batch import run_workers

        report = run_workers(jobs, workers, args._argv, worker_devices(args, workers))
        return 2 if report.failed else 0
    report = run_batch(
        jobs,
        args,
        check_job=lambda job: check_jobs([job], args),
        load_pipeline=lambda size: _load_pipeline(args.model, args, args.transformer, size),
        run_jobs=lambda pipeline, batch: run_jobs(pipeline, batch, args),
    )
    return 2 if report.failed else 0


def batch_workers(args) -> int:
    """--workers, or one per visible GPU when the batch runs on CUDA."""
    if args.workers is not None:
        if args.workers < 1:
            raise InputError(f"--workers must be at least 1, got {args.workers}")
        return args.workers
    import torch

    return torch.cuda.device_count() if _device(args).startswith("cuda") and torch.cuda.device_count() > 1 else 1


def worker_devices(args, workers: int) -> list[str]:
    """Worker i runs on cuda:i (as many GPUs as workers are needed), or all on the CPU."""
    device = _device(args)
    if not device.startswith("cuda"):
        return [device] * workers
    import torch

    if workers > torch.cuda.device_count():
        raise InputError(f"--workers {workers} needs {workers} GPUs but {torch.cuda.device_count()} are visible")
    return [f"cuda:{index}" for index in range(workers)]


def check_jobs(jobs: list[Job], args):
    """Refuse bad inputs before any model is loaded; returns the largest job's ``JobSize`` for the memory plan."""
    from .memory import JobSize
    from .pipeline.preprocess import check_inputs

    check_run_arguments(args)
    for job in jobs:
        check_output(job.out)
    sizes = []
    for job in jobs:
        frames = job_frames(args, job)
        height, width = check_inputs(job.ref, job.smpl, job.hamer, num_frames=frames, max_area=args.max_area)
        window = min(frames, args.window) if args.window else frames  # one window is what a forward holds
        sizes.append(JobSize(window, height, width, guidance=args.cfg, clip_frames=frames))
    return max(sizes, key=lambda size: (size.tokens, size.clip_latent_frames))


def _device(args) -> str:
    """--device checked (one sentence for an unknown one, or cuda on a CPU-only torch); default: cuda when usable."""
    import torch

    from .arguments import resolve_device

    if args.device:
        return str(resolve_device(args.device))
    if torch.cuda.is_available():
        return "cuda"
    if torch.version.cuda is None and nvidia_gpu_present() and not getattr(args, "_told_cpu", False):
        args._told_cpu = True
        print(
            f"note: this machine has an NVIDIA GPU but torch {torch.__version__} is a CPU-only build, so the run uses "
            "the CPU (very slow); install the CUDA build of torch (README: Run the real model).",
            file=sys.stderr,
        )
    return "cpu"


def nvidia_gpu_present() -> bool:
    """An NVIDIA driver is loaded (Linux) or its tool is on PATH: a GPU a CUDA build of torch could use."""
    import shutil

    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def print_plan_only(model, args, job_size, transformer=None) -> None:
    """The plan ``animate`` would use, from headers and configs only (nothing is loaded)."""
    from .memory import plan_memory
    from .memory.device import check_host_memory_for_cpu_run, free_device_bytes
    from .memory.facts import release_facts
    from .pipeline.api import default_dtype

    device = _device(args)
    dtype = args.dtype if args.dtype not in (None, "auto") else default_dtype(device)
    facts = release_facts(model, dtype, transformer)
    options = dataclasses.replace(memory_options(args), adapter_bytes=model_patches(args).adapter_bytes())
    plan = plan_memory(facts, job_size, options, free_device_bytes(device))
    print(plan.describe())
    print(describe_speed(args))
    if args.window and job_size.clip_frames and job_size.clip_frames > job_size.num_frames:
        from .pipeline.windows import WindowPlan, describe_windows

        windows = WindowPlan(
            latent_frames_of(job_size.clip_frames), latent_frames_of(args.window), args.window_overlap // 4
        )
        print(describe_windows(windows, args.steps, args.cfg, args.window_scheme))
    check_host_memory_for_cpu_run(plan, facts, device)


def join_parallel(args) -> None:
    """--parallel: join the processes torch.distributed.run started; every process but the first keeps quiet."""
    parallel = parallel_run(args)  # refuses --shard-weights without --parallel
    if not parallel.active:
        return
    from .parallel.processes import join_processes, launched_processes

    if parallel.shard_weights:
        from .parallel.sharding import check_shardable

        check_shardable(model_patches(args), args.memory, None if args.dtype in (None, "auto") else args.dtype)
    if args.root is not None:
        raise InputError("--parallel runs one clip on several processes; give --ref/--smpl/--hamer, not --root")
    if launched_processes() < 2:
        raise InputError(
            "--parallel needs several processes: launch with python -m torch.distributed.run --nproc-per-node N -m "
            "realisdance animate ... --parallel ulysses"
        )
    args._rank, args.device = join_processes(_device(args))
    if args._rank:
        import os

        os.environ["TQDM_DISABLE"] = "1"
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of this process)


def writes_outputs(args) -> bool:
    """The process that writes the latents, the video and the progress file (all of them, but one, sample)."""
    return getattr(args, "_rank", 0) == 0


def _load_pipeline(model, args, transformer=None, job_size=None):
    from .pipeline.api import RealisDancePipeline
    from .pipeline.settings import ComponentPaths

    device = _device(args)
    dtype = None if args.dtype in (None, "auto") else args.dtype
    start = time.perf_counter()
    pipeline = RealisDancePipeline.from_pretrained(
        model,
        dtype=dtype,
        device=device,
        scheduler=args.scheduler,
        memory=memory_options(args),
        job=job_size,
        components=ComponentPaths(transformer=transformer),
        patches=model_patches(args),
        parallel=parallel_run(args),
    )
    if pipeline.parallel.active:
        degree = pipeline.transformer.sequence_parallel_degree
        shared = ", weights sharded" if pipeline.parallel.shard_weights else ""
        print(f"sequence split over {degree} processes ({args.parallel}{shared})")
    print(f"loaded {model} on {device} in {time.perf_counter() - start:.1f} s")
    print(pipeline.memory_plan.describe())
    print(describe_speed(args))
    return pipeline


def tiny_release() -> Path:
    """The embedded default model: a tiny random-weight release folder, built once and cached."""
    from .tiny import build_tiny_release, tiny_release_info

    folder = CACHE_DIR / "tiny-release-I2V"
    if tiny_release_info(folder) is None:
        print(f"building the tiny model once into {folder} (a few seconds)...", flush=True)
        build_tiny_release(folder, variant="I2V", overwrite=True)
    return folder


def demo(args) -> None:
    from .demo_inputs import write_demo_inputs

    inputs = write_demo_inputs(CACHE_DIR / "demo-inputs")
    if args.model is None:
        print("No --model given: running the embedded tiny random-weight RealisDance-DiT (real architecture).")
        print("Random weights make noise, not a dance. For the real model: --model /path/to/RealisDance-DiT")
        model = tiny_release()
    else:
        model = check_release_folder(args.model)
    job = Job(inputs["ref"], inputs["smpl"], inputs["hamer"], args.prompt or "a person dancing", args.out)
    job_size = check_jobs([job], args)
    if args.plan_only:
        print_plan_only(model, args, job_size)
        return
    run_jobs(_load_pipeline(model, args, job_size=job_size), [job], args, model=model)


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt  # the same clean-up and message as Ctrl-C (a service manager's stop, `kill`)


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    from .parallel.processes import leave_processes

    leave_processes(code)  # a process of torch.distributed.run ends here; alone, this returns
    return code


def _main(argv: list[str] | None = None) -> int:
    import threading

    args = build_parser().parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # batch workers rerun the command on a share of clips
    apply_fast_preset(args)
    PROGRESS.kept.clear()
    PROGRESS.resumable.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        quiet_libraries()
        if args.command == "demo":
            demo(args)
        elif args.command == "decode":
            decode_command(args, _device(args))
        elif args.command == "pose":
            make_pose_videos(args, args.out)
        elif args.command == "eval-prepare":
            from .evaluation.command import prepare_command

            prepare_command(args)
        elif args.command == "evaluate":
            from .evaluation.command import evaluate_command

            evaluate_command(args)
        elif args.command == "convert":
            from .convert.command import convert_command

            convert_command(args)
        elif args.command == "train":
            from .training.command import train_command

            train_command(args, _device(args))
        else:
            check_release_folder(args.model, args.transformer)
            if args.root and any(getattr(args, name) is not None for name in ("ref", "smpl", "hamer", "out")):
                raise InputError("--root runs a batch folder; give either --root (with --out-dir) or --ref/--smpl/"
                                 "--hamer/--out, not both.")  # fmt: skip
            if args.root and not args.plan_only:
                return batch_command(args)
            jobs = batch_jobs(args.root, args.out_dir) if args.root else [single_job(args)]
            if getattr(args, "video", None) is not None:
                check_run_arguments(args)  # every number of the animate run, before minutes of pose fitting
            join_parallel(args)
            if getattr(args, "video", None) is not None:
                from .parallel.processes import barrier

                if writes_outputs(args):  # one process fits the motion and writes the pose videos for all
                    make_pose_videos(args, jobs[0].smpl.parent)
                barrier()
            job_size = check_jobs(jobs, args)
            if args.plan_only:
                print_plan_only(args.model, args, job_size, args.transformer)
            else:
                run_jobs(_load_pipeline(args.model, args, args.transformer, job_size), jobs, args)
    except RealisDanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = ", ".join(str(path) for path in PROGRESS.kept)
        print("interrupted; no partial file was left" + (f"; sampled latents kept: {kept}" if kept else ""),
              file=sys.stderr)  # fmt: skip
        for path in PROGRESS.resumable:
            if path.is_file():
                print(f"finished sampling work is kept in {path}: run the same command again to resume from it",
                      file=sys.stderr)  # fmt: skip
        return 130
    return 0
