"""Prompt -> umT5 embeddings with our text encoder (the release's cleaning, 512 tokens, zeros past the prompt)."""

from __future__ import annotations

from realisdance.encoders import TextEncoder
from realisdance.memory.stages import text_activation_bytes

from . import host
from .deprecation import deprecated
from .host import io
from .interop import TextEmbeds


class RealisDanceTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        schema = io.Schema(
            node_id="RealisDanceTextEncode",
            display_name="RealisDance Text Encode",
            category="RealisDance",
            description="Encodes a prompt with umT5 exactly as the release does (for the positive or negative text).",
            inputs=[
                host.RealisDanceTextEncoder.Input("text_encoder", tooltip="From RealisDance Text Encoder Loader."),
                io.String.Input(
                    "text",
                    multiline=True,
                    default="",
                    tooltip="The prompt. The release's own demo uses a short description; an empty negative is "
                    "the release's default.",
                ),
            ],
            outputs=[host.RealisDanceTextEmbeds.Output(display_name="text", tooltip="512-token umT5 embeddings.")],
        )
        return deprecated(schema)

    @classmethod
    def execute(cls, text_encoder: TextEncoder, text: str = "") -> io.NodeOutput:
        # The host unloads its own models as far as umT5 needs; if it still does not fit, it runs on the CPU.
        with host.on_compute_device(text_encoder, work_bytes=text_activation_bytes(text_encoder.dtype.itemsize)):
            embeddings = text_encoder.encode(text).float().cpu()
        return io.NodeOutput(TextEmbeds(embeddings, text))


NODES: list[type[io.ComfyNode]] = [RealisDanceTextEncode]
