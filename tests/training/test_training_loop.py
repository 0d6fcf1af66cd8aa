"""The fine-tuning loop on the tiny model: what trains, the objective and dropout, resume, the loss record."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pipeline.conditions import Branch, Conditions, ModelSignature
from realisdance.training.data import DataSettings, _cache_record, load_sample
from realisdance.training.objective import Dropout, TrainingSample, flow_matching_loss
from realisdance.training.parts import NEW_MODULES, TrainableParts, is_part_parameter, select_trainable
from realisdance.training.run import TrainSettings, train
from realisdance.training.timesteps import TimestepSchedule


def sample_for(model, seed: int, frames: int = 2) -> TrainingSample:
    g = torch.Generator().manual_seed(seed)
    config = model.config
    signature = ModelSignature.of(model)
    positive = Branch(torch.randn(1, 512, config.text_dim, generator=g), torch.randn(1, 257, config.image_dim,
                      generator=g), torch.randn(1, 16, 1, 4, 6, generator=g))  # fmt: skip
    negative = Branch(torch.zeros(1, 512, config.text_dim), torch.zeros(1, 257, config.image_dim),
                      torch.zeros(1, 16, 1, 4, 6))  # fmt: skip
    conditions = Conditions(torch.randn(1, 32, frames, 4, 6, generator=g), torch.randn(1, 20, frames, 4, 6,
                            generator=g), positive, negative, signature, 4 * frames - 3, 32, 48)  # fmt: skip
    return TrainingSample(torch.randn(1, 16, frames, 4, 6, generator=g), conditions)


def write_samples(model, folder: Path, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"clip{index}.pt"
        torch.save(_cache_record(sample_for(model, index), DataSettings()), path)
        paths.append(path)
    return paths


def test_part_fine_tuning_trains_the_new_modules_and_self_attention_only(tiny_model):
    model = tiny_model("I2V")
    names = select_trainable(model, TrainableParts("part"))
    assert names and all(is_part_parameter(name) for name in names)
    assert {name.split(".")[0] for name in names} == {"blocks", *NEW_MODULES}
    assert all(".attn1." in name for name in names if name.startswith("blocks."))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any(".attn2." in n for n in frozen) and any(".ffn." in n for n in frozen) and "proj_out.weight" in frozen
    assert len(select_trainable(model, TrainableParts("full"))) == len(list(model.parameters()))


def test_lora_adapters_start_as_the_base_model_and_only_they_and_the_new_modules_train(tiny_model):
    pytest.importorskip("peft")
    model = tiny_model("I2V")
    sample = sample_for(model, 0)
    before = flow_matching_loss(model, sample, torch.tensor([300.0]), torch.ones_like(sample.target))
    names = select_trainable(model, TrainableParts("lora", lora_rank=4))
    assert all("lora_" in name or name.split(".")[0] in NEW_MODULES for name in names)
    assert any("attn1.to_q.lora_A" in name for name in names)
    after = flow_matching_loss(model, sample, torch.tensor([300.0]), torch.ones_like(sample.target))
    torch.testing.assert_close(after, before)


class Recorder(torch.nn.Module):
    def __init__(self, like):
        super().__init__()
        self.config = like.config
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.calls = []

    def forward(self, hidden, timestep, text, clip=None, add_cond=None, attn_cond=None, return_dict=False):
        self.calls.append(dict(hidden=hidden, timestep=timestep, text=text, clip=clip, reference=attn_cond))
        return (hidden[:, :16] * 0 + self.weight,)


def test_the_objective_is_flow_matching_and_dropout_uses_the_releases_unconditional_inputs(tiny_model):
    model = Recorder(tiny_model("I2V"))
    sample = sample_for(tiny_model("I2V"), 1)
    noise = torch.randn(sample.target.shape)
    loss = flow_matching_loss(model, sample, torch.tensor([250.7]), noise)
    call = model.calls[-1]
    assert float(call["timestep"]) == 250.0  # floored, as the release feeds its DiT
    expected = 0.75 * sample.target + 0.25 * noise
    torch.testing.assert_close(call["hidden"][:, :16], expected)
    torch.testing.assert_close(call["hidden"][:, 16:], sample.conditions.image_condition)
    torch.testing.assert_close(loss, ((noise - sample.target) ** 2).mean())  # the prediction is 0
    assert call["text"] is not None and torch.equal(call["reference"], sample.conditions.positive.reference)
    flow_matching_loss(model, sample, torch.tensor([10.0]), noise, drop_reference=True)
    call = model.calls[-1]
    assert torch.equal(call["reference"], sample.conditions.negative.reference)
    assert torch.equal(call["clip"], sample.conditions.negative.clip)
    assert torch.equal(call["text"], sample.conditions.positive.text)
    flow_matching_loss(model, sample, torch.tensor([10.0]), noise, drop_prompt=True)
    call = model.calls[-1]
    assert torch.equal(call["text"], sample.conditions.negative.text)
    assert torch.equal(call["reference"], sample.conditions.positive.reference)


def test_cached_samples_round_trip(tiny_model, tmp_path):
    model = tiny_model("I2V")
    path = write_samples(model, tmp_path, 1)[0]
    loaded, original = load_sample(path), sample_for(model, 0)
    torch.testing.assert_close(loaded.target, original.target)
    torch.testing.assert_close(loaded.conditions.pose, original.conditions.pose)
    assert loaded.conditions.signature == original.conditions.signature


SMALL = dict(batch=2, learning_rate=1e-3, save_every=2, timesteps=TimestepSchedule("low-noise-warmup", tau=10),
             dropout=Dropout(0.5, 0.5))  # fmt: skip


def test_training_changes_only_the_trained_parts_and_records_the_loss(tiny_model, tmp_path):
    model = tiny_model("I2V")
    samples = write_samples(model, tmp_path / "cache")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    state = train(model, samples, tmp_path / "run", TrainSettings(steps=3, **SMALL), say=lambda text: None)
    assert state.step == 3
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(is_part_parameter(n) for n in changed)
    assert "add_proj.weight" in changed  # the zero projection learns: the pose path opens
    rows = (tmp_path / "run" / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,timestep,seconds" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0 and (tmp_path / "run" / "checkpoint.pt").is_file()


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tiny_model, tmp_path):
    samples = write_samples(tiny_model("I2V"), tmp_path / "cache")
    whole = tiny_model("I2V")
    train(whole, samples, tmp_path / "whole", TrainSettings(steps=4, **SMALL), say=lambda text: None)
    part = tiny_model("I2V")
    train(part, samples, tmp_path / "part", TrainSettings(steps=2, **SMALL), say=lambda text: None)
    resumed = tiny_model("I2V")  # a fresh process: the base model again, the checkpoint brings the rest
    said = []
    state = train(resumed, samples, tmp_path / "part", TrainSettings(steps=4, **SMALL), say=said.append)
    assert state.step == 4 and any("resuming" in line for line in said)
    for (name, a), (_, b) in zip(whole.named_parameters(), resumed.named_parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    rows = (tmp_path / "part" / "loss.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4"]
    with pytest.raises(InputError, match="other settings"):
        train(tiny_model("I2V"), samples, tmp_path / "part", TrainSettings(steps=6, **{**SMALL, "batch": 3}))


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model):
    sample = sample_for(tiny_model("I2V"), 2)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model("I2V")
        select_trainable(model, TrainableParts("full"))
        if checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        flow_matching_loss(model, sample, torch.tensor([500.0]), torch.ones_like(sample.target)).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], msg=name)


@pytest.mark.parametrize("bad", [{"steps": 0}, {"batch": 0}, {"learning_rate": -1.0}, {"dropout": Dropout(2, 0)}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(InputError):
        TrainSettings(**bad)
