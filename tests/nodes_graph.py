"""Shared by the node tests: a tiny release installed in the ComfyUI double, pose/reference IMAGE batches, and the
API-format graph loaders -> text -> conditions -> sampler -> decode."""

from __future__ import annotations

import numpy as np
import torch

RELEASE = "Tiny/"  # models/realisdance/Tiny -> the tiny release folder
SMALL = {"num_frames": 5, "max_area": 32 * 48}
STEPS = 2


def media(seed: int = 0, frames: int = 7, height: int = 32, width: int = 48) -> dict[str, torch.Tensor]:
    """IMAGE batches as ComfyUI passes them: float [B, H, W, 3] in 0..1 on the CPU."""
    rng = np.random.default_rng(seed)
    return {
        "reference": torch.from_numpy(rng.random((1, 90, 60, 3), dtype=np.float32)),
        "smpl": torch.from_numpy(rng.random((frames, height, width, 3), dtype=np.float32)),
        "hamer": torch.from_numpy(rng.random((frames, height, width, 3), dtype=np.float32)),
    }


def install_release(comfy, release_path, name: str = RELEASE) -> None:
    (comfy.model_dir("realisdance") / name.rstrip("/")).symlink_to(release_path, target_is_directory=True)


def loaders(model: str = RELEASE) -> dict:
    return {
        "model": {
            "class_type": "RealisDanceModelLoader",
            "inputs": {"model": model, "dtype": "fp32", "attention": "sdpa"},
        },
        "te": {"class_type": "RealisDanceTextEncoderLoader", "inputs": {"text_encoder": RELEASE, "dtype": "fp32"}},
        "clip": {"class_type": "RealisDanceClipVisionLoader", "inputs": {"clip_vision": RELEASE, "dtype": "auto"}},
        "vae": {"class_type": "RealisDanceVAELoader", "inputs": {"vae": RELEASE, "dtype": "auto"}},
        "pos": {"class_type": "RealisDanceTextEncode", "inputs": {"text_encoder": ["te", 0], "text": "a dancer"}},
        "neg": {"class_type": "RealisDanceTextEncode", "inputs": {"text_encoder": ["te", 0], "text": ""}},
    }


def to_video_node(**inputs) -> dict:
    """RealisDance To Video wired to ``loaders()`` and TestMedia, at the release's strengths."""
    base = {
        "positive": ["pos", 0],
        "negative": ["neg", 0],
        "vae": ["vae", 0],
        "clip_vision": ["clip", 0],
        "reference": ["media", 0],
        "smpl": ["media", 1],
        "hamer": ["media", 2],
        **SMALL,
        "pose_fps": 16.0,
        "pose_strength": 1.0,
        "pose_start_percent": 0.0,
        "pose_end_percent": 1.0,
        "reference_strength": 1.0,
    }
    return {"class_type": "RealisDanceToVideo", "inputs": base | inputs}


def conditions_node(**inputs) -> dict:
    base = {
        "model": ["model", 0],
        "positive": ["pos", 0],
        "negative": ["neg", 0],
        "vae": ["vae", 0],
        "image_encoder": ["clip", 0],
        "reference": ["media", 0],
        "smpl": ["media", 1],
        "hamer": ["media", 2],
        **SMALL,
        "pose_fps": 16.0,
    }
    return {"class_type": "RealisDanceConditions", "inputs": base | inputs}


def sampler_node(**inputs) -> dict:
    base = {
        "model": ["model", 0],
        "conditions": ["cond", 0],
        "seed": 3,
        "steps": STEPS,
        "cfg": 2.0,
        "shift": 0.0,
        "scheduler": "auto",
        "denoise": 1.0,
    }
    return {"class_type": "RealisDanceSampler", "inputs": base | inputs}


def decode_node(**inputs) -> dict:
    base = {"vae": ["vae", 0], "latent": ["sample", 0], "tiling": "off", "tile_size": 256, "tile_overlap": 64}
    return {"class_type": "RealisDanceDecode", "inputs": base | inputs}


def full_graph() -> dict:
    return loaders() | {
        "media": {"class_type": "TestMedia", "inputs": {}},
        "cond": conditions_node(),
        "sample": sampler_node(),
        "decode": decode_node(),
    }


def register_media(comfy, tensors: dict[str, torch.Tensor]) -> None:
    """A test-only source node "TestMedia" whose three IMAGE outputs are reference, smpl and hamer."""
    io = comfy.io

    class TestMedia(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="TestMedia", outputs=[io.Image.Output(), io.Image.Output(), io.Image.Output()])

        @classmethod
        def execute(cls):
            return io.NodeOutput(tensors["reference"], tensors["smpl"], tensors["hamer"])

    comfy.nodes.NODE_CLASS_MAPPINGS["TestMedia"] = TestMedia
