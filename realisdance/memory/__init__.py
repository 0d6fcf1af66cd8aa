"""Memory planning for consumer GPUs: estimate each stage's peak, pick the fastest plan that fits, stream blocks.

- ``sizes.JobSize``: frames, pixels and tokens of a job;
- ``weights`` / ``activations`` / ``stages``: per-stage peak estimates from the config (no weights needed);
- ``planner.plan_memory`` -> ``MemoryPlan`` (refuses with what would fit when nothing does);
- ``streaming.place_transformer``: resident blocks on the device, the rest streamed with diffusers' group offloading;
- ``text_cache``: text embeddings reused across runs; ``measure``: live-bytes measurement for validation.
"""

from .planner import MODES, MemoryOptions, MemoryPlan, ModelFacts, StagePeak, plan_memory
from .sizes import GIB, JobSize
from .streaming import DitPlacement, place_transformer

__all__ = [
    "GIB",
    "MODES",
    "DitPlacement",
    "JobSize",
    "MemoryOptions",
    "MemoryPlan",
    "ModelFacts",
    "StagePeak",
    "place_transformer",
    "plan_memory",
]
