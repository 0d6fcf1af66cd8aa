"""Stand-ins for the host's MODEL nodes the templates use: LoraLoaderModelOnly and KSampler (euler on the simple
schedule, the step-distill recipe). Our own small implementations of their documented behaviour:

- a LoRA file in kijai / ComfyUI key format (``diffusion_model.<weight>.lora_down`` / ``lora_up`` / ``alpha``, and
  full ``.diff`` / ``.diff_b`` deltas) adds ``strength * alpha / rank * up @ down`` to a copy of the model's weights
  (the clone gets its own inner model; the input MODEL is unchanged);
- the simple schedule takes ``steps`` sigmas evenly spaced from the top of the model's 1000-entry sigma table, then 0;
- euler steps ``x += (x - denoised) / sigma * (sigma_next - sigma)``.
"""

from __future__ import annotations

import copy

import torch

from . import folder_paths, sampling
from . import latest_io as io


def _lora_deltas(tensors: dict, strength: float) -> dict[str, torch.Tensor]:
    deltas: dict[str, torch.Tensor] = {}
    for name, down in tensors.items():
        if name.endswith(".lora_down.weight"):
            base = name[: -len(".lora_down.weight")]
            up = tensors[f"{base}.lora_up.weight"].float()
            alpha = tensors.get(f"{base}.alpha")
            scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
            deltas[f"{base}.weight"] = strength * scale * (up @ down.float())
        elif name.endswith(".diff"):
            deltas[f"{name[: -len('.diff')]}.weight"] = strength * down.float()
        elif name.endswith(".diff_b"):
            deltas[f"{name[: -len('.diff_b')]}.bias"] = strength * down.float()
    return deltas


class LoraLoaderModelOnly(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="LoraLoaderModelOnly",
            category="loaders",
            inputs=[
                io.Model.Input("model"),
                io.Combo.Input("lora_name", options=folder_paths.get_filename_list("loras")),
                io.Float.Input("strength_model", default=1.0, min=-100.0, max=100.0, step=0.01),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, lora_name, strength_model):
        from safetensors.torch import load_file

        tensors = load_file(folder_paths.get_full_path_or_raise("loras", lora_name))
        patched = model.clone()
        patched.model = copy.deepcopy(model.model)
        weights = dict(patched.model.diffusion_model.named_parameters())
        applied = 0
        with torch.no_grad():
            for key, delta in _lora_deltas(tensors, strength_model).items():
                name = key.removeprefix("diffusion_model.")
                if name in weights:
                    weights[name].add_(delta.to(weights[name].dtype).reshape(weights[name].shape))
                    applied += 1
        if not applied:
            raise ValueError(f"lora {lora_name}: no key matched the model")
        return io.NodeOutput(patched)


def simple_sigmas(model_sampling, steps: int) -> torch.Tensor:
    table = model_sampling.sigmas
    stride = len(table) / steps
    return torch.tensor([float(table[-(1 + int(i * stride))]) for i in range(steps)] + [0.0])


def sample_euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    extra_args = {} if extra_args is None else extra_args
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * ones, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    return x


SAMPLERS = {"euler": sample_euler}
SCHEDULERS = {"simple": simple_sigmas}


class KSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="KSampler",
            category="sampling",
            inputs=[
                io.Model.Input("model"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Int.Input("steps", default=20, min=1, max=10000),
                io.Float.Input("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
                io.Combo.Input("sampler_name", options=list(SAMPLERS)),
                io.Combo.Input("scheduler", options=list(SCHEDULERS)),
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                io.Latent.Input("latent_image"),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01),
            ],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def execute(cls, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise):
        import latent_preview

        if denoise != 1.0:
            raise NotImplementedError("the double's KSampler samples from noise only (denoise 1)")
        sigmas = SCHEDULERS[scheduler](model.get_model_object("model_sampling"), steps)
        start = latent_image["samples"]
        noise = sampling.prepare_noise(start, seed)
        callback = latent_preview.prepare_callback(model, steps)
        samples = sampling.sample_custom(model, noise, cfg, sampling.KSAMPLER(SAMPLERS[sampler_name]), sigmas,
                                         positive, negative, start, callback=callback, seed=seed)  # fmt: skip
        return io.NodeOutput({**latent_image, "samples": samples})


NODES = [LoraLoaderModelOnly, KSampler]
