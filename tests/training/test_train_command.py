"""``realisdance train`` end to end on the tiny release: the data folder checked, clips encoded once, a run that
resumes, and results the inference side loads (a transformer folder; a LoRA that our LoRA loading reproduces)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realisdance import cli
from realisdance.tiny import build_tiny_release
from realisdance.video import write_video


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_tiny_release(tmp_path_factory.mktemp("model") / "RealisDance-DiT")


def write_clip(root, name, frames=9, size=(64, 96), seed=0):
    rng = np.random.default_rng(seed)
    for folder in ("ref", "smpl", "hamer", "video", "prompt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (80, 50, 3), dtype=np.uint8)).save(root / "ref" / f"{name}.png")
    for stream in ("smpl", "hamer", "video"):
        write_video(root / stream / f"{name}.mp4", rng.integers(0, 255, (frames, *size, 3), dtype=np.uint8), fps=16)
    (root / "prompt" / f"{name}.txt").write_text("a person dancing")


def args(release, data, run, *extra):
    return ["train", "--model", str(release), "--data", str(data), "--run-dir", str(run), "--frames", "5",
            "--max-area", str(64 * 96), "--batch", "2", "--lr", "1e-3", "--device", "cpu", "--save-every", "1",
            *extra]  # fmt: skip


def test_part_training_writes_a_transformer_the_pipeline_loads_and_a_rerun_resumes(release, tmp_path, capsys):
    from realisdance.checkpoints import load_transformer

    data, run = tmp_path / "data", tmp_path / "run"
    for index in range(2):
        write_clip(data, f"c{index}", seed=index)
    assert cli.main(args(release, data, run, "--steps", "2")) == 0
    out = capsys.readouterr().out
    assert "encoding 2 of 2 clips" in out and (run / "cache" / "c0.pt").is_file()
    assert "training memory: " in out and "activations" in out and out.index("training memory") < out.index("encoding")
    trained = load_transformer(run / "transformer", dtype="fp32")
    base = load_transformer(release, dtype="fp32")
    assert not torch.equal(trained.add_proj.weight, base.add_proj.weight)
    torch.testing.assert_close(trained.blocks[0].ffn.net[0].proj.weight, base.blocks[0].ffn.net[0].proj.weight)
    assert cli.main(args(release, data, run, "--steps", "3")) == 0  # more steps: resumes, no re-encoding
    out = capsys.readouterr()
    assert "encoding" not in out.out and "resuming" in out.out + out.err
    assert len((run / "loss.csv").read_text().splitlines()) == 1 + 3
    video = tmp_path / "out.mp4"
    animate = ["animate", "--model", str(release), "--transformer", str(run / "transformer"), "--ref",
               str(data / "ref" / "c0.png"), "--smpl", str(data / "smpl" / "c0.mp4"), "--hamer",
               str(data / "hamer" / "c0.mp4"), "--out", str(video), "--frames", "5", "--max-area", str(64 * 96),
               "--steps", "1", "--device", "cpu"]  # fmt: skip
    assert cli.main(animate) == 0 and video.is_file()


def test_a_trained_lora_loads_with_the_packs_lora_loading_and_gives_the_trained_model(release, tmp_path):
    pytest.importorskip("peft")
    from realisdance.checkpoints import load_transformer
    from realisdance.lora import LoraSpec, apply_loras
    from realisdance.training.data import load_sample
    from realisdance.training.export import base_of_new_modules, export_lora
    from realisdance.training.objective import flow_matching_loss
    from realisdance.training.parts import TrainableParts
    from realisdance.training.run import TrainSettings, train

    data, run = tmp_path / "data", tmp_path / "run"
    write_clip(data, "c0")
    assert cli.main(args(release, data, run, "--steps", "1", "--train", "lora", "--lora-rank", "4")) == 0
    assert (run / "lora.safetensors").is_file()
    # The same training in-process (same seed and data): the adapter model the export must reproduce.
    model = load_transformer(release, dtype="fp32")
    base = base_of_new_modules(model)
    samples = sorted((run / "cache").glob("*.pt"))
    settings = TrainSettings(steps=1, batch=2, learning_rate=1e-3, parts=TrainableParts("lora", lora_rank=4))
    train(model, samples, tmp_path / "again", settings, say=lambda text: None)
    export_lora(model, base, tmp_path / "again.safetensors")
    merged = load_transformer(release, dtype="fp32")
    apply_loras(merged, [LoraSpec(run / "lora.safetensors")], mode="merge")
    sample = load_sample(samples[0])
    noise = torch.randn(sample.target.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = flow_matching_loss(model, sample, torch.tensor([400.0]), noise)
        got = flow_matching_loss(merged, sample, torch.tensor([400.0]), noise)
        plain = flow_matching_loss(load_transformer(release, dtype="fp32"), sample, torch.tensor([400.0]), noise)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert abs(float(got) - float(plain)) > 1e-6  # the LoRA changed the model


def test_a_data_folder_without_targets_is_refused_before_anything_loads(release, tmp_path, capsys):
    data = tmp_path / "data"
    write_clip(data, "c0")
    (data / "video" / "c0.mp4").unlink()
    assert cli.main(args(release, data, tmp_path / "run", "--steps", "1")) == 2
    assert "has no target video" in capsys.readouterr().err
    assert cli.main(args(release, data, tmp_path / "run", "--warmup-alpha", "2")) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err


def write_plain_wan(release, plain) -> dict:
    """A plain Wan 2.1 ``transformer/`` folder at ``plain``: the release's DiT without its new modules. Returns the
    release's tensors."""
    from safetensors.torch import load_file, save_file

    plain.mkdir(parents=True)
    state = {}
    for shard in (release / "transformer").glob("*.safetensors"):
        state.update(load_file(str(shard)))
    save_file({k: v for k, v in state.items() if k.split(".")[0] not in ("add_conv_in", "add_proj", "attn_conv_in")},
              str(plain / "diffusion_pytorch_model.safetensors"))  # fmt: skip
    config = (release / "transformer" / "config.json").read_text()
    (plain / "config.json").write_text(config.replace("RealisDanceDiT", "WanTransformer3DModel"))
    return state


def test_fine_tuning_from_plain_wan_gets_the_papers_initialisation(release, tmp_path):
    from realisdance.checkpoints import load_transformer
    from realisdance.errors import CheckpointError

    plain = tmp_path / "wan" / "transformer"
    state = write_plain_wan(release, plain)
    with pytest.raises(CheckpointError, match="plain Wan 2.1"):
        load_transformer(plain, dtype="fp32")
    model = load_transformer(plain, dtype="fp32", from_plain_wan=True)
    assert torch.count_nonzero(model.add_proj.weight) == 0 and torch.count_nonzero(model.add_proj.bias) == 0
    torch.testing.assert_close(model.attn_conv_in.weight, model.patch_embedding.weight[:, :16])
    torch.testing.assert_close(model.attn_conv_in.bias, model.patch_embedding.bias)
    assert torch.isfinite(model.add_conv_in.weight).all() and model.add_conv_in.weight.std() > 0
    torch.testing.assert_close(model.blocks[0].attn1.to_q.weight, state["blocks.0.attn1.to_q.weight"].float())


def test_plan_only_prints_the_memory_of_a_step_and_touches_nothing(release, tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    write_clip(data, "c0", seed=0)
    assert cli.main(args(release, data, run, "--plan-only", "--gradient-checkpointing")) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("training memory: "))
    assert "weights" in line and "AdamW" in line and "with gradient checkpointing" in line
    assert not (run / "cache").exists() and not (run / "checkpoint.pt").exists()
