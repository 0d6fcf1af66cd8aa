"""The diffusers release folder -> the single files ComfyUI loads (``realisdance convert``)."""

from .command import PARTS, ConvertedFile, convert_release
from .component_files import write_image_encoder, write_text_encoder, write_vae
from .transformer_file import write_transformer

__all__ = [
    "PARTS",
    "ConvertedFile",
    "convert_release",
    "write_image_encoder",
    "write_text_encoder",
    "write_transformer",
    "write_vae",
]
