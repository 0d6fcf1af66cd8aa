"""``python -m realisdance train``: fine-tune RealisDance-DiT on a folder in the official layout.

    realisdance train --model /path/to/RealisDance-DiT --data my_clips --run-dir runs/first \
        --train part --steps 500 --batch 16 --timesteps low-noise-warmup

Everything is checked before anything loads (numbers, the data folder and every clip's files). The clips are encoded
once into ``--cache`` (default ``RUN/cache``); the DiT then trains alone. The run directory holds ``checkpoint.pt``
(a rerun of the same command resumes from it; raise ``--steps`` to train further), ``loss.csv``, ``loss.png`` and
the result: ``transformer/`` (part / full) or ``lora.safetensors`` (lora).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .objective import Dropout
from .parts import STRATEGIES, TrainableParts
from .timesteps import KINDS, TimestepSchedule


def add_train_parser(commands, shown: dict) -> None:
    train = commands.add_parser("train", help="fine-tune RealisDance-DiT on clips in the official layout", **shown)
    train.add_argument("--model", required=True, help="the release folder to start from (its encoders encode the data)")
    train.add_argument("--data", type=Path, required=True, help="ref/, smpl/, hamer/, video/ (targets), prompt/")
    train.add_argument("--run-dir", type=Path, required=True, help="checkpoints, loss log and the result go here")
    train.add_argument(
        "--init", choices=("release", "wan"), default="release",
        help="release: continue from the model's RealisDance weights; wan: --model is a plain Wan 2.1 folder, the "
        "new modules get the paper's initialisation (add_proj zero, reference patchifier copied)",
    )  # fmt: skip
    train.add_argument("--cache", type=Path, default=None, help="encoded clips (default: RUN_DIR/cache)")
    train.add_argument(
        "--train", choices=STRATEGIES, default="part",
        help="part: new modules + self-attention (the paper); full; lora (PEFT on self-attention)",
    )  # fmt: skip
    train.add_argument("--lora-rank", type=int, default=32)
    train.add_argument("--steps", type=int, default=1000, help="optimiser steps")
    train.add_argument("--batch", type=int, default=8, help="clips per optimiser step (gradient accumulation)")
    train.add_argument("--lr", type=float, default=1e-5, help="AdamW learning rate (the paper's)")
    train.add_argument("--timesteps", choices=KINDS, default="low-noise-warmup")
    train.add_argument("--warmup-alpha", type=float, default=1.0, help="warmup strength at step 0, in [0, 1]")
    train.add_argument("--warmup-steps", type=int, default=1000, help="tau: steps until timesteps are uniform")
    train.add_argument("--reference-dropout", type=float, default=0.05)
    train.add_argument("--prompt-dropout", type=float, default=0.05)
    train.add_argument("--frames", type=int, default=81, help="frames per clip (4k+1)")
    train.add_argument("--max-area", type=int, default=768 * 768, help="pixels per frame")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-every", type=int, default=100, help="steps between checkpoints")
    train.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    train.add_argument("--bf16", action="store_true", help="bf16 compute on fp32 master weights (CUDA)")
    train.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute blocks in backward: less memory"
    )
    train.add_argument(
        "--plan-only", action="store_true", help="print the memory of one training step per process, then stop"
    )
    train.add_argument(
        "--shard-weights", action="store_true",
        help="under torch.distributed.run: weights, gradients and optimiser state sharded over the processes (FSDP2), "
        "for full / part fine-tuning of a model whose training state does not fit one GPU",
    )  # fmt: skip


def settings_from(args):
    from ..pipeline.preprocess import check_frame_count
    from .run import TrainSettings

    check_frame_count(args.frames)
    return TrainSettings(
        steps=args.steps,
        batch=args.batch,
        learning_rate=args.lr,
        parts=TrainableParts(args.train, lora_rank=args.lora_rank),
        timesteps=TimestepSchedule(args.timesteps, alpha=args.warmup_alpha, tau=args.warmup_steps),
        dropout=Dropout(args.reference_dropout, args.prompt_dropout),
        seed=args.seed,
        save_every=args.save_every,
        gradient_checkpointing=args.gradient_checkpointing,
        autocast_bf16=args.bf16,
        shard_weights=args.shard_weights,
    )


def train_command(args: argparse.Namespace, device: str) -> None:
    from tqdm import tqdm

    from ..checkpoints import load_transformer
    from ..parallel.processes import barrier, join_processes, launched_processes, smallest_free_bytes
    from ..parallel.sharding import load_sharded_transformer
    from ..release_folder import check_release_folder
    from .data import DataSettings, build_cache, cache_paths, find_clips
    from .export import base_of_new_modules, export_lora, export_sharded_transformer, export_transformer
    from .memory_plan import check_training_fits
    from .run import train

    settings = settings_from(args)
    if settings.shard_weights and launched_processes() < 2:
        raise InputError("--shard-weights shares the training state between processes: launch with python -m "
                         "torch.distributed.run --nproc-per-node N -m realisdance train ...")  # fmt: skip
    check_release_folder(args.model, None)
    clips = find_clips(args.data)
    rank, device = join_processes(device)  # torchrun / torch.distributed.run: one process per GPU
    memory = training_memory(args, settings)
    if rank == 0:
        print(memory.describe())
    if args.plan_only:
        return
    check_training_fits(memory, smallest_free_bytes(device), settings.parts.strategy)  # before minutes of encoding
    cache = args.cache or args.run_dir / "cache"
    if rank == 0:  # encoded once, by the first process; the others wait for it
        build_cache(args.model, clips, cache, DataSettings(args.frames, args.max_area))
    barrier()
    samples = cache_paths(clips, cache)
    plain_wan = args.init == "wan"
    if settings.shard_weights:  # never whole in any process: built on the meta device, each process reads its slices
        model = load_sharded_transformer(args.model, "fp32", device, kind=None, from_plain_wan=plain_wan,
                                         init_seed=args.seed, training=True)  # fmt: skip
    else:
        model = load_transformer(args.model, dtype="fp32", device=device, from_plain_wan=plain_wan,
                                 init_seed=args.seed)  # fmt: skip
    base = base_of_new_modules(model) if settings.parts.strategy == "lora" else {}
    with tqdm(total=settings.steps, desc="training", unit="step", disable=rank != 0) as bar:

        def progress(step: int, total: int, loss: float) -> None:
            bar.n = step
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.refresh()

        train(model, samples, args.run_dir, settings, say=tqdm.write if rank == 0 else (lambda text: None),
              progress=progress)  # fmt: skip
    if settings.shard_weights:
        out = export_sharded_transformer(model, args.run_dir / "transformer", rank)
    if rank != 0:
        return
    if settings.shard_weights:
        print(f"wrote {out}: use it with `realisdance animate --model {args.model} --transformer {out}`")
    elif settings.parts.strategy == "lora":
        out = export_lora(model, base, args.run_dir / "lora.safetensors")
        print(f"wrote {out}: use it with `realisdance animate --lora {out}` or a ComfyUI LoRA loader")
    else:
        out = export_transformer(model, args.run_dir / "transformer")
        print(f"wrote {out}: use it with `realisdance animate --model {args.model} --transformer {out}`")
    print(f"loss log: {args.run_dir / 'loss.csv'}, curve: {args.run_dir / 'loss.png'}")


def training_memory(args, settings):
    """The device memory of one step per process (``memory_plan.py``), for the largest clip ``--frames`` and
    ``--max-area`` allow, measured on the meta device from the model's config (headers only, nothing loaded)."""
    import math

    from ..memory.facts import transformer_config_and_dtype
    from ..memory.sizes import JobSize
    from ..parallel.processes import launched_processes
    from .memory_plan import plan_training_memory

    config, _ = transformer_config_and_dtype(Path(args.model).expanduser(), "fp32")
    side = max(16, math.isqrt(args.max_area) // 16 * 16)  # the area's token count, whatever the clips' aspect
    job = JobSize(args.frames, side, side)
    return plan_training_memory(config, job, settings.parts, settings.autocast_bf16, settings.gradient_checkpointing,
                                launched_processes(), settings.shard_weights)  # fmt: skip
