"""One clip on several processes: Ulysses sequence parallelism of the DiT (diffusers' context-parallel machinery on
our subclass) gives the single-process forward, on 2 CPU processes (gloo), with reference tokens, for a sequence that
splits evenly and one that needs padding (masked out of attention); with the weights replicated or sharded (FSDP2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import sys, torch, torch.distributed as dist
sys.path[:0] = [{root!r}, {tests!r}]
from helpers import randomize_
from realisdance.model import build_transformer, named_config
from realisdance.parallel.sequence import enable_sequence_parallel
torch.set_num_threads(1)
dist.init_process_group("gloo")
g = torch.Generator().manual_seed(1)
hidden = torch.randn(1, 36, 2, 4, 6, generator=g)
text, clip = torch.randn(1, 512, 32, generator=g), torch.randn(1, 257, 24, generator=g)
pose = torch.randn(1, 32, 2, 4, 6, generator=g)
# 12 video tokens + 6 reference tokens (even), + 3 (15: padded to 16 and masked)
references = [torch.randn(1, 16, 1, 4, 6, generator=g), torch.randn(1, 16, 1, 2, 6, generator=g)]
t = torch.tensor([500.0])
lines = []
for shard in (False, True):  # one launch for both layouts: each torchrun start costs more than the forwards
    model = randomize_(build_transformer(named_config("tiny-I2V")), 0).eval()
    with torch.no_grad():
        single = [model(hidden, t, text, clip, add_cond=pose, attn_cond=r, return_dict=False)[0] for r in references]
    enable_sequence_parallel(model, "ulysses")
    if shard:
        from realisdance.parallel.sharding import shard_weights

        total = sum(p.numel() for p in model.parameters())
        shard_weights(model)
        local = sum(p.to_local().numel() for p in model.parameters())
        assert local <= total // 2 + 4096, (local, total)  # each process holds about half of the weights
    seen = []
    handle = model.blocks[0].attn1.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    with torch.no_grad():
        for reference, expected in zip(references, single):
            out = model(hidden, t, text, clip, add_cond=pose, attn_cond=reference, return_dict=False)[0]
            lines.append(f"{{shard}} {{dist.get_rank()}} {{float((out - expected).abs().max())}} {{seen[-1]}}")
open({results!r} + str(dist.get_rank()), "w").write("\n".join(lines))
dist.barrier()
from realisdance.parallel.processes import leave_processes
leave_processes(0)  # as animate and train end
"""


@pytest.mark.slow
def test_two_processes_give_the_single_process_forward_with_weights_replicated_or_sharded(tmp_path):
    script = tmp_path / "child.py"
    results = tmp_path / "rank"
    script.write_text(CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), results=str(results)))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for rank in (0, 1) for line in Path(f"{results}{rank}").read_text().splitlines()]
    for shard in ("False", "True"):
        ours = [row for row in rows if row[0] == shard]
        assert len(ours) == 4, rows
        for _, rank, error, _ in ours:
            assert float(error) <= 1e-5, (shard, rank, error)
        # each process held half of the sequence: 9 of 18 tokens, then 8 of 15 padded to 16
        assert sorted(int(tokens) for *_, tokens in ours) == [8, 8, 9, 9]


