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
settings = TrainSettings(steps=3, batch=4, learning_rate=1e-3, save_every=3, dropout=Dropout(0.5, 0.5),
                         timesteps=TimestepSchedule("low-noise-warmup", tau=10))
train(model, samples, Path({run!r}), settings, say=lambda text: None)
if not distributed or dist.get_rank() == 0:
    torch.save({{n: p.detach() for n, p in model.named_parameters()}}, {out!r})
if distributed:
    dist.destroy_process_group()
"""


def _run(tmp_path: Path, name: str, cache: Path, processes: int) -> dict:
    out = tmp_path / f"{name}.pt"
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), training=str(ROOT / "tests" / "training"),
                        cache=str(cache), run=str(tmp_path / name), out=str(out))  # fmt: skip
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    command = [sys.executable, str(script)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   str(script)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.slow
def test_two_gloo_processes_train_what_one_process_trains(tiny_model, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    from test_training_loop import write_samples

    cache = tmp_path / "cache"
    write_samples(tiny_model("I2V"), cache, count=5)
    one = _run(tmp_path, "one", cache, 1)
    two = _run(tmp_path, "two", cache, 2)
    start = dict(tiny_model("I2V").named_parameters())
    assert any(not torch.equal(one[name], start[name]) for name in one)  # it trained
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
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
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                               "-m", "realisdance", *common, "--run-dir", str(tmp_path / "two")],
                              capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]
    one, two = load_transformer(tmp_path / "one" / "transformer"), load_transformer(tmp_path / "two" / "transformer")
    for (name, a), (_, b) in zip(one.named_parameters(), two.named_parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    assert not (tmp_path / "two" / "cache" / ".c0.pt.partial").exists()
