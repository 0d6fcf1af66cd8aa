"""Load a RealisDance-DiT transformer from any supported layout without holding it in memory twice.

The model is built on the meta device (no memory), its dtype plan is applied there, and every tensor is then read
from its file, cast and moved to its final device one at a time and assigned in place. Peak host memory is the
model in its final dtype plus one tensor.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import CheckpointError
from ..model import RealisDanceTransformer
from .config_infer import infer_config
from .dtypes import apply_dtype_plan, dominant_stored_dtype, resolve_dtype
from .keymap import detect_naming, strip_prefix, wan_to_diffusers
from .safetensors_file import SafetensorsReader
from .sources import CheckpointSource, locate

logger = logging.getLogger(__name__)

# Stored names that carry no parameter of ours: stale I2V keys of the diffusers conversion (the release's class
# ignores them too) and the markers / input scales of ComfyUI "scaled fp8" files.
_IGNORED_SUFFIXES = (".norm_added_q.weight", ".norm_added_q.bias", ".scale_input")
_IGNORED_NAMES = {"scaled_fp8"}
_SCALE_SUFFIX = ".scale_weight"


@dataclass(frozen=True)
class TensorPlan:
    """Where one model parameter comes from."""

    stored_name: str
    header_index: int
    scale_name: str | None = None  # ComfyUI scaled-fp8: weight = stored * scale


def _model_kwargs(config: dict) -> dict:
    known = set(RealisDanceTransformer._get_init_keys(RealisDanceTransformer)) - {"self"}
    return {k: v for k, v in config.items() if k in known}


def plan_tensors(source: CheckpointSource) -> tuple[dict[str, TensorPlan], dict[str, tuple[int, ...]]]:
    """Map every diffusers parameter name to the stored tensor that fills it."""
    all_names = [name for header in source.headers for name in header.tensors]
    prefix, stripped = strip_prefix(all_names)
    naming = detect_naming(stripped)
    if naming == "unknown":
        raise CheckpointError(
            f"{source.path}: these tensors are not a Wan 2.1 DiT (no 'head.head' / 'proj_out' or attention weights "
            f"found; first names: {', '.join(sorted(stripped)[:3])}). Is this a VAE, text encoder or LoRA file?"
        )
    to_diffusers = wan_to_diffusers if naming == "wan" else (lambda n: n)
    header_of = {name: i for i, header in enumerate(source.headers) for name in header.tensors}
    plans: dict[str, TensorPlan] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    scales: dict[str, str] = {}
    for short, stored in stripped.items():
        if short in _IGNORED_NAMES or short.endswith(_IGNORED_SUFFIXES):
            continue
        target = to_diffusers(short)
        if target.endswith(_SCALE_SUFFIX):
            scales[target[: -len(_SCALE_SUFFIX)] + ".weight"] = stored
            continue
        plans[target] = TensorPlan(stored, header_of[stored])
        shapes[target] = source.headers[header_of[stored]].tensors[stored].shape
    for target, scale in scales.items():
        if target in plans:
            plans[target] = TensorPlan(plans[target].stored_name, plans[target].header_index, scale)
    logger.debug("checkpoint %s: %s naming, prefix %r, %d tensors", source.path, naming, prefix, len(plans))
    return plans, shapes


def require_realisdance(source: CheckpointSource, names) -> None:
    """The three RealisDance modules are in ``names`` (parameter names, in any naming: the modules keep theirs)."""
    new = [m for m in RealisDanceTransformer.realisdance_modules if f"{m}.weight" in names]
    if len(new) == len(RealisDanceTransformer.realisdance_modules):
        return
    if not new:
        raise CheckpointError(
            f"{source.path}: this is a plain Wan 2.1 DiT without the RealisDance modules (add_conv_in, add_proj, "
            f"attn_conv_in). RealisDance-DiT needs its own weights: the transformer/ folder of the "
            f"theFoxofSky/RealisDance-DiT release, or a single file converted from it."
        )
    missing = sorted(set(RealisDanceTransformer.realisdance_modules) - set(new))
    raise CheckpointError(f"{source.path}: incomplete RealisDance-DiT checkpoint, missing {', '.join(missing)}.")


def resolve_config(source: CheckpointSource, shapes: dict, overrides: dict | None) -> dict:
    """The folder's config.json when present, else the config rebuilt from shapes; ``overrides`` win."""
    if source.config is not None:
        class_name = source.config.get("_class_name", "")
        if class_name and class_name not in ("RealisDanceDiT", RealisDanceTransformer.__name__):
            logger.warning("%s names class %s; loading it as RealisDance-DiT", source.config_path, class_name)
        config = dict(source.config)
    else:
        metadata = source.headers[0].metadata if len(source.headers) == 1 else None
        config = infer_config(shapes, str(source.path), metadata)
    config.update(overrides or {})
    check_config(config, str(source.config_path or source.path))
    return config


