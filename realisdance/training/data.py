"""Training data: a folder in the official layout, preprocessed exactly as inference does, encoded once to disk.

    DATA/ref/<id>.png   smpl/<id>.mp4   hamer/<id>.mp4   video/<id>.mp4 (the clip to learn)   prompt/<id>.txt

Every clip is checked before anything loads (all four files, and the videos readable). The reference and the pose
videos go through the release's preprocessing (``prepare_inputs``: 16 fps, size from the pose video, resize-crop);
the target video gets the same frame selection rule and the same resize-crop. Then the VAE latents of the target
and the poses, the text embeddings, the CLIP features and the unconditional inputs (empty prompt, grey reference,
CLIP of a grey image: the dropout inputs) are written to ``CACHE/<id>.pt``, and the encoders leave memory: training
runs the DiT alone. A cache made with other settings is rebuilt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from ..pipeline.conditions import Branch, Conditions, ModelSignature
from ..unpickling import torch_load_plain
from .objective import TrainingSample

CACHE_FORMAT = "realisdance-training-clip"


@dataclass(frozen=True)
class Clip:
    name: str
    ref: Path
    smpl: Path
    hamer: Path
    video: Path
    prompt: str


@dataclass(frozen=True)
class DataSettings:
    num_frames: int = 81
    max_area: int = 768 * 768


def find_clips(root: str | Path) -> list[Clip]:
    """The clips of a training folder, each checked to have its four files; refuses a folder that is not one."""
    from ..batch_layout import batch_jobs
    from ..video import probe_video

    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"the training data folder {root} does not exist")
    if not (root / "video").is_dir():
        raise InputError(f"{root}: a training folder needs video/ (the target clips) beside ref/, smpl/ and hamer/")
    clips = []
    for job in batch_jobs(root, root):
        video = root / "video" / f"{job.ref.stem}.mp4"
        if not video.is_file():
            raise InputError(f"training clip {job.ref.stem!r} has no target video {video}")
        for path in (job.smpl, job.hamer, video):
            probe_video(path)  # one sentence naming the file when it is not a readable video
        clips.append(Clip(job.ref.stem, job.ref, job.smpl, job.hamer, video, job.prompt))
    return clips


def _cache_record(sample: TrainingSample, settings: DataSettings) -> dict:
    conditions = sample.conditions

    def branch(b: Branch) -> dict:
        return {"text": b.text, "clip": b.clip, "reference": b.reference}

    return {
        "format": CACHE_FORMAT,
        "version": 1,
        "settings": dataclasses.asdict(settings),
        "signature": dataclasses.asdict(conditions.signature),
        "target": sample.target,
        "pose": conditions.pose,
        "image_condition": conditions.image_condition,
        "positive": branch(conditions.positive),
        "negative": branch(conditions.negative),
        "size": [conditions.num_frames, conditions.height, conditions.width],
    }


def load_sample(path: Path) -> TrainingSample:
    record = torch_load_plain(path, "training cache")
    if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
        raise InputError(f"{path} is not a training cache file; delete it and run again to rebuild it")
    frames, height, width = record["size"]
    conditions = Conditions(
        pose=record["pose"],
        image_condition=record["image_condition"],
        positive=Branch(**record["positive"]),
        negative=Branch(**record["negative"]),
        signature=ModelSignature(**record["signature"]),
        num_frames=frames,
        height=height,
        width=width,
    )
    return TrainingSample(record["target"], conditions)


def _cached(path: Path, settings: DataSettings, signature: ModelSignature) -> bool:
    if not path.is_file():
        return False
    try:
        record = torch_load_plain(path, "training cache")
    except InputError:
        return False
    return (
        isinstance(record, dict)
        and record.get("settings") == dataclasses.asdict(settings)
        and record.get("signature") == dataclasses.asdict(signature)
    )


def cache_paths(clips: list[Clip], cache: str | Path) -> list[Path]:
    """The cache file of each clip, in clip order."""
    return [Path(cache) / f"{clip.name}.pt" for clip in clips]


def build_cache(
    model: str | Path, clips: list[Clip], cache: str | Path, settings: DataSettings, say=print
) -> list[Path]:
    """Encode every clip not yet cached with these settings; returns the cache files in clip order."""
    from ..encoders import load_clip_image_encoder, load_text_encoder, load_vae
    from ..memory.facts import transformer_config_and_dtype
    from ..pipeline.conditions import build_conditions
    from ..pipeline.preprocess import load_pose_video, prepare_inputs

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    config, _ = transformer_config_and_dtype(Path(model).expanduser(), "fp32")
    signature = ModelSignature(
        config["in_channels"],
        config.get("add_cond_in_dim", 32),
        config.get("attn_cond_in_dim", 16),
        config["text_dim"],
        config.get("image_dim"),
    )
    paths = cache_paths(clips, cache)
    todo = [(clip, path) for clip, path in zip(clips, paths, strict=True) if not _cached(path, settings, signature)]
    if not todo:
        return paths
    say(f"encoding {len(todo)} of {len(clips)} clips into {cache} (once; the encoders then leave memory)")
    text_encoder = load_text_encoder(model, dtype=torch.float32)
    clip_encoder = load_clip_image_encoder(model) if signature.is_i2v else None
    vae = load_vae(model)
    empty = text_encoder.encode("").float()
    for clip, path in todo:
        prepared = prepare_inputs(clip.ref, clip.smpl, clip.hamer, num_frames=settings.num_frames,
                                  max_area=settings.max_area, stream_poses=True)  # fmt: skip
        text = text_encoder.encode(clip.prompt).float()
        conditions = build_conditions(prepared, vae, signature, text, empty, clip_encoder)
        video = load_pose_video(clip.video, settings.num_frames, size=(prepared.height, prepared.width))
        target = vae.encode(video.unsqueeze(0))
        record = _cache_record(TrainingSample(target, conditions.to("cpu")), settings)
        temporary = path.with_name(f".{path.name}.partial")
        torch.save(record, temporary)
        temporary.replace(path)
        say(f"  {clip.name}: {prepared.num_frames} frames at {prepared.width}x{prepared.height}")
    del text_encoder, clip_encoder, vae
    return paths
