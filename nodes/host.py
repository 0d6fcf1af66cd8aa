"""The only module of the pack that imports ComfyUI.

Everything the node classes need from the host is re-exported or wrapped here: the V3 node API (``io``, ``ui``,
``ComfyExtension``), our custom socket types, model folders (``folder_paths``), devices, memory, progress and
interrupt (``comfy.model_management``, ``comfy.utils``). The core package ``realisdance`` never imports ComfyUI; a
test double of exactly this surface lives in ``tests/comfy_double``.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import comfy.clip_vision
import comfy.latent_formats
import comfy.model_management as model_management
import comfy.utils
import folder_paths
import latent_preview
import torch
from comfy_api.latest import ComfyExtension, io, ui

from realisdance.errors import CheckpointError
from realisdance.memory.weights import module_bytes
from realisdance.safe_paths import resolve_user_file, user_files

__all__ = [
    "MODEL_FOLDER",
    "ComfyExtension",
    "clip_vision_output",
    "optional_schema_fields",
    "peak_device_memory",
    "load_torch_file",
    "load_diffusion_model_state_dict",
    "custom_sampler",
    "prepare_noise",
    "sample_custom",
    "RealisDanceClipVision",
    "RealisDanceConditions",
    "RealisDanceModel",
    "RealisDanceTextEmbeds",
    "RealisDanceTextEncoder",
    "RealisDanceVae",
    "component_choices",
    "compute_device",
    "free_device_bytes",
    "input_file_choices",
    "io",
    "make_room",
    "model_choices",
    "offload_device",
    "on_compute_device",
    "latent_preview_renderer",
    "progress_reporter",
    "register_model_folders",
    "release_cached_memory",
    "resolve_component_path",
    "resolve_input_file",
    "resolve_model_path",
    "throw_if_interrupted",
    "ui",
]

# ---- types passed between our nodes ----

# The deprecated pipeline-path loader's output type; it carries the native MODEL (a ModelPatcher) since that path
# became a shim over the native one, so saved workflows keep their links.
RealisDanceModel = io.Custom("REALISDANCE_MODEL")
RealisDanceTextEncoder = io.Custom("REALISDANCE_TEXT_ENCODER")  # realisdance.encoders.TextEncoder
RealisDanceClipVision = io.Custom("REALISDANCE_CLIP_VISION")  # realisdance.encoders.ClipImageEncoder
RealisDanceVae = io.Custom("REALISDANCE_VAE")  # realisdance.encoders.VideoVAE
RealisDanceTextEmbeds = io.Custom("REALISDANCE_TEXT_EMBEDS")  # nodes.interop.TextEmbeds
RealisDanceConditions = io.Custom("REALISDANCE_CONDITIONS")  # realisdance.pipeline.conditions.Conditions

# Inputs that take our type or the host's native one (the host joins the names with "," and accepts either).
TEXT_TYPES = [RealisDanceTextEmbeds, io.Conditioning]
REALISDANCE_MODEL_TYPES = [RealisDanceModel, io.Model]
IMAGE_ENCODER_TYPES = [RealisDanceClipVision, io.ClipVision]
VAE_TYPES = [RealisDanceVae, io.Vae]

# ---- model folders ----

# models/realisdance/ holds official diffusers folders (one sub-folder per release) and pose assets (body models,
# the SMPL-CS colour table). Single-file transformers go to the standard diffusion_models/ folder.
MODEL_FOLDER = "realisdance"
MODEL_FOLDER_EXTENSIONS = {".safetensors", ".sft", ".json", ".npz", ".pkl", ".pt"}
DIFFUSION_MODELS = "diffusion_models"
_FOLDER_MARKERS = ("model_index.json", os.path.join("transformer", "config.json"))
FOLDER_SUFFIX = "/"  # a combo value naming a folder of models/realisdance ends with "/"; file names never do


def register_model_folders() -> None:
    """Register models/realisdance (idempotent; paths users added via extra_model_paths.yaml are kept)."""
    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    try:
        os.makedirs(default, exist_ok=True)  # so users see where the release goes
    except OSError:
        pass  # read-only models folder: listing simply finds nothing there
    folder_paths.add_model_folder_path(MODEL_FOLDER, default, is_default=True)
    paths, extensions = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    # A key created by add_model_folder_path has an EMPTY extension set, which ComfyUI reads as "every file".
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | MODEL_FOLDER_EXTENSIONS)


def model_folder_paths() -> list[str]:
    """Every models/realisdance path, the default first (extra_model_paths.yaml may add more)."""
    register_model_folders()
    return folder_paths.get_folder_paths(MODEL_FOLDER)


def input_directory() -> str:
    """ComfyUI's input folder (where LoadImage and friends read user files)."""
    return folder_paths.get_input_directory()


