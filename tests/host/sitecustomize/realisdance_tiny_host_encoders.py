"""Let the real host's CLIPLoader (type wan) and CLIPVisionLoader load the TINY umT5 and CLIP files the tests build
(test harness only; active when REALISDANCE_TINY_ENCODERS names a JSON file, see tests/host/host_env.py).

The host builds these encoders from fixed configs (umT5-XXL: 24 layers of width 4096, 5.7B parameters; CLIP ViT-H:
32 layers) and recognises a file by tensors only those sizes have (block 23, layer 30), so a tiny file would be
refused or built at full size. Three narrow swaps make the host's own code run on the tiny files:
- ``comfy.sd.detect_te_model`` calls a umT5 with per-layer relative attention but fewer than 24 blocks the XXL
  model (what the Wan CLIPLoader expects);
- ``comfy.sd1_clip.SDClipModel`` is given the tiny umT5 config where the host names ``umt5_config_xxl.json``;
- ``comfy.clip_vision.load_clipvision_from_sd`` builds a CLIP ViT with fewer than 23 layers from the tiny config.
Everything else (tokenizer from the file's ``spiece_model``, T5 attention, masking and zeroing, CLIP preprocessing,
the encoders' outputs) is the host's unchanged code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

_SETTINGS = os.environ.get("REALISDANCE_TINY_ENCODERS")
_UMT5_BIAS = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"
_XXL_BLOCK = "encoder.block.23.layer.0.SelfAttention.k.weight"
_CLIP_LAYER0 = "vision_model.encoder.layers.0.layer_norm1.weight"
_CLIP_LAYER22 = "vision_model.encoder.layers.22.layer_norm1.weight"


def _settings() -> dict:
    with open(_SETTINGS, encoding="utf-8") as handle:
        return json.load(handle)


def _patch_sd(module) -> None:
    detect = module.detect_te_model

    def detect_te_model(sd):
        if _UMT5_BIAS in sd and _XXL_BLOCK not in sd:
            return module.TEModel.T5_XXL
        return detect(sd)

    module.detect_te_model = detect_te_model


def _patch_sd1_clip(module) -> None:
    init = module.SDClipModel.__init__
    tiny = _settings()["umt5_config"]

    def __init__(self, *args, textmodel_json_config=None, **kwargs):
        if isinstance(textmodel_json_config, str) and os.path.basename(textmodel_json_config) == "umt5_config_xxl.json":
            textmodel_json_config = tiny
        init(self, *args, textmodel_json_config=textmodel_json_config, **kwargs)

    module.SDClipModel.__init__ = __init__


def _patch_clip_vision(module) -> None:
    load = module.load_clipvision_from_sd
    tiny = _settings()["clip_vision_config"]

    def load_clipvision_from_sd(sd, prefix="", convert_keys=False):
        if not convert_keys and _CLIP_LAYER0 in sd and _CLIP_LAYER22 not in sd:
            clip = module.ClipVisionModel(tiny)
            clip.load_sd(sd)
            return clip
        return load(sd, prefix, convert_keys)

    module.load_clipvision_from_sd = load_clipvision_from_sd


_PATCHES = {"comfy.sd": _patch_sd, "comfy.sd1_clip": _patch_sd1_clip, "comfy.clip_vision": _patch_clip_vision}


class _AfterImport:
    """A meta-path finder that runs the patch of each module above right after the module's own code."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in _PATCHES:
            return None
        sys.meta_path.remove(cls)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, cls)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            _PATCHES[name](module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if _SETTINGS and not any(name in sys.modules for name in _PATCHES):
        sys.meta_path.insert(0, _AfterImport)
