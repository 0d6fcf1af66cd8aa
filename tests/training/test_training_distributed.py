"""Training on several processes (torch.distributed, DDP) gives the single-process run: two CPU processes on the gloo
backend, launched by torch.distributed.run as users launch it on GPUs, against one process on the same data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys
from pathlib import Path
sys.path[:0] = [{root!r}, {tests!r}, {training!r}]
import torch
import torch.distributed as dist
from helpers import randomize_
from realisdance.model import build_transformer, named_config
from realisdance.training.objective import Dropout
from realisdance.training.parts import TrainableParts
from realisdance.training.run import TrainSettings, train
from realisdance.training.timesteps import TimestepSchedule
from test_training_loop import write_samples

torch.set_num_threads(1)
distributed = "WORLD_SIZE" in os.environ
if distributed:
    dist.init_process_group("gloo")
torch.manual_seed(0)
model = randomize_(build_transformer(named_config("tiny-I2V")), 0)
samples = sorted(Path({cache!r}).glob("*.pt"))
settings = TrainSettings(steps={steps}, batch=4, learning_rate=1e-3, save_every=2, dropout=Dropout(0.5, 0.5),
                         timesteps=TimestepSchedule("low-noise-warmup", tau=10), shard_weights={shard},
                         parts=TrainableParts({strategy!r}))
said = []
train(model, samples, Path({run!r}), settings, say=said.append)
whole = {{n: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach() for n, p in model.named_parameters()}}
if not distributed or dist.get_rank() == 0:
    torch.save({{"parameters": whole, "said": said}}, {out!r})
if distributed:
    dist.barrier()
from realisdance.parallel.processes import leave_processes
leave_processes(0)  # as animate and train end
"""


def _run(tmp_path: Path, name: str, cache: Path, processes: int, steps: int = 3, shard: bool = False,
         strategy: str = "part", run: str | None = None) -> dict:  # fmt: skip
    out = tmp_path / f"{name}.pt"
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), training=str(ROOT / "tests" / "training"),
                        cache=str(cache), run=str(tmp_path / (run or name)), out=str(out), steps=steps, shard=shard,
                        strategy=strategy)  # fmt: skip
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    command = [sys.executable, str(script)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   str(script)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True)["parameters"]


