"""The memory planner: activation estimate against a live-storage measurement, stage budgets, refusals."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from realisdance.errors import InputError
from realisdance.memory import GIB, JobSize, MemoryOptions, ModelFacts, plan_memory
from realisdance.memory.activations import dit_activation_peak
from realisdance.memory.measure import cache_rope_on_meta, measure_forward
from realisdance.memory.weights import dit_weights
from realisdance.model import build_transformer, named_config

# The release's encoders as loaded by the pipeline: umT5-XXL bf16, CLIP ViT-H/14 fp32, Wan VAE fp32.
RELEASE_ENCODERS = {"text_encoder_bytes": int(11.4e9), "clip_bytes": int(2.53e9), "vae_bytes": int(0.51e9)}


def meta_inputs(config: dict, job: JobSize) -> dict:
    t, h, w = job.latent_frames, job.latent_height, job.latent_width
    return {
        "hidden_states": torch.empty(1, config["in_channels"], t, h, w, device="meta"),
        "timestep": torch.empty(1, device="meta"),
        "encoder_hidden_states": torch.empty(1, 512, config["text_dim"], device="meta"),
        "encoder_hidden_states_image": torch.empty(1, 257, config["image_dim"], device="meta"),
        "add_cond": torch.empty(1, config["add_cond_in_dim"], t, h, w, device="meta"),
        "attn_cond": torch.empty(1, 16, 1, job.height // 8, job.width // 8, device="meta"),
    }


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_activation_estimate_matches_a_live_storage_count(dtype):
    # The 14B block structure (real widths) with 2 blocks, at a small job: the meta device runs it for free.
    config = named_config("14B-I2V", num_layers=2)
    job = JobSize(17, 256, 448)
    model = build_transformer(config, device="meta", dtype=dtype)
    video_grid = (job.latent_frames, job.height // 16, job.width // 16)
    setup = cache_rope_on_meta(model, video_grid, (1, job.height // 16, job.width // 16))
    measured = measure_forward(model, meta_inputs(config, job), setup=setup).peak_bytes
    estimate = dit_activation_peak(config, job, compute_bytes=dtype.itemsize).total_bytes
    assert abs(estimate - measured) / measured < 0.10, (estimate, measured)


def test_fp8_blocks_take_half_the_bytes_and_the_rest_stays():
    config = named_config("1.3B-T2V", num_layers=2)
    bf16, fp8 = dit_weights(config, "bf16"), dit_weights(config, "fp8_e4m3fn")
    assert len(bf16.block_bytes) == 2
    assert 0.49 < fp8.block_bytes[0] / bf16.block_bytes[0] < 0.52  # norms / modulation tables stay fp32
    assert fp8.other_bytes > 0.9 * bf16.other_bytes  # embedders and head keep the compute dtype
    assert fp8.cast_bytes == 2 * config["ffn_dim"] * 1536  # the largest layer (FFN) upcast to bf16 while it runs
    assert bf16.cast_bytes == 0


@pytest.fixture(scope="module")
def release_facts():
    return ModelFacts(named_config("14B-I2V"), "bf16", **RELEASE_ENCODERS)


def test_a_big_card_keeps_everything_resident(release_facts):
    plan = plan_memory(release_facts, JobSize(), MemoryOptions(budget_bytes=80 * GIB))
    assert plan.kind == "resident" and not plan.streams and plan.dtype == "bf16"
    assert plan.text_on_device and plan.clip_on_device and plan.vae_on_device and not plan.park_dit
    assert plan.peak_bytes <= 80 * GIB - plan.headroom_bytes


def test_the_default_job_on_12_gib_streams_bf16_blocks_and_fits_every_stage(release_facts):
    budget = 12 * GIB
    plan = plan_memory(release_facts, JobSize(), MemoryOptions(budget_bytes=budget, host_bytes=64 * GIB))
    assert plan.kind == "stream" and plan.dtype == "bf16"
    assert plan.streamed_blocks == tuple(range(40 - len(plan.streamed_blocks), 40))  # the tail streams
    usable = budget - plan.headroom_bytes
    assert all(stage.bytes <= usable for stage in plan.stages)
    # one more resident block would not fit
    block = release_facts.weights("bf16").block_bytes[0]
    assert plan.stage("sampling").bytes + block > usable
    assert plan.pin_memory and plan.pinned_bytes == block * len(plan.streamed_blocks)
    text = plan.describe()
    assert f"blocks {plan.streamed_blocks[0]}-39 streamed" in text and "pinned" in text and "sampling" in text


def test_too_little_ram_to_pin_is_reported(release_facts):
    plan = plan_memory(release_facts, JobSize(), MemoryOptions(budget_bytes=12 * GIB, host_bytes=8 * GIB))
    assert plan.streams and not plan.pin_memory
    assert "pinned on the fly" in plan.describe()


def test_fp8_only_when_nothing_in_bf16_fits(release_facts):
    job = JobSize()
    stream_all_bf16 = plan_memory(release_facts, job, MemoryOptions(mode="stream-all", budget_bytes=80 * GIB))
    need_bf16 = stream_all_bf16.stage("sampling").bytes
    # a budget just below what bf16 streaming needs, but enough for fp8 streaming
    options = MemoryOptions(budget_bytes=need_bf16 + int(0.8 * GIB) - 1, headroom_bytes=int(0.8 * GIB))
    plan = plan_memory(release_facts, job, options)
    assert plan.dtype == "fp8_e4m3fn" and "fp8" in plan.describe()
    with pytest.raises(InputError):
        plan_memory(release_facts, job, dataclasses.replace(options, mode="stream"))


def test_refuses_before_work_and_names_what_would_fit(release_facts):
    job = JobSize()
    options = MemoryOptions(budget_bytes=6 * GIB, host_bytes=64 * GIB)
    with pytest.raises(InputError) as err:
        plan_memory(release_facts, job, options)
    message = str(err.value)
    assert "needs at least" in message and "frames" in message
    frames = int(message.split("try ")[1].split(" frames")[0])
    assert plan_memory(release_facts, dataclasses.replace(job, num_frames=frames), options).streams  # it does fit


def test_resident_mode_refuses_when_the_model_does_not_fit(release_facts):
    with pytest.raises(InputError, match="needs at least"):
        plan_memory(release_facts, JobSize(), MemoryOptions(mode="resident", budget_bytes=24 * GIB))


def test_no_budget_on_a_cpu_means_no_limit(release_facts):
    plan = plan_memory(release_facts, JobSize(), MemoryOptions(), free_bytes=None)
    assert plan.kind == "unlimited" and not plan.streams and plan.budget_bytes is None


def test_unknown_mode_is_one_sentence():
    with pytest.raises(InputError, match="choose one of"):
        MemoryOptions(mode="fast")


def test_encoders_on_cpu_leave_the_dit_plan_alone_and_show_in_the_plan(release_facts):
    options = MemoryOptions(budget_bytes=12 * GIB, host_bytes=64 * GIB)
    planned = plan_memory(release_facts, JobSize(), options)
    on_cpu = plan_memory(release_facts, JobSize(), dataclasses.replace(options, encoders_on_cpu=True))
    assert planned.text_on_device and planned.clip_on_device  # the control: on 12 GiB they visit the device
    assert not on_cpu.text_on_device and not on_cpu.clip_on_device and on_cpu.vae_on_device
    assert [stage.name for stage in on_cpu.stages] == ["sampling", "VAE decode"]  # no device peak for them
    assert (on_cpu.kind, on_cpu.dtype, on_cpu.streamed_blocks) == (planned.kind, planned.dtype, planned.streamed_blocks)
    assert on_cpu.stage("sampling") == planned.stage("sampling")
    text = on_cpu.describe()
    assert "text encoder: CPU; CLIP: CPU" in text and "as asked" in text and "do not fit" not in text


def test_vae_tile_override_replaces_the_planned_tiles(release_facts):
    from realisdance.encoders.vae_tiling import VaeTiling

    big = MemoryOptions(budget_bytes=80 * GIB)
    assert plan_memory(release_facts, JobSize(), big).vae_tiling is None  # untiled fits on 80 GiB
    tiled = plan_memory(release_facts, JobSize(), dataclasses.replace(big, vae_tile=256))
    assert tiled.vae_tiling == VaeTiling(256, 64) and "VAE decode: tiles 256 px" in tiled.describe()
    untiled = plan_memory(release_facts, JobSize(), big)
    assert tiled.stage("VAE decode").bytes < untiled.stage("VAE decode").bytes

    small = MemoryOptions(budget_bytes=12 * GIB, host_bytes=64 * GIB)
    chosen = plan_memory(release_facts, JobSize(), small).vae_tiling
    assert chosen is not None  # 12 GiB needs tiles
    forced = plan_memory(release_facts, JobSize(), dataclasses.replace(small, vae_tile=0))
    # untiled does not fit 12 GiB, so the asked untiled decode runs on the CPU rather than past the budget
    assert forced.vae_tiling is None and not forced.vae_on_device and "VAE decode: CPU" in forced.describe()
    overlap = plan_memory(release_facts, JobSize(), dataclasses.replace(small, vae_overlap=32))
    assert overlap.vae_tiling == VaeTiling(chosen.tile, 32)


@pytest.mark.parametrize(
    "tile, overlap, message", [(100, None, "multiple of 8"), (64, 64, "smaller than the tile"), (-8, None, "0")]
)
def test_an_invalid_vae_tile_is_refused_when_the_options_are_made(tile, overlap, message):
    with pytest.raises(InputError, match=message):
        MemoryOptions(vae_tile=tile, vae_overlap=overlap)


@pytest.mark.parametrize("budget_gib", [7, 5, 3.5, 2.6])
def test_a_refusal_names_a_smaller_job_that_really_fits(budget_gib):
    """`--plan-only` and the nodes refuse a job that cannot fit with what would: fewer frames, a smaller size, or
    both; planning the named job with the same budget then succeeds."""
    import re

    from realisdance.errors import InputError
    from realisdance.memory import GIB, JobSize, MemoryOptions, ModelFacts, plan_memory
    from realisdance.model.configs import named_config

    facts, budget = ModelFacts(named_config("14B-I2V"), "bf16"), int(budget_gib * GIB)
    with pytest.raises(InputError) as refused:
        plan_memory(facts, JobSize(), MemoryOptions(), budget)
    message = str(refused.value)
    frames = re.search(r"try (\d+) frames(?: at (\d+)x(\d+))?", message)
    size = re.search(r"(?:try |or )(\d+)x(\d+)", message)
    assert frames or size, message
    if frames and frames.group(2):
        named = JobSize(int(frames.group(1)), int(frames.group(3)), int(frames.group(2)))
    elif frames:
        named = JobSize(int(frames.group(1)))
    else:
        named = JobSize(81, int(size.group(2)), int(size.group(1)))
    assert plan_memory(facts, named, MemoryOptions(), budget).peak_bytes <= budget


def test_a_long_clip_in_windows_plans_the_device_memory_of_one_window():
    from realisdance.memory import MemoryOptions, ModelFacts, plan_memory
    from realisdance.model import named_config

    facts = ModelFacts(named_config("14B-I2V"), "bf16")
    short = plan_memory(facts, JobSize(81, 576, 1024), MemoryOptions(), free_bytes=None)
    long = plan_memory(facts, JobSize(81, 576, 1024, clip_frames=481), MemoryOptions(), free_bytes=None)
    stage = {plan: {s.name: s.bytes for s in plan.stages} for plan in (short, long)}
    activations = {plan: next(s.detail for s in plan.stages if s.name == "sampling") for plan in (short, long)}
    assert activations[short] == activations[long]  # one window's forward either way
    # The clip's latents and solver history stay on the CPU and the decode goes a few frames at a time: flat.
    assert stage[long] == stage[short] and long.peak_bytes == short.peak_bytes
    assert "481 frames in windows of 81" in long.describe()


def test_a_sequence_split_over_processes_plans_each_processs_share_of_the_activations():
    from realisdance.memory import MemoryOptions, ModelFacts, plan_memory
    from realisdance.memory.activations import dit_activation_peak
    from realisdance.model import named_config

    facts = ModelFacts(named_config("14B-I2V"), "bf16")
    job = JobSize(81, 576, 1024)
    whole = dit_activation_peak(facts.config, job, 2).total_bytes
    half = dit_activation_peak(facts.config, job, 2, share=2).total_bytes
    assert 0.45 * whole < half < 0.55 * whole  # the activations are linear in the tokens a process holds
    single = plan_memory(facts, job, MemoryOptions(), free_bytes=None)
    split = plan_memory(facts, job, MemoryOptions(sequence_parallel=4), free_bytes=None)
    sampling = {plan: next(s.bytes for s in plan.stages if s.name == "sampling") for plan in (single, split)}
    assert sampling[split] < sampling[single]
    assert "1/4 of the" in split.describe() and "Ulysses" in split.describe()


def test_sharded_weights_plan_each_processs_slice_and_the_blocks_gathered_in_flight(release_facts):
    from realisdance.memory.planner import IN_FLIGHT_BLOCKS

    job = JobSize(81, 576, 1024)
    weights = release_facts.weights("bf16")
    total = weights.other_bytes + sum(weights.block_bytes)
    # 14B in bf16 (~28 GiB of weights alone) does not stay whole on a 24 GiB card, with or without the split
    with pytest.raises(InputError):
        plan_memory(release_facts, job, MemoryOptions(budget_bytes=24 * GIB, mode="resident", sequence_parallel=4))
    options = MemoryOptions(budget_bytes=24 * GIB, sequence_parallel=4, weight_shards=4)
    plan = plan_memory(release_facts, job, options)
    assert plan.kind == "sharded" and not plan.streams and plan.dtype == "bf16" and not plan.park_dit
    replicated = plan_memory(release_facts, job, dataclasses.replace(options, weight_shards=1, budget_bytes=None))
    difference = replicated.stage("sampling").bytes - plan.stage("sampling").bytes
    # replicated holds every block; sharded a quarter of everything plus two whole blocks being gathered / used
    expected = sum(weights.block_bytes) - (-(-total // 4)) - IN_FLIGHT_BLOCKS * weights.largest_block
    assert difference == expected
    assert "1/4 of the weights" in plan.describe() and "first process only" in plan.describe()


def test_sharded_weights_that_do_not_fit_name_a_process_count_that_does(release_facts):
    with pytest.raises(InputError) as refused:
        plan_memory(release_facts, JobSize(81, 576, 1024),
                    MemoryOptions(budget_bytes=12 * GIB, sequence_parallel=2, weight_shards=2))  # fmt: skip
    message = str(refused.value)
    assert "sharded over 2 processes" in message and "budget is 12.00 GiB" in message
    count = int(message.rsplit("try ", 1)[1].split()[0])
    fits = plan_memory(release_facts, JobSize(81, 576, 1024),
                       MemoryOptions(budget_bytes=12 * GIB, sequence_parallel=count, weight_shards=count))  # fmt: skip
    assert fits.kind == "sharded" and count > 2 and 40 % count == 0  # Ulysses needs a divisor of the 40 heads
    smaller = count - 1
    while 40 % smaller:
        smaller -= 1
    if smaller > 2:
        with pytest.raises(InputError):
            options = MemoryOptions(budget_bytes=12 * GIB, sequence_parallel=smaller, weight_shards=smaller)
            plan_memory(release_facts, JobSize(81, 576, 1024), options)


@pytest.mark.parametrize("mode", ["stream", "stream-all", "fp8"])
def test_sharded_weights_refuse_streaming_and_fp8_modes_in_one_sentence(mode):
    with pytest.raises(InputError, match="does not combine"):
        MemoryOptions(mode=mode, sequence_parallel=2, weight_shards=2)


def test_sharded_weights_refuse_fp8_storage():
    facts = ModelFacts(named_config("14B-I2V"), "fp8_e4m3fn")
    with pytest.raises(InputError, match="bf16, fp16 or fp32"):
        plan_memory(facts, JobSize(), MemoryOptions(sequence_parallel=2, weight_shards=2))
