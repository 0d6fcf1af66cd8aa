"""Checkpoint formats, key maps and streaming loading of the RealisDance-DiT transformer."""

from .dtypes import DTYPES
from .keymap import COMFYUI_PREFIX, diffusers_to_wan, wan_to_diffusers
from .loader import load_transformer
from .saver import save_diffusers_folder, save_single_file

__all__ = [
    "COMFYUI_PREFIX",
    "DTYPES",
    "diffusers_to_wan",
    "load_transformer",
    "save_diffusers_folder",
    "save_single_file",
    "wan_to_diffusers",
]
