"""Speed patches for the native RealisDance MODEL that the host does not provide: TeaCache as the release runs it.

LoRAs (LoraLoaderModelOnly), shift (ModelSamplingSD3) and torch.compile (TorchCompileModel) are the host's own
nodes and apply to the native model unchanged; the step-distilled sampler is the host's Euler with a shift, or our
release-preset sampler's settings (see docs/speed.md).
"""

from __future__ import annotations

from realisdance.caching.teacache import RELEASE_THRESHOLD
from realisdance.errors import InputError

from . import host
from .host import io


class RealisDanceTeaCache(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceTeaCache",
            display_name="RealisDance TeaCache",
            category="RealisDance",
            **host.optional_schema_fields(search_aliases=["TeaCache RealisDance", "step cache", "speed up"]),
            description=(
                "TeaCache exactly as the official RealisDance code runs it: per CFG branch, while the accumulated "
                "change of the timestep projection stays under the threshold, a step reuses the previous residual "
                "of all blocks instead of running them. The first 5 steps always run. Works with KSampler and the "
                "release-preset sampler (which reports how many forwards were skipped)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="RealisDance-DiT (MODEL), with any other patches."),
                io.Float.Input(
                    "threshold",
                    default=RELEASE_THRESHOLD,
                    min=0.001,
                    max=1e6,
                    step=0.01,
                    tooltip="0.2 in the release; higher skips more steps (faster, further from the full result).",
                ),
            ],
            outputs=[io.Model.Output(display_name="MODEL", tooltip="The same model, sampling with TeaCache.")],
        )

    @classmethod
    def execute(cls, model, threshold: float = RELEASE_THRESHOLD) -> io.NodeOutput:
        from .native.model_base import is_realisdance
        from .native.step_cache import with_teacache

        if not is_realisdance(model):
            raise InputError(
                "RealisDance TeaCache patches RealisDance-DiT only (its polynomial is fitted to Wan 2.1 I2V 14B); "
                "load the model with 'RealisDance-DiT Loader (MODEL)'."
            )
        return io.NodeOutput(with_teacache(model, threshold))


NODES: list[type[io.ComfyNode]] = [RealisDanceTeaCache]
