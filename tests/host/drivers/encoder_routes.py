"""The host's Wan encoders on the converted files against the release's encoders, inside the real host.

Run with the host's Python (tests/host/host_env.run_driver) under REALISDANCE_TINY_ENCODERS (the tiny configs the
host's fixed-size loaders are given, tests/host/sitecustomize). The job names ``comfy_root``, ``release`` (the tiny
release folder), ``files`` ({part: converted file}), ``prompts`` and ``images`` (.pt tensors, (1, H, W, 3) in 0..1).
For each the driver reports the largest absolute difference between the host route (CLIPLoader type wan +
encode, CLIPVisionLoader + encode_image(crop=False) as a stock node and as RealisDance To Video calls it (nodes/
interop.py), VAELoader + encode / decode) and the release's own encoders (realisdance.encoders on the release
folder), and the size of the release's values for scale.
"""

import json
import os
import sys

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the core package's home


def _difference(ours, theirs) -> dict:
    ours, theirs = ours.float(), theirs.float()
    return {"max_abs": float((ours - theirs).abs().max()), "scale": float(theirs.abs().max())}


def main(job_path: str) -> None:
    job = json.loads(open(job_path, encoding="utf-8").read())
    sys.path[:0] = [job["comfy_root"], REPO_ROOT]
    from comfy.cli_args import args

    args.cpu = True
    import importlib.util

    import comfy.clip_vision
    import comfy.sd
    import comfy.utils
    import torch

    from realisdance.encoders import (
        load_clip_image_encoder,
        load_text_encoder,
        load_vae,
        normalize_latents,
        pad_text_embeddings,
    )

    spec = importlib.util.spec_from_file_location("realisdance_interop", os.path.join(REPO_ROOT, "nodes", "interop.py"))
    interop = importlib.util.module_from_spec(spec)  # duck-typed, no ComfyUI import: loadable on its own
    sys.modules[spec.name] = interop  # its dataclasses look their module up there
    spec.loader.exec_module(interop)
    files, release = job["files"], job["release"]
    report = {"text": {}, "clip": {}, "vae": {}}
    clip = comfy.sd.load_clip([files["text_encoder"]], clip_type=comfy.sd.CLIPType.WAN)
    text_encoder = load_text_encoder(release, dtype=torch.float32)
    for prompt in job["prompts"]:
        host = clip.encode_from_tokens_scheduled(clip.tokenize(prompt))[0][0]
        report["text"][prompt] = _difference(pad_text_embeddings(host), text_encoder.encode(prompt))
        report["text"][prompt]["host_tokens"] = int(host.shape[1])

    vision = comfy.clip_vision.load(files["image_encoder"])
    image_encoder = load_clip_image_encoder(release)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(files["vae"]))
    release_vae = load_vae(release)
    for name, path in job["images"].items():
        image = torch.load(path, weights_only=True)
        release = image_encoder.encode(image.permute(0, 3, 1, 2) * 2 - 1)
        host = vision.encode_image(image, crop=False).penultimate_hidden_states  # a stock CLIP Vision Encode
        report["clip"][f"{name}:host"] = _difference(host, release)
        ours = interop.NativeClipVision(vision).encode(image.permute(0, 3, 1, 2) * 2 - 1)  # RealisDance To Video
        report["clip"][f"{name}:realisdance"] = _difference(ours, release)
        clip_frames = image.repeat(5, 1, 1, 1)  # a 5-frame still clip, (F, H, W, 3)
        raw = vae.encode(clip_frames)
        release_latents = release_vae.encode(clip_frames.permute(3, 0, 1, 2)[None] * 2 - 1)
        report["vae"][f"{name}:encode"] = _difference(normalize_latents(raw.float()), release_latents)
        frames = vae.decode(raw)  # (1, F, H, W, 3)
        release_frames = release_vae.decode(normalize_latents(raw.float()))  # (1, 3, F, H, W)
        report["vae"][f"{name}:decode"] = _difference(frames[0], release_frames[0].permute(1, 2, 3, 0))
    with open(job["result"], "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