# Sizes every Wan config must give as positive whole numbers (a zero head size, for one, would otherwise surface as
# a ZeroDivisionError in the memory planner or a torch error while building the model).
_POSITIVE_SIZES = ("num_attention_heads", "attention_head_dim", "num_layers", "ffn_dim", "in_channels", "text_dim")


def check_config(config: dict, where: str) -> None:
    """One sentence naming the file and the key when a config cannot describe a Wan 2.1 DiT."""
    for key in _POSITIVE_SIZES:
        value = config.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"{where}: '{key}' must be a positive whole number, got {value!r}.")
    patch = config.get("patch_size", [1, 2, 2])
    if (
        not isinstance(patch, list | tuple)
        or len(patch) != 3
        or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in patch)
    ):
        raise CheckpointError(f"{where}: 'patch_size' must be three positive whole numbers, got {patch!r}.")


def _check_against_model(source: CheckpointSource, expected: dict, plans: dict, shapes: dict) -> None:
    unexpected = sorted(set(plans) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{source.path}: {len(unexpected)} tensors do not belong to a RealisDance-DiT of this configuration "
            f"(e.g. {', '.join(unexpected[:3])}). Is it another Wan variant (VACE, Animate, a LoRA)?"
        )
    for name, param in expected.items():
        if name in shapes and tuple(shapes[name]) != tuple(param.shape):
            raise CheckpointError(
                f"{source.path}: tensor {name!r} has shape {tuple(shapes[name])} but the model config "
                f"({source.config_path or 'inferred from the file'}) expects {tuple(param.shape)}. The config and "
                f"the weights are from different models."
            )
    missing = sorted(set(expected) - set(plans))
    if missing:
        raise CheckpointError(
            f"{source.path}: {len(missing)} parameters are missing (e.g. {', '.join(missing[:3])}); the checkpoint is "
            f"incomplete. Download it again."
        )


def _assign(model: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name)
    module._parameters[leaf] = torch.nn.Parameter(tensor, requires_grad=False)


@dataclass
class PlannedTransformer:
    """A transformer built on the meta device with its dtype plan, and where each of its tensors is stored."""

    model: RealisDanceTransformer
    source: CheckpointSource
    plans: dict[str, TensorPlan]
    fresh_modules: tuple[str, ...] = ()  # new modules of a plain Wan DiT: initialised, not read

    def _by_header(self) -> dict[int, list[str]]:
        by_header: dict[int, list[str]] = {}
        for name, plan in self.plans.items():
            by_header.setdefault(plan.header_index, []).append(name)
        return dict(sorted(by_header.items()))

    def tensor_order(self) -> list[str]:
        """The parameter names in the order ``tensors`` yields them (file by file, so each file is opened once)."""
        return [name for names in self._by_header().values() for name in names]

    def tensors(self, progress: Callable[[int, int], None] | None = None):
        """(name, tensor) for every stored parameter, read one at a time on the CPU in the parameter's dtype."""
        targets = dict(self.model.named_parameters())
        done, total = 0, len(self.plans)
        for index, names in self._by_header().items():
            with SafetensorsReader(self.source.headers[index]) as reader:
                for name in names:
                    plan = self.plans[name]
                    tensor = reader.get(plan.stored_name)
                    if plan.scale_name is not None:
                        tensor = tensor.float() * reader.get(plan.scale_name).float()
                    yield name, tensor.to(dtype=targets[name].dtype)
                    done += 1
                    if progress is not None:
                        progress(done, total)