@pytest.mark.slow
def test_animate_under_torch_distributed_run_with_sharded_weights_gives_the_one_process_video(tmp_path):
    """The command's plumbing (--parallel, --shard-weights, one writer); replicated weights are held to one process
    through the pipeline below."""
    import torch
    from test_cli import write_item

    from realisdance import latents_file
    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    write_item(tmp_path / "in", "m", frames=12)
    folder = tmp_path / "in"
    common = ["animate", "--model", str(release), "--ref", str(folder / "ref" / "m.png"), "--smpl",
              str(folder / "smpl" / "m.mp4"), "--hamer", str(folder / "hamer" / "m.mp4"), "--frames", "5",
              "--max-area", str(64 * 96), "--steps", "2", "--device", "cpu"]  # fmt: skip
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    one = subprocess.run([sys.executable, "-m", "realisdance", *common, "--out", str(tmp_path / "one.mp4")],
                         capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
                          "realisdance", *common, "--out", str(tmp_path / "two.mp4"), "--parallel", "ulysses",
                          "--shard-weights"],
                         capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert "sequence split over 2 processes" in two.stdout and two.stdout.count("wrote ") == 1  # written once
    assert "weights sharded" in two.stdout and "memory plan: sharded" in two.stdout
    assert "weights sharded" not in one.stdout and "memory plan: sharded" not in one.stdout
    saved = [latents_file.load_latents(tmp_path / f"{name}.mp4.latents.pt").latents for name in ("one", "two")]
    torch.testing.assert_close(saved[1], saved[0], rtol=1e-4, atol=1e-5)
    assert (tmp_path / "two.mp4").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--shard-weights"], "add --parallel ulysses"),
        (["--parallel", "ulysses", "--shard-weights", "--memory", "stream"], "--memory stream"),
        (["--parallel", "ulysses", "--shard-weights", "--dtype", "fp8_e4m3fn"], "not fp8_e4m3fn"),
        (["--parallel", "ulysses", "--shard-weights", "--compile"], "--compile"),
    ],
)
def test_shard_weights_refusals_are_one_sentence_before_loading(tmp_path, capsys, extra, message):
    from test_cli import single_args

    from realisdance import cli
    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    assert cli.main(single_args(tmp_path, release, tmp_path / "o.mp4", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "o.mp4").exists()


def test_parallel_without_several_processes_is_one_sentence(tmp_path, capsys):
    from test_cli import single_args

    from realisdance import cli
    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    assert cli.main(single_args(tmp_path, release, tmp_path / "o.mp4", "--parallel", "ulysses")) == 2
    assert "launch with python -m torch.distributed.run" in capsys.readouterr().err


PIPELINE_CHILD = r"""
import sys, torch, torch.distributed as dist
sys.path[:0] = [{root!r}, {tests!r}]
from realisdance.parallel.settings import ParallelRun
from realisdance.pipeline.api import RealisDancePipeline
from realisdance.pipeline.preprocess import prepare_inputs
torch.set_num_threads(1)
dist.init_process_group("gloo")
pipe = RealisDancePipeline.from_pretrained({release!r}, dtype="fp32", device="cpu",
                                           parallel=ParallelRun("ulysses", {shard!r}))
loaded = [name for name in ("vae", "text_encoder", "clip_encoder") if getattr(pipe, name) is not None]
prepared = prepare_inputs({ref!r}, {smpl!r}, {hamer!r}, num_frames=5, max_area=64 * 96)
conditions = pipe.build_conditions(prepared, "a dancer")
local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in pipe.transformer.parameters())
out = pipe({ref!r}, {smpl!r}, {hamer!r}, "a dancer", num_frames=5, max_area=64 * 96, steps=2)
try:
    pipe.decode(out.latents)
    refused = ""
except Exception as error:
    refused = f"{{type(error).__name__}}: {{error}}"
torch.save({{"loaded": loaded, "pose": conditions.pose, "text": conditions.positive.text, "local": local,
            "latents": out.latents, "frames": out.frames, "refused": refused}}, {results!r} + str(dist.get_rank()))
dist.barrier()
from realisdance.parallel.processes import leave_processes
leave_processes(0)  # as animate and train end
"""


@pytest.mark.slow
def test_the_first_process_alone_loads_the_encoders_and_shares_the_conditions(tmp_path):
    """Replicated weights; the sharded layout goes through the same ParallelRun in the animate test above."""
    import torch
    from test_cli import write_item

    from realisdance.pipeline.api import RealisDancePipeline
    from realisdance.pipeline.preprocess import prepare_inputs
    from realisdance.tiny import build_tiny_release

    release = build_tiny_release(tmp_path / "model")
    write_item(tmp_path / "in", "m", frames=12)
    files = {name: str(tmp_path / "in" / name / f"m.{'png' if name == 'ref' else 'mp4'}")
             for name in ("ref", "smpl", "hamer")}  # fmt: skip
    script = tmp_path / "child.py"
    results = tmp_path / "rank"
    script.write_text(PIPELINE_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), release=str(release),
                                            results=str(results), shard=False, **files))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (torch.load(f"{results}{rank}") for rank in (0, 1))
    assert first["loaded"] == ["vae", "text_encoder", "clip_encoder"] and second["loaded"] == []
    alone = RealisDancePipeline.from_pretrained(release, dtype="fp32", device="cpu")
    expected = alone.build_conditions(prepare_inputs(files["ref"], files["smpl"], files["hamer"], num_frames=5,
                                                     max_area=64 * 96), "a dancer")  # fmt: skip
    total = sum(p.numel() for p in alone.transformer.parameters())
    video = alone(files["ref"], files["smpl"], files["hamer"], "a dancer", num_frames=5, max_area=64 * 96, steps=2)
    # the call works in every process: the first decodes, the others return the latents and say why they cannot
    assert first["frames"] is not None and second["frames"] is None and first["refused"] == ""
    assert second["refused"].startswith("InputError") and "first process" in second["refused"]
    torch.testing.assert_close(first["frames"], video.frames, rtol=1e-4, atol=1e-4)
    for record in (first, second):
        torch.testing.assert_close(record["latents"], video.latents, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(record["pose"], expected.pose, rtol=0, atol=0)
        torch.testing.assert_close(record["text"], expected.positive.text, rtol=0, atol=0)
        assert record["local"] == total  # replicated: every process holds the whole transformer