def input_file_choices(extensions: tuple[str, ...]) -> list[str]:
    """Files of ComfyUI's input folder (sub-folders included) with one of ``extensions``: a file combo's options."""
    return user_files(folder_paths.get_input_directory(), extensions)


def resolve_input_file(name: str, what: str) -> Path:
    """A user file named in a prompt: inside the input folder, or the output / temp folder when annotated as the
    host does ("x.pt [output]"); anything that leads elsewhere is refused (``realisdance.safe_paths``)."""
    clean, base = folder_paths.annotated_filepath(str(name).strip())
    return resolve_user_file(clean, base or folder_paths.get_input_directory(), what)


def model_subfolder_choices(holds: Callable[[Path], bool], default: str) -> list[str]:
    """Names of the sub-folders of models/realisdance for which ``holds(folder)`` is true, ``default`` always first
    (offered even before the user has put the files there, so the error can say where they go)."""
    found = {
        child.name
        for root in model_folder_paths()
        if os.path.isdir(root)
        for child in Path(root).iterdir()
        if child.is_dir() and holds(child)
    }
    return [default, *sorted(found - {default})]


def resolve_model_subfolder(name: str, holds: Callable[[Path], bool]) -> Path:
    """The first models/realisdance/<name> for which ``holds`` is true; else the default path, for the error to name."""
    roots = [Path(root) for root in model_folder_paths()]
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(
            f"{name!r} is not a folder name of models/{MODEL_FOLDER}/; pick one of the folders the node lists."
        )
    for root in roots:
        if holds(root / name):
            return root / name
    return roots[0] / name


def _release_folders() -> dict[str, str]:
    """Sub-folders of every models/realisdance path that look like a diffusers release: name -> full path."""
    register_model_folders()
    found: dict[str, str] = {}
    for root in folder_paths.get_folder_paths(MODEL_FOLDER):
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            full = os.path.join(root, name)
            if os.path.isdir(full) and any(os.path.isfile(os.path.join(full, m)) for m in _FOLDER_MARKERS):
                found.setdefault(name, full)  # the first path wins, as in folder_paths.get_full_path
    return found


def model_choices() -> list[str]:
    """Transformer choices: .safetensors files in diffusion_models/, then release folders of models/realisdance/."""
    files = [
        name for name in folder_paths.get_filename_list(DIFFUSION_MODELS) if name.endswith((".safetensors", ".sft"))
    ]
    return files + [name + FOLDER_SUFFIX for name in _release_folders()]


def component_choices(folder_name: str) -> list[str]:
    """Encoder/VAE choices: .safetensors files of models/<folder_name>/, then the release folders (their
    text_encoder/, image_encoder/ or vae/ sub-folder is used)."""
    files = [name for name in folder_paths.get_filename_list(folder_name) if name.endswith((".safetensors", ".sft"))]
    return files + [name + FOLDER_SUFFIX for name in _release_folders()]


def resolve_component_path(folder_name: str, choice: str) -> str:
    """The full path of a ``component_choices(folder_name)`` value; a clear CheckpointError when it is gone."""
    return resolve_model_path(choice, folder_name)


def resolve_model_path(choice: str, folder_name: str = DIFFUSION_MODELS) -> str:
    """The full path of a ``model_choices()`` value; a clear CheckpointError when it is gone."""
    if choice.endswith(FOLDER_SUFFIX):
        folder = _release_folders().get(choice[: -len(FOLDER_SUFFIX)])
        if folder is None:
            raise CheckpointError(
                f"model folder '{choice}' not found in {' or '.join(folder_paths.get_folder_paths(MODEL_FOLDER))}. "
                f"It needs model_index.json or transformer/config.json; refresh the node (R) after moving files."
            )
        return folder
    path = folder_paths.get_full_path(folder_name, choice)
    if path is None:
        raise CheckpointError(
            f"model file '{choice}' not found in {' or '.join(folder_paths.get_folder_paths(folder_name))}; "
            f"refresh the node (R) after moving files."
        )
    return path


