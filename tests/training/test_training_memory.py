"""The training memory plan: what it counts, measured on the meta device, and the refusal before any work."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.memory.measure import LiveBytesMode
from realisdance.memory.sizes import GIB, JobSize
from realisdance.model import named_config
from realisdance.training.memory_plan import (
    TrainingMemory,
    check_training_fits,
    measure_training_step,
    plan_training_memory,
)
from realisdance.training.parts import TrainableParts

# The release's block at full width, 10 of its 40 blocks: each measured run walks every block's ops on the meta device,
# and what these tests compare (kept vs recomputed activations, shares between processes) is per block.
RELEASE = {**named_config("14B-I2V"), "num_layers": 10}
JOB = JobSize(21, 320, 576)  # smaller than the release default: the same structure, faster on meta


def test_the_meta_measurement_counts_what_a_real_cpu_step_allocates():
    """The same forward + backward run on real CPU tensors and on the meta device: the same live bytes."""
    from realisdance.model import build_transformer
    from realisdance.training.memory_plan import _fused_attention, meta_inputs
    from realisdance.training.parts import select_trainable

    config, job = named_config("tiny-I2V"), JobSize(9, 64, 96)
    measured = measure_training_step(config, job, TrainableParts("part"), torch.float32, checkpointing=True)
    model = build_transformer(config)
    select_trainable(model, TrainableParts("part"))
    model.enable_gradient_checkpointing()
    model.train()
    shapes = meta_inputs(config, job, torch.float32)
    inputs = {name: None if value is None else torch.randn(value.shape) for name, value in shapes.items()}
    inputs["timestep"] = torch.tensor([500.0])
    tracker = LiveBytesMode([*model.parameters(), *[v for v in inputs.values() if v is not None]])
    with _fused_attention(), tracker:
        out = model(**inputs, return_dict=False)[0]
        out.float().square().mean().backward()
        del out
    assert abs(tracker.peak_bytes - measured["peak"]) <= 0.02 * measured["peak"]


def test_checkpointing_trades_the_saved_activations_for_one_block_and_part_trains_less():
    kept = plan_training_memory(RELEASE, JOB, TrainableParts("part"), bf16=True, checkpointing=False)
    recomputed = plan_training_memory(RELEASE, JOB, TrainableParts("part"), bf16=True, checkpointing=True)
    # 10 blocks' saved tensors against about one block's (the gradients made so far are in both)
    assert recomputed.backward_peak < 0.4 * kept.backward_peak
    assert recomputed.weights == kept.weights and recomputed.optimizer == kept.optimizer
    full = plan_training_memory(RELEASE, JOB, TrainableParts("full"), bf16=True, checkpointing=True)
    assert full.optimizer == 2 * full.weights  # every parameter trained: two fp32 moments each
    assert recomputed.optimizer < 0.3 * full.optimizer  # part: self-attention and the new modules only
    lora = plan_training_memory(RELEASE, JOB, TrainableParts("lora", lora_rank=32), bf16=True, checkpointing=True)
    assert lora.optimizer < 0.02 * full.optimizer and lora.weights > full.weights  # adapters beside the base


def test_sharding_divides_the_training_state_between_processes():
    alone = plan_training_memory(RELEASE, JOB, TrainableParts("full"), bf16=True, checkpointing=True)
    shared = plan_training_memory(RELEASE, JOB, TrainableParts("full"), True, True, processes=8, sharded=True)
    assert shared.optimizer == -(-alone.optimizer // 8) and shared.gradients == -(-alone.gradients // 8)
    gathered = shared.weights - alone.weights / 8  # two blocks gathered whole, and the small root layers
    per_block = alone.weights / RELEASE["num_layers"]
    assert 2 * 0.9 * per_block < gathered < 3 * per_block
    ddp = plan_training_memory(RELEASE, JOB, TrainableParts("full"), True, True, processes=8, sharded=False)
    assert ddp.gradients == 2 * alone.gradients  # DDP's buckets hold a second copy
    assert "per process of 8 (weights sharded)" in shared.describe()
    # each block's gradients are reduce-scattered after its backward: 1/8 of them stay in the backward's peak
    assert shared.backward_peak < alone.backward_peak


def test_a_step_that_does_not_fit_is_refused_with_what_would_help():
    memory = plan_training_memory(RELEASE, JOB, TrainableParts("full"), bf16=True, checkpointing=False)
    with pytest.raises(InputError) as refused:
        check_training_fits(memory, 40 * GIB, "full")
    message = str(refused.value)
    for advice in ("--gradient-checkpointing", "--train part", "--shard-weights", "--max-area"):
        assert advice in message
    check_training_fits(memory, None, "full")  # a CPU: no device budget
    small = TrainingMemory(GIB, GIB, GIB, 0, GIB)
    check_training_fits(small, 5 * GIB, "part")
