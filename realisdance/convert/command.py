"""``realisdance convert RELEASE --out ComfyUI/models``: what to write, checked before anything is read.

Each part becomes one file in the ComfyUI models sub-folder whose loader reads it. Users who already have the
repackaged Wan 2.1 files (umT5, clip_vision_h, wan_2.1_vae) need only the DiT: ``--parts bf16`` or ``--parts fp8``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints.dtypes import dominant_stored_dtype, resolve_dtype
from ..checkpoints.safetensors_file import read_header
from ..errors import CheckpointError, InputError
from ..release_folder import RELEASE_NAME
from .component_files import check_image_encoder, check_text_encoder, check_vae


@dataclass(frozen=True)
class Part:
    folder: str  # the ComfyUI models sub-folder
    components: tuple[str, ...]  # the release sub-folders it is made from
    loader: str  # the ComfyUI node that loads it
    fraction: float  # written bytes per stored byte (for the disk check)


PARTS = {
    "bf16": Part("diffusion_models", ("transformer",), "RealisDance-DiT Loader (MODEL) or Load Diffusion Model", 1.0),
    "fp8": Part("diffusion_models", ("transformer",), "RealisDance-DiT Loader (MODEL) or Load Diffusion Model", 0.55),
    "text_encoder": Part("text_encoders", ("text_encoder", "tokenizer"), "Load CLIP (type wan)", 1.0),
    "image_encoder": Part("clip_vision", ("image_encoder",), "Load CLIP Vision", 1.0),
    "vae": Part("vae", ("vae",), "Load VAE", 1.0),
}


def _check_transformer(release: Path) -> None:
    from ..checkpoints.loader import plan_transformer

    plan_transformer(release, "bf16")  # reads headers only: a plain Wan DiT or another model is refused here


CHECKS = {
    "bf16": _check_transformer,
    "fp8": _check_transformer,
    "text_encoder": lambda release: check_text_encoder(release / "text_encoder"),
    "image_encoder": lambda release: check_image_encoder(release / "image_encoder"),
    "vae": lambda release: check_vae(release / "vae"),
}


@dataclass(frozen=True)
class ConvertedFile:
    part: str
    path: Path
    loader: str


def _stored_bytes(folder: Path) -> tuple[int, str | None]:
    headers = [read_header(path) for path in sorted(folder.glob("*.safetensors"))]
    if not headers:
        raise CheckpointError(f"{folder} holds no .safetensors weights; download the release's {folder.name}/ again.")
    return sum(path.stat().st_size for path in sorted(folder.glob("*.safetensors"))), dominant_stored_dtype(headers)


def output_name(part: str, release: Path) -> str:
    if part == "bf16":
        return "RealisDance-DiT_bf16.safetensors"
    if part == "fp8":
        return "RealisDance-DiT_fp8_e4m3fn_scaled.safetensors"
    if part == "text_encoder":
        _, stored = _stored_bytes(release / "text_encoder")
        return f"umt5_xxl_{resolve_dtype('auto', stored)}.safetensors"
    return {"image_encoder": "clip_vision_h.safetensors", "vae": "wan_2.1_vae.safetensors"}[part]


def plan_conversion(release: Path, out: Path, parts: list[str], overwrite: bool) -> list[tuple[str, Path]]:
    """(part, output path) for each part, or an error naming what is missing, already there, or does not fit."""
    if not release.is_dir():
        raise InputError(f"{release} is not a folder; give the {RELEASE_NAME} release folder (with transformer/ etc.).")
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise InputError(f"unknown part {', '.join(unknown) or '(none)'}; choose from {', '.join(PARTS)}.")
    needed = 0
    planned = []
    for part in dict.fromkeys(parts):
        spec = PARTS[part]
        for component in spec.components:
            if not (release / component).is_dir():
                raise CheckpointError(
                    f"{release} has no {component}/ folder, which the {part} part is made from; download the whole "
                    f"{RELEASE_NAME} release, or leave {part} out of --parts."
                )
        CHECKS[part](release)  # the right kind of weights, before hours of writing the others
        target = out / spec.folder / output_name(part, release)
        if target.exists() and not overwrite:
            raise InputError(
                f"{target} already exists; keep it (ComfyUI loads it as it is), remove it, or pass --overwrite."
            )
        needed += int(_stored_bytes(release / spec.components[0])[0] * spec.fraction)
        planned.append((part, target))
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if needed > free:
        raise InputError(
            f"the converted files need about {needed / 2**30:.1f} GiB but {out} has {free / 2**30:.1f} GiB free; "
            "free some space or convert fewer parts (--parts)."
        )
    return planned


def convert_release(
    release, out, parts: list[str] | None = None, overwrite: bool = False, progress: Callable | None = None
) -> list[ConvertedFile]:
    """Write each part into its ComfyUI models sub-folder of ``out``; returns what was written, in order."""
    from .component_files import write_image_encoder, write_text_encoder, write_vae
    from .transformer_file import write_transformer

    release, out = Path(release).expanduser(), Path(out).expanduser()
    written = []
    for part, target in plan_conversion(release, out, list(parts or PARTS), overwrite):
        target.parent.mkdir(parents=True, exist_ok=True)
        if part in ("bf16", "fp8"):
            reporter = progress(part) if progress else None
            write_transformer(release, target, "bf16" if part == "bf16" else "fp8_e4m3fn_scaled", reporter)
        elif part == "text_encoder":
            write_text_encoder(release / "text_encoder", release / "tokenizer", target)
        elif part == "image_encoder":
            write_image_encoder(release / "image_encoder", target)
        else:
            write_vae(release / "vae", target)
        written.append(ConvertedFile(part, target, PARTS[part].loader))
    return written


def add_convert_parser(commands, shown: dict) -> None:
    convert = commands.add_parser(
        "convert",
        help="turn the diffusers release folder into the single files ComfyUI loads (DiT bf16 / fp8, umT5, CLIP, VAE)",
        **shown,
    )
    convert.add_argument("model", type=Path, help=f"the {RELEASE_NAME} release folder")
    convert.add_argument("--out", type=Path, required=True, help="ComfyUI's models folder (files go to sub-folders)")
    convert.add_argument(
        "--parts", default=",".join(PARTS),
        help="comma-separated parts to write; with the repackaged Wan 2.1 encoders and VAE, 'bf16' or 'fp8' is enough",
    )  # fmt: skip
    convert.add_argument("--overwrite", action="store_true", help="replace files that are already there")


def convert_command(args) -> None:
    from tqdm import tqdm

    bars = {}

    def progress(part):
        def report(done, total):
            if part not in bars:
                bars[part] = tqdm(total=total, desc=f"converting {part}", unit="tensor")
            bars[part].update(done - bars[part].n)

        return report

    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    written = convert_release(args.model, args.out, parts, args.overwrite, progress)
    for bar in bars.values():
        bar.close()
    for item in written:
        print(f"{item.part}: {item.path} ({item.path.stat().st_size / 2**20:.1f} MiB), load it with {item.loader}")