_SCHEMA_FIELDS = frozenset(getattr(io.Schema, "__dataclass_fields__", {}))


def optional_schema_fields(**fields) -> dict:
    """Schema fields newer hosts understand (e.g. ``search_aliases`` from v0.28), dropped on hosts without them."""
    return {name: value for name, value in fields.items() if name in _SCHEMA_FIELDS}


def clip_vision_output(penultimate_hidden_states: torch.Tensor):
    """A CLIP_VISION_OUTPUT holding the given penultimate states: what the host's Wan I2V reads as ``clip_fea``."""
    output = comfy.clip_vision.Output()
    output["penultimate_hidden_states"] = penultimate_hidden_states
    return output


# ---- devices, memory, progress, interrupt ----


def compute_device():
    """Where ComfyUI computes (its main torch device)."""
    return model_management.get_torch_device()


def offload_device():
    """Where ComfyUI parks models between uses."""
    return model_management.unet_offload_device()


def free_device_bytes() -> int | None:
    """Free memory of the compute device as the host counts it (its allocator's cached blocks included); None on
    a CPU, where the planner sets no limit."""
    device = compute_device()
    if model_management.is_device_cpu(device):
        return None
    return int(model_management.get_free_memory(device))


def make_room(num_bytes: int) -> None:
    """Ask the host's model manager to unload its own models (native VAE, CLIP, other diffusion models) until
    ``num_bytes`` are free on the compute device; it unloads only what it must, least recently used first."""
    device = compute_device()
    if model_management.is_device_cpu(device) or num_bytes <= 0:
        return
    model_management.free_memory(num_bytes, device)


def _module_bytes(wrapper) -> int:
    return module_bytes(wrapper.module)


@contextmanager
def on_compute_device(*wrappers, work_bytes: int = 0) -> Iterator[None]:
    """Our encoder wrappers on the compute device for the block, then back where they were.

    The host first unloads its own models as far as needed for their weights plus ``work_bytes``; if they still
    do not fit, they run where they are (slower, but no out-of-memory error). Native ComfyUI objects (and None)
    are skipped: ComfyUI loads and offloads its own models.
    """
    device = compute_device()
    ours = [wrapper for wrapper in wrappers if wrapper is not None and hasattr(wrapper, "module")]
    need = sum(_module_bytes(wrapper) for wrapper in ours if wrapper.device != device) + work_bytes
    make_room(need)
    free = free_device_bytes()
    if ours and free is not None and need > free:
        logging.warning(
            "RealisDance: %.2f GiB needed on %s but %.2f GiB free; running %s where loaded (slower).",
            need / 2**30,
            device,
            free / 2**30,
            ", ".join(type(wrapper).__name__ for wrapper in ours),
        )
        ours = []
    moved = []
    try:
        for wrapper in ours:
            moved.append((wrapper, wrapper.device))
            wrapper.to(device)
        yield
    finally:
        for wrapper, home in moved:
            wrapper.to(home)
        if moved:
            model_management.soft_empty_cache()


# ---- the host classes the native model subclasses (imported on first use: the test double has no model code) ----


def wan_dit_classes():
    """ComfyUI's Wan DiT (``WanModel``) and its sinusoidal timestep embedding."""
    from comfy.ldm.wan.model import WanModel, sinusoidal_embedding_1d

    return WanModel, sinusoidal_embedding_1d


def wan_model_modules():
    """``comfy.model_base`` (WAN21, BaseModel, ModelType), ``comfy.conds`` and ``comfy.supported_models`` (the
    WAN21_I2V detection config and the host's list of model configs)."""
    import comfy.conds
    import comfy.model_base
    import comfy.supported_models

    return comfy.model_base, comfy.conds, comfy.supported_models


def plain_operations():
    """The host's layer classes without weight initialisation (``comfy.ops.disable_weight_init``)."""
    import comfy.ops

    return comfy.ops.disable_weight_init


