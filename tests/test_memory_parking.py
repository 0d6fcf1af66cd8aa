"""Parking and pinning, run on a CPU-only machine through a recording stand-in for the accelerator.

A plain CPU run skips both (there is nothing to park the DiT away from), so these paths would otherwise only run on
a GPU. The stand-in treats ``cpu:0`` as the accelerator: moves to it or to the host are recorded per tensor
storage, pins are recorded instead of performed (a CPU-only torch cannot pin), and the numbers stay exact.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import tiny_inputs

from realisdance.memory import JobSize, MemoryOptions, ModelFacts, place_transformer, plan_memory
from realisdance.memory.accelerator import Accelerator, substituted

DEVICE = torch.device("cpu", 0)


class RecordingAccelerator(Accelerator):
    def __init__(self):
        self.where: dict[int, str] = {}  # storage address -> "device" / "host", as last moved
        self.pinned: set[int] = set()
        self.cache_frees = 0

    def is_accelerator(self, device):
        return device.index is not None  # cpu:0 plays the accelerator, plain cpu the host

    def move(self, tensor, device):
        moved = tensor.to(device)  # a copy when the index changes, as a real transfer would be
        self.where[moved.data_ptr()] = "device" if self.is_accelerator(device) else "host"
        return moved

    def pin(self, tensor):
        self.pinned.add(tensor.data_ptr())
        return tensor

    def side_stream(self, device):
        return False

    def empty_cache(self, device):
        self.cache_frees += 1

    def location(self, tensors) -> set[str]:
        return {self.where.get(t.data_ptr(), "never moved") for t in tensors}


def tensors_of(module, streamed: bool, streamed_blocks):
    prefixes = tuple(f"blocks.{i}." for i in streamed_blocks)
    items = [*module.named_parameters(), *module.named_buffers()]
    return [t for name, t in items if name.startswith(prefixes) == streamed]


def streaming_plan(model, streamed=(1,), **changes):
    facts = ModelFacts(dict(model.config), "fp32")
    plan = plan_memory(facts, JobSize(5, 64, 96), MemoryOptions(mode="stream"), free_bytes=1 << 34)
    return dataclasses.replace(plan, streamed_blocks=tuple(streamed), **changes)


def forward(model, inputs):
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


@pytest.mark.parametrize("pin", [True, False])
def test_placing_pins_exactly_the_streamed_blocks_and_moves_the_rest_to_the_device(tiny_model, pin):
    model = tiny_model("I2V")
    with substituted(RecordingAccelerator()) as fake:
        place_transformer(model, streaming_plan(model, pin_memory=pin), DEVICE)
    streamed, resident = tensors_of(model, True, (1,)), tensors_of(model, False, (1,))
    assert fake.location(resident) == {"device"}
    assert fake.location(streamed) == {"host"}
    expected = {t.data_ptr() for t in streamed} if pin else set()
    assert fake.pinned == expected


def test_parking_moves_only_the_resident_part_and_unparking_restores_the_same_output(tiny_model):
    model = tiny_model("I2V")
    inputs = tiny_inputs(model)
    reference = forward(model, inputs)
    with substituted(RecordingAccelerator()) as fake:
        placement = place_transformer(model, streaming_plan(model), DEVICE)
        streamed, resident = tensors_of(model, True, (1,)), tensors_of(model, False, (1,))
        fake.where.clear()
        placement.park()
        assert placement.parked and fake.location(resident) == {"host"}
        assert fake.location(streamed) == {"never moved"}  # streamed blocks already live on the host
        assert fake.cache_frees >= 1  # the freed device memory goes back to the allocator for the next stage
        moves = dict(fake.where)
        placement.park()  # parking twice moves nothing
        assert fake.where == moves
        placement.unpark()
        assert not placement.parked and fake.location(resident) == {"device"}
        torch.testing.assert_close(forward(model, inputs), reference, rtol=0, atol=0)


def test_a_cpu_run_never_parks(tiny_model):
    model = tiny_model("I2V")
    with substituted(RecordingAccelerator()) as fake:
        placement = place_transformer(model, streaming_plan(model), "cpu")
        fake.where.clear()
        placement.park()
    assert not placement.parked and fake.where == {}


def test_the_pipeline_parks_the_dit_for_the_encoders_and_samples_with_it_back(tmp_path):
    """A plan with park_dit: umT5, CLIP and the VAE each run with the resident DiT on the host; every DiT forward
    sees it on the device; the video equals the unparked run's."""
    from realisdance.memory.text_cache import TextEmbeddingCache
    from realisdance.pipeline.api import RealisDancePipeline
    from realisdance.tiny import build_tiny_release

    folder = build_tiny_release(tmp_path / "release", variant="I2V")
    rng = np.random.default_rng(0)
    media = (rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), *rng.random((2, 5, 64, 96, 3), dtype=np.float32))
    kwargs = {"prompt": "a dancer", "seed": 3, "num_frames": 5, "max_area": 64 * 96, "steps": 2}
    plain = RealisDancePipeline.from_pretrained(folder, dtype="fp32")
    expected = plain(*media, **kwargs).frames

    pipe = RealisDancePipeline.from_pretrained(folder, dtype="fp32")
    pipe.text_cache = TextEmbeddingCache()  # the plain run's prompt embeddings would skip the text stage
    dit = pipe.transformer
    with substituted(RecordingAccelerator()) as fake:
        plan = streaming_plan(dit, park_dit=True, pin_memory=True, budget_bytes=1 << 34)
        pipe.placement = place_transformer(dit, plan, DEVICE)
        pipe.memory_plan, pipe.device = plan, DEVICE
        resident = tensors_of(dit, False, (1,))
        seen: dict[str, list[set[str]]] = {"text": [], "clip": [], "vae": [], "dit": []}

        def spy(stage, component, method):
            original = getattr(component, method)

            def wrapped(*args, **kw):
                seen[stage].append(fake.location(resident))
                return original(*args, **kw)

            setattr(component, method, wrapped)

        spy("text", pipe.text_encoder, "encode")
        spy("clip", pipe.clip_encoder, "encode")
        spy("vae", pipe.vae, "encode")
        dit.register_forward_pre_hook(lambda module, args: seen["dit"].append(fake.location(resident)))
        frames = pipe(*media, **kwargs).frames

    assert seen["text"] and all(where == {"host"} for where in seen["text"] + seen["clip"] + seen["vae"])
    assert len(seen["dit"]) == 2 * 2 and all(where == {"device"} for where in seen["dit"])  # 2 steps x 2 branches
    np.testing.assert_array_equal(frames, expected)
