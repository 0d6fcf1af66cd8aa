"""Stand-ins for the ComfyUI core nodes the bundled workflows use: LoadImage, LoadVideo, GetVideoComponents,
CreateVideo, SaveVideo, and the model loaders / encoders / decoders of the Wan stack: CLIPLoader, CLIPTextEncode,
CLIPVisionLoader, VAELoader, VAEDecode, VAEDecodeTiled (their models: ``sd.py`` and ``clip_vision.py``).

Our own small re-implementations with the host's node ids, input names, output types and widget order (checked
against ComfyUI 0.3.64's nodes.py and comfy_extras/nodes_video.py), and the same tensor conventions: IMAGE float
[B, H, W, 3] in 0..1 on the CPU, MASK [B, H, W], VIDEO an object with ``get_components()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import clip_vision, folder_paths, sd
from . import latest_io as io

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".avi")


def _input_files(extensions) -> list[str]:
    folder = folder_paths.get_input_directory()
    if not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(extensions))


@dataclass
class VideoComponents:
    images: torch.Tensor
    audio: object
    frame_rate: float


class VideoFromFile:
    def __init__(self, path: str):
        self.path = path

    def get_components(self) -> VideoComponents:
        from realisdance.video import read_video

        frames, fps = read_video(self.path)
        return VideoComponents(torch.from_numpy(frames).float() / 255.0, None, float(fps))


class VideoFromComponents:
    def __init__(self, components: VideoComponents):
        self.components = components

    def get_components(self) -> VideoComponents:
        return self.components


class LoadImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="LoadImage",
            category="image",
            inputs=[io.Combo.Input("image", options=_input_files(IMAGE_EXTENSIONS), upload=io.UploadType.image)],
            outputs=[io.Image.Output(), io.Mask.Output()],
        )

    @classmethod
    def execute(cls, image):
        with Image.open(os.path.join(folder_paths.get_input_directory(), image)) as picture:
            rgb = np.array(picture.convert("RGB")).astype(np.float32) / 255.0
            if "A" in picture.getbands():
                mask = 1.0 - torch.from_numpy(np.array(picture.getchannel("A")).astype(np.float32) / 255.0)
            else:
                mask = torch.zeros(64, 64)
        return io.NodeOutput(torch.from_numpy(rgb)[None], mask[None])


class LoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="LoadVideo",
            category="image/video",
            inputs=[io.Combo.Input("file", options=_input_files(VIDEO_EXTENSIONS), upload=io.UploadType.video)],
            outputs=[io.Video.Output()],
        )

    @classmethod
    def execute(cls, file):
        return io.NodeOutput(VideoFromFile(os.path.join(folder_paths.get_input_directory(), file)))


class GetVideoComponents(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GetVideoComponents",
            category="image/video",
            inputs=[io.Video.Input("video")],
            outputs=[
                io.Image.Output(display_name="images"),
                io.Audio.Output(display_name="audio"),
                io.Float.Output(display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, video):
        parts = video.get_components()
        return io.NodeOutput(parts.images, parts.audio, float(parts.frame_rate))


class CreateVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CreateVideo",
            category="image/video",
            inputs=[
                io.Image.Input("images"),
                io.Float.Input("fps", default=30.0, min=1.0, max=120.0, step=1.0),
                io.Audio.Input("audio", optional=True),
            ],
            outputs=[io.Video.Output()],
        )

    @classmethod
    def execute(cls, images, fps, audio=None):
        return io.NodeOutput(VideoFromComponents(VideoComponents(images, audio, float(fps))))


class SaveVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SaveVideo",
            category="image/video",
            inputs=[
                io.Video.Input("video"),
                io.String.Input("filename_prefix", default="video/ComfyUI"),
                io.Combo.Input("format", options=["auto", "mp4"], default="auto"),
                io.Combo.Input("codec", options=["auto", "h264"], default="auto"),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, video, filename_prefix, format, codec):
        from realisdance.video import write_video

        parts = video.get_components()
        output = folder_paths.get_output_directory()
        subfolder, prefix = os.path.split(filename_prefix)
        index = (
            len([f for f in os.listdir(os.path.join(output, subfolder))])
            if os.path.isdir(os.path.join(output, subfolder))
            else 0
        )
        name = f"{prefix}_{index + 1:05}_.mp4"
        write_video(os.path.join(output, subfolder, name), parts.images, fps=parts.frame_rate)
        return io.NodeOutput(ui={"images": [{"filename": name, "subfolder": subfolder, "type": "output"}]})


# The host's CLIPLoader types, in its order (only "wan" loads here).
CLIP_TYPES = ["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image"]  # fmt: skip


class CLIPLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPLoader",
            category="advanced/loaders",
            inputs=[
                io.Combo.Input("clip_name", options=folder_paths.get_filename_list("text_encoders")),
                io.Combo.Input("type", options=CLIP_TYPES),
                io.Combo.Input("device", options=["default", "cpu"], optional=True),
            ],
            outputs=[io.Clip.Output()],
        )

    @classmethod
    def execute(cls, clip_name, type="stable_diffusion", device="default"):
        path = folder_paths.get_full_path_or_raise("text_encoders", clip_name)
        clip_type = getattr(sd.CLIPType, type.upper(), sd.CLIPType.STABLE_DIFFUSION)
        return io.NodeOutput(sd.load_clip([path], clip_type=clip_type))


class CLIPTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPTextEncode",
            category="conditioning",
            inputs=[io.String.Input("text", multiline=True), io.Clip.Input("clip")],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, text, clip):
        return io.NodeOutput(clip.encode_from_tokens_scheduled(clip.tokenize(text)))


class CLIPVisionLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CLIPVisionLoader",
            category="loaders",
            inputs=[io.Combo.Input("clip_name", options=folder_paths.get_filename_list("clip_vision"))],
            outputs=[io.ClipVision.Output()],
        )

    @classmethod
    def execute(cls, clip_name):
        model = clip_vision.load(folder_paths.get_full_path_or_raise("clip_vision", clip_name))
        if model is None:
            raise RuntimeError("ERROR: clip vision file is invalid and does not contain a valid vision model.")
        return io.NodeOutput(model)


class VAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VAELoader",
            category="loaders",
            inputs=[io.Combo.Input("vae_name", options=folder_paths.get_filename_list("vae"))],
            outputs=[io.Vae.Output()],
        )

    @classmethod
    def execute(cls, vae_name):
        from safetensors.torch import load_file

        return io.NodeOutput(sd.VAE(sd=load_file(folder_paths.get_full_path_or_raise("vae", vae_name))))


class UNETLoader(io.ComfyNode):
    """The host's "Load Diffusion Model": detection picks the model class (the pack's config for RealisDance)."""

    WEIGHT_DTYPES = {"default": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UNETLoader",
            category="advanced/loaders",
            inputs=[
                io.Combo.Input("unet_name", options=folder_paths.get_filename_list("diffusion_models")),
                io.Combo.Input("weight_dtype", options=list(cls.WEIGHT_DTYPES)),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, unet_name, weight_dtype):
        from safetensors.torch import load_file

        state = load_file(folder_paths.get_full_path_or_raise("diffusion_models", unet_name))
        dtype = cls.WEIGHT_DTYPES[weight_dtype]
        model = sd.load_diffusion_model_state_dict(state, {} if dtype is None else {"dtype": dtype})
        if model is None:
            raise RuntimeError(f"ERROR: Could not detect model type of: {unet_name}")
        return io.NodeOutput(model)


def _as_images(frames: torch.Tensor) -> torch.Tensor:
    """A video VAE's (B, F, H, W, 3) as one IMAGE batch, as the host's decode nodes return it."""
    return frames.reshape(-1, *frames.shape[-3:]) if frames.ndim == 5 else frames


class VAEDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VAEDecode",
            category="latent",
            inputs=[io.Latent.Input("samples"), io.Vae.Input("vae")],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, samples, vae):
        return io.NodeOutput(_as_images(vae.decode(samples["samples"])))


class VAEDecodeTiled(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="VAEDecodeTiled",
            category="_for_testing",
            inputs=[
                io.Latent.Input("samples"),
                io.Vae.Input("vae"),
                io.Int.Input("tile_size", default=512, min=64, max=4096, step=32),
                io.Int.Input("overlap", default=64, min=0, max=4096, step=32),
                io.Int.Input("temporal_size", default=64, min=8, max=4096, step=4),
                io.Int.Input("temporal_overlap", default=8, min=4, max=4096, step=4),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, samples, vae, tile_size, overlap=64, temporal_size=64, temporal_overlap=8):
        tile = tile_size // 8
        return io.NodeOutput(_as_images(vae.decode_tiled(samples["samples"], tile_x=tile, tile_y=tile)))


NODES = [
    LoadImage, LoadVideo, GetVideoComponents, CreateVideo, SaveVideo,
    UNETLoader, CLIPLoader, CLIPTextEncode, CLIPVisionLoader, VAELoader, VAEDecode, VAEDecodeTiled,
]  # fmt: skip