@pytest.mark.slow
def test_two_gloo_processes_train_what_one_process_trains_with_weights_replicated_or_sharded(tiny_model, tmp_path):
    """The part strategy (the paper's default) on one process, on two with DDP, and on two with FSDP2 weights."""
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    from test_training_loop import write_samples

    cache = tmp_path / "cache"
    write_samples(tiny_model("I2V"), cache, count=5)
    one = _run(tmp_path, "one", cache, 1)
    two = _run(tmp_path, "two", cache, 2)
    sharded = _run(tmp_path, "sharded", cache, 2, shard=True)
    start = dict(tiny_model("I2V").named_parameters())
    assert any(not torch.equal(one[name], start[name]) for name in one)  # it trained
    # Adam normalises each update, so float noise in tiny gradients (summed in another order by the reduce-scatter)
    # moves a weight by up to ~1 % of the learning rate (1e-3): the sharded tolerance is 1e-5, far below a step.
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(sharded[name], one[name], rtol=1e-5, atol=1e-5, msg=name)
    rows = (tmp_path / "two" / "loss.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["1", "2", "3"]  # rank 0 alone writes the log


@pytest.mark.slow
def test_the_train_command_under_torch_distributed_run_matches_one_process(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    from test_train_command import write_clip

    from realisdance.checkpoints import load_transformer
    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    data = tmp_path / "data"
    for index in range(3):
        write_clip(data, f"c{index}", seed=index)
    common = ["train", "--model", str(release), "--data", str(data), "--frames", "5", "--max-area", str(64 * 96),
              "--batch", "2", "--steps", "2", "--lr", "1e-3", "--device", "cpu"]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    single = subprocess.run([sys.executable, "-m", "realisdance", *common, "--run-dir", str(tmp_path / "one")],
                            capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    one = load_transformer(tmp_path / "one" / "transformer")
    for name, weights in (("replicated", []), ("sharded", ["--shard-weights"])):
        launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                   "--nproc-per-node=2", "-m", "realisdance", *common, "--run-dir",
                                   str(tmp_path / name), *weights],
                                  capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
        assert launched.returncode == 0, (name, launched.stderr[-3000:])
        two = load_transformer(tmp_path / name / "transformer")
        for (key, a), (_, b) in zip(one.named_parameters(), two.named_parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{name}: {key}")
        assert not (tmp_path / name / "cache" / ".c0.pt.partial").exists()


@pytest.mark.slow
def test_sharded_full_training_resumes_from_its_shards(tiny_model, tmp_path):
    """FSDP2 over 2 gloo processes, full strategy: the same weights as one process after 3 steps, whether run in one
    go or stopped at step 2 (each process saved its slices with torch.distributed.checkpoint) and resumed."""
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    from test_training_loop import write_samples

    cache = tmp_path / "cache"
    write_samples(tiny_model("I2V"), cache, count=5)
    one = _run(tmp_path, "one", cache, 1, strategy="full")
    sharded = _run(tmp_path, "sharded", cache, 2, shard=True, strategy="full")
    _run(tmp_path, "stopped", cache, 2, steps=2, shard=True, strategy="full", run="resumed")
    assert (tmp_path / "resumed" / "checkpoint-2.dcp").is_dir()
    resumed = _run(tmp_path, "resumed", cache, 2, steps=3, shard=True, strategy="full")
    assert not (tmp_path / "resumed" / "checkpoint-2.dcp").exists()  # replaced by step 3's shards
    start = dict(tiny_model("I2V").named_parameters())
    assert any(not torch.equal(one[name], start[name]) for name in one)
    for name in one:  # tolerance as in the part-strategy test above
        torch.testing.assert_close(sharded[name], one[name], rtol=1e-5, atol=1e-5, msg=name)
        torch.testing.assert_close(resumed[name], one[name], rtol=1e-5, atol=1e-5, msg=name)
    said = torch.load(tmp_path / "resumed.pt", weights_only=True)["said"]
    assert any("resuming" in line and "step 2" in line for line in said)


SHARDED_WAN_CHILD = r"""
import sys, torch, torch.distributed as dist
sys.path[:0] = [{root!r}]
from realisdance.parallel.sharding import load_sharded_transformer
torch.set_num_threads(1)
dist.init_process_group("gloo")
model = load_sharded_transformer({plain!r}, "fp32", "cpu", kind=None, from_plain_wan=True)
local = sum(p.to_local().numel() for p in model.parameters())
whole = {{n: p.full_tensor() for n, p in model.named_parameters()}}
torch.save({{"whole": whole, "local": local}}, {out!r} + str(dist.get_rank()))
dist.barrier()
from realisdance.parallel.processes import leave_processes
leave_processes(0)  # as animate and train end
"""


@pytest.mark.slow
def test_a_sharded_load_of_plain_wan_gets_the_papers_initialisation_in_every_process(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    from test_train_command import write_plain_wan

    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    plain = tmp_path / "wan" / "transformer"
    state = write_plain_wan(release, plain)
    script, out = tmp_path / "child.py", tmp_path / "rank"
    script.write_text(SHARDED_WAN_CHILD.format(root=str(ROOT), plain=str(plain), out=str(out)))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (torch.load(f"{out}{rank}", weights_only=True) for rank in (0, 1))
    total = sum(t.numel() for t in first["whole"].values())
    assert first["local"] < 0.6 * total and second["local"] < 0.6 * total  # each process held about half
    model = first["whole"]
    for name, value in model.items():  # the same model in both processes: the new modules' draws are seeded
        torch.testing.assert_close(second["whole"][name], value, rtol=0, atol=0, msg=name)
    assert torch.count_nonzero(model["add_proj.weight"]) == 0 and torch.count_nonzero(model["add_proj.bias"]) == 0
    torch.testing.assert_close(model["attn_conv_in.weight"], model["patch_embedding.weight"][:, :16])
    torch.testing.assert_close(model["attn_conv_in.bias"], model["patch_embedding.bias"])
    assert torch.isfinite(model["add_conv_in.weight"]).all() and model["add_conv_in.weight"].std() > 0
    torch.testing.assert_close(model["blocks.0.attn1.to_q.weight"], state["blocks.0.attn1.to_q.weight"].float())
