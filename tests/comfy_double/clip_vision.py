"""``comfy.clip_vision`` of the double: ``Output`` (the attribute bag a CLIP vision encode returns; items and
attributes are the same thing, as in the host) and ``load`` for a CLIP ViT file with Hugging Face names
(``clip_vision_h.safetensors``), built on transformers' CLIPVisionModel.

``encode_image(image (B, H, W, 3) in 0..1, crop)`` follows the host: crop=True resizes the short side to 224 and
centre-crops, crop=False squashes the whole image to 224 x 224 (bicubic, antialiased), then CLIP's mean / std;
``penultimate_hidden_states`` is the second-to-last layer's output, as the Wan models use.
"""

from __future__ import annotations

import torch

from .sd import count_indexed

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Head counts of the CLIP ViTs ComfyUI ships configs for, by width (the tensors do not record them).
HEADS_BY_WIDTH = {768: 12, 1024: 16, 1280: 16, 1664: 16}


class Output:
    def __getitem__(self, key):
        return getattr(self, key)

    def __setitem__(self, key, value):
        setattr(self, key, value)


def _as_model_names(state: dict, model) -> dict:
    """The file's ``vision_model.*`` tensors under the model's own names (transformers 5 drops the prefix)."""
    prefixed = next(iter(model.state_dict())).startswith("vision_model.")
    wanted = {k: v for k, v in state.items() if k.startswith("vision_model.")}
    return wanted if prefixed else {k.removeprefix("vision_model."): v for k, v in wanted.items()}


class ClipVisionModel:
    def __init__(self, state: dict[str, torch.Tensor]):
        from transformers import CLIPVisionConfig, CLIPVisionModel

        patch = state["vision_model.embeddings.patch_embedding.weight"]
        width, patch_size = patch.shape[0], patch.shape[-1]
        positions = state["vision_model.embeddings.position_embedding.weight"].shape[0]
        self.image_size = patch_size * round((positions - 1) ** 0.5)
        config = CLIPVisionConfig(
            hidden_size=width,
            intermediate_size=state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
            num_hidden_layers=count_indexed(state, "vision_model.encoder.layers."),
            num_attention_heads=HEADS_BY_WIDTH.get(width, max(1, width // 64)),
            image_size=self.image_size,
            patch_size=patch_size,
            hidden_act="gelu",
        )
        self.model = CLIPVisionModel(config).eval()
        self.model.load_state_dict(_as_model_names(state, self.model), strict=True)

    def _pixels(self, image: torch.Tensor, crop: bool) -> torch.Tensor:
        pixels = image[..., :3].float().movedim(-1, 1)
        size = self.image_size
        if pixels.shape[-2:] == (size, size):
            pass  # the host resizes only what is not already the model's size
        elif crop:
            scale = size / min(pixels.shape[-2:])
            height, width = round(pixels.shape[-2] * scale), round(pixels.shape[-1] * scale)
            pixels = torch.nn.functional.interpolate(pixels, (height, width), mode="bicubic", antialias=True)
            top, left = (height - size) // 2, (width - size) // 2
            pixels = pixels[..., top : top + size, left : left + size]
        else:
            pixels = torch.nn.functional.interpolate(pixels, (size, size), mode="bicubic", antialias=True)
        pixels = (pixels.clamp(0, 1) * 255).round() / 255  # the host rounds to 8 bits before normalising
        mean, std = torch.tensor(CLIP_MEAN)[:, None, None], torch.tensor(CLIP_STD)[:, None, None]
        return (pixels - mean) / std

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor, crop: bool = True) -> Output:
        result = self.model(pixel_values=self._pixels(image, crop), output_hidden_states=True)
        output = Output()
        output["last_hidden_state"] = result.last_hidden_state
        output["penultimate_hidden_states"] = result.hidden_states[-2]
        output["image_embeds"] = result.pooler_output
        return output


def load_clipvision_from_sd(sd, prefix="", convert_keys=False):
    if "vision_model.encoder.layers.0.layer_norm1.weight" not in sd:
        return None
    return ClipVisionModel(sd)


def load(ckpt_path):
    from safetensors.torch import load_file

    return load_clipvision_from_sd(load_file(ckpt_path))
