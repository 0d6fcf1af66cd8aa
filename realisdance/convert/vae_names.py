"""Diffusers' Wan VAE names -> the original Wan names ComfyUI's ``wan_2.1_vae.safetensors`` uses.

The inverse of ``diffusers.loaders.single_file_utils.convert_wan_vae_to_diffusers`` for the Wan 2.1 VAE (two
resnets per encoder stage, three per decoder stage): tests hold it to that function by a round trip. Facts of the
layout: the original keeps each encoder stage's resnets and downsampler in one flat ``downsamples`` list (diffusers
keeps the indices), and each decoder stage's three resnets plus its upsampler in a flat ``upsamples`` list of stride
four; the middle is resnet, attention, resnet; a resnet's layers are an nn.Sequential (norm 0, conv 2, norm 3,
conv 6).
"""

from __future__ import annotations

import re

_RESNET_PARTS = {
    "norm1.gamma": "residual.0.gamma",
    "conv1.": "residual.2.",
    "norm2.gamma": "residual.3.gamma",
    "conv2.": "residual.6.",
    "conv_shortcut.": "shortcut.",
}
_TOP = {
    "quant_conv.": "conv1.",
    "post_quant_conv.": "conv2.",
    "encoder.conv_in.": "encoder.conv1.",
    "decoder.conv_in.": "decoder.conv1.",
    "encoder.norm_out.gamma": "encoder.head.0.gamma",
    "decoder.norm_out.gamma": "decoder.head.0.gamma",
    "encoder.conv_out.": "encoder.head.2.",
    "decoder.conv_out.": "decoder.head.2.",
}
DECODER_STAGE_STRIDE = 4  # three resnets and one upsampler per decoder stage


def _resnet(rest: str) -> str:
    for new, old in _RESNET_PARTS.items():
        if rest.startswith(new):
            return old + rest[len(new) :]
    return rest


def diffusers_to_wan_vae_name(name: str) -> str:
    for new, old in _TOP.items():
        if name.startswith(new):
            return old + name[len(new) :]
    if match := re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)", name):
        side, kind, index, rest = match.groups()
        if kind == "attentions":
            return f"{side}.middle.1.{rest}"
        return f"{side}.middle.{2 * int(index)}.{_resnet(rest)}"
    if match := re.match(r"encoder\.down_blocks\.(\d+)\.(.*)", name):
        index, rest = match.groups()
        return f"encoder.downsamples.{index}.{_resnet(rest)}"
    if match := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", name):
        stage, resnet, rest = match.groups()
        return f"decoder.upsamples.{DECODER_STAGE_STRIDE * int(stage) + int(resnet)}.{_resnet(rest)}"
    if match := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", name):
        stage, rest = match.groups()
        return f"decoder.upsamples.{DECODER_STAGE_STRIDE * int(stage) + 3}.{rest}"
    return name