def plan_transformer(
    path, dtype: str = "auto", config_overrides: dict | None = None, from_plain_wan: bool = False
) -> PlannedTransformer:
    """Check the files against the model they describe and build that model on the meta device (no weights read)."""
    source = locate(path)
    plans, shapes = plan_tensors(source)
    new_modules = RealisDanceTransformer.realisdance_modules
    plain = from_plain_wan and not any(f"{m}.weight" in shapes for m in new_modules)
    if not plain:
        require_realisdance(source, shapes)
    config = resolve_config(source, shapes, config_overrides)
    try:
        with torch.device("meta"):
            model = RealisDanceTransformer(**_model_kwargs(config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source.config_path or source.path}: invalid model config ({err}).") from err
    apply_dtype_plan(model, resolve_dtype(dtype, dominant_stored_dtype(source.headers)))
    targets = dict(model.named_parameters())
    fresh = {n for n in targets if n.split(".")[0] in new_modules} if plain else set()
    _check_against_model(source, {n: p for n, p in targets.items() if n not in fresh}, plans, shapes)
    return PlannedTransformer(model.eval().requires_grad_(False), source, plans, tuple(new_modules) if plain else ())


def load_transformer(
    path,
    dtype: str = "auto",
    device: str | torch.device = "cpu",
    config_overrides: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    from_plain_wan: bool = False,
    init_seed: int = 0,
) -> RealisDanceTransformer:
    """Load the transformer from a release folder, a ``transformer/`` folder, a shard index or one safetensors file.

    dtype: 'auto' (the file's precision), 'fp32', 'bf16', 'fp16', 'fp8_e4m3fn' or 'fp8_e5m2' (fp8 storage with bf16
    compute). Single files in diffusers, original-Wan or ComfyUI naming are all accepted.
    ``from_plain_wan``: a plain Wan 2.1 DiT is accepted too and gets the paper's initialisation of the new modules
    (fine-tuning from Wan; ``RealisDanceTransformer.initialize_new_modules``), drawn from ``init_seed``.
    """
    planned = plan_transformer(path, dtype, config_overrides, from_plain_wan)
    model = planned.model
    for name, tensor in planned.tensors(progress):
        _assign(model, name, tensor.to(device=device))
    if planned.fresh_modules:
        fresh = {name: copy.deepcopy(getattr(model, name)) for name in planned.fresh_modules}
        patchifier = model.patch_embedding
        for name, tensor in initialised_new_modules(fresh, patchifier.weight, patchifier.bias, init_seed).items():
            _assign(model, name, tensor.to(device))
    return model.eval().requires_grad_(False)


def initialised_new_modules(fresh: dict, patch_weight: torch.Tensor, patch_bias: torch.Tensor,
                            seed: int = 0) -> dict[str, torch.Tensor]:  # fmt: skip
    """The new modules of a plain Wan DiT (``fresh``: their meta-device modules) with the paper's initialisation,
    made whole on the CPU: torch's default draws from ``seed`` (the same in every process and on every device), then
    ``RealisDanceTransformer.initialize_new_modules`` (add_proj zero, the reference patchifier copied from the noise
    patchifier ``patch_weight`` / ``patch_bias``)."""
    holder = torch.nn.Module()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, module in fresh.items():
            module.to_empty(device="cpu")
            module.reset_parameters()
            setattr(holder, name, module)
    noise_patchifier = torch.nn.Module()  # read only
    noise_patchifier.weight = patch_weight.detach().cpu()
    noise_patchifier.bias = patch_bias.detach().cpu()
    noise_patchifier.in_channels = patch_weight.shape[1]
    holder.patch_embedding = noise_patchifier
    with torch.no_grad():
        RealisDanceTransformer.initialize_new_modules(holder)
    return {
        f"{name}.{leaf}": value.detach() for name in fresh for leaf, value in getattr(holder, name).named_parameters()
    }