# ---- the native model's host calls (nodes/native subclasses ComfyUI's classes; every call goes through here) ----
# comfy.sd / comfy.sample / comfy.samplers are imported when called: the test double has no model code.


def load_torch_file(path) -> tuple[dict, dict | None]:
    """The tensors (memory-mapped where the host can) and the metadata of one safetensors file."""
    return comfy.utils.load_torch_file(str(path), safe_load=True, return_metadata=True)


def load_diffusion_model_state_dict(state_dict: dict, model_options: dict, metadata: dict | None):
    """The host's own diffusion-model loader (detection, dtype choice, fp8, the patcher); ``metadata`` is passed on
    hosts whose loader takes it (v0.28; v0.3.64 does not)."""
    import inspect

    import comfy.sd

    loader = comfy.sd.load_diffusion_model_state_dict
    kwargs = {"model_options": model_options}
    if "metadata" in inspect.signature(loader).parameters:
        kwargs["metadata"] = metadata
    return loader(state_dict, **kwargs)


def custom_sampler(function, options: dict):
    """A SAMPLER of the host running a k-diffusion-style ``function(model, x, sigmas, extra_args, callback, disable,
    **options)``."""
    import comfy.samplers

    return comfy.samplers.KSAMPLER(function, extra_options=options)


def prepare_noise(samples: torch.Tensor, seed: int, batch_index=None) -> torch.Tensor:
    """The host's seeded noise for a latent (what KSampler draws)."""
    import comfy.sample

    return comfy.sample.prepare_noise(samples, seed, batch_index)


def sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, latent_image, noise_mask, seed):
    """The host's custom sampling (CFG, conditioning, model management, patches) with its latent previews."""
    import comfy.sample

    callback = latent_preview.prepare_callback(model, len(sigmas) - 1)
    return comfy.sample.sample_custom(
        model, noise, cfg, sampler, sigmas, positive, negative, latent_image,
        noise_mask=noise_mask, callback=callback, seed=seed,
    )  # fmt: skip


class _Peak:
    bytes: int | None = None


@contextmanager
def peak_device_memory() -> Iterator[_Peak]:
    """The compute device's peak allocated bytes during the block (``.bytes``; None on a CPU)."""
    peak = _Peak()
    device = compute_device()
    cuda = getattr(device, "type", None) == "cuda" and torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield peak
    finally:
        if cuda:
            peak.bytes = int(torch.cuda.max_memory_allocated(device))


def release_cached_memory() -> None:
    """Before a large load into host memory: drop garbage and the allocator's cached blocks.

    Deliberately NOT ``unload_all_models``: unloading moves other models' weights from VRAM back into host RAM,
    which is the memory a CPU-side load needs.
    """
    gc.collect()
    model_management.soft_empty_cache()


def throw_if_interrupted() -> None:
    """Raise ComfyUI's InterruptProcessingException when the user pressed Cancel (clears the flag)."""
    model_management.throw_exception_if_processing_interrupted()


def progress_reporter(total: int | None = None) -> Callable[..., None]:
    """A ``progress(done, total, preview=None)`` callback for the core: checks Cancel, then moves the node's progress
    bar (with a preview image from :func:`latent_preview_renderer` when given).

    The interrupt is checked here on every call, not left to the progress hook: newer hosts throttle the hook.
    """
    throw_if_interrupted()
    bar = comfy.utils.ProgressBar(total or 1)

    def report(done: int, total: int, preview=None) -> None:
        throw_if_interrupted()
        bar.update_absolute(done, total, preview)

    return report


def latent_preview_renderer() -> Callable[[torch.Tensor], object] | None:
    """Turns a normalised Wan 2.1 latent (B, 16, T, H/8, W/8) into the progress bar's preview, by the method the user
    chose for ComfyUI (``--preview-method``: latent-to-RGB, TAESD, or none, in which case this returns None).

    Our normalised latents are the space ComfyUI's Wan 2.1 previewers read (``Wan21.process_in`` of the raw latent).
    """
    previewer = latent_preview.get_previewer(model_management.get_torch_device(), comfy.latent_formats.Wan21())
    if previewer is None:
        return None
    return lambda latents: previewer.decode_latent_to_preview_image("JPEG", latents)
