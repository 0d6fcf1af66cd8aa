"""The nodes of the old private pipeline path, kept loadable for saved workflows but marked deprecated.

The bundled templates use one stack: ComfyUI's own CLIPLoader / CLIPVisionLoader / VAELoader / VAEDecode around
the native RealisDance MODEL. The old nodes still run a workflow saved with them, but ComfyUI's node search hides
deprecated nodes and the canvas badges them; each one's description names what replaces it.
"""

from __future__ import annotations

REPLACEMENTS = {
    "RealisDanceModelLoader": "RealisDance-DiT Loader (MODEL)",
    "RealisDanceTextEncoderLoader": "Load CLIP (type wan) with umt5_xxl_*.safetensors",
    "RealisDanceClipVisionLoader": "Load CLIP Vision with clip_vision_h.safetensors",
    "RealisDanceVAELoader": "Load VAE with wan_2.1_vae.safetensors",
    "RealisDanceTextEncode": "CLIP Text Encode",
    "RealisDanceConditions": "RealisDance To Video",
    "RealisDanceSampler": "RealisDance Sampler (release preset) or KSampler",
    "RealisDanceDecode": "VAE Decode (or VAE Decode (Tiled))",
}
SUFFIX = " (deprecated)"


def deprecated(schema):
    """Mark an old node's schema: deprecated, '(deprecated)' in its name, its replacement first in its description."""
    replacement = REPLACEMENTS[schema.node_id]
    schema.is_deprecated = True
    schema.display_name = (schema.display_name or schema.node_id) + SUFFIX
    schema.description = f"Deprecated: use {replacement} (see the bundled templates). " + (schema.description or "")
    return schema
