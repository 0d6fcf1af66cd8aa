"""The shading recipe against RealisDance's own SMPL-CS demo render (no GVHMR fit of it exists, so no pixel diff).

Every covered pixel of the reference render should be palette_colour * (0.4 + 0.3 cos) + 0.2 for some entry of
the colour table and some cos in [0, 1]; other plausible recipes (no flat specular, plain diffuse) leave errors
of tens of levels. This checks the constants of SMPL_CS_MATERIAL against the real renderer's output.
"""

from __future__ import annotations

import pytest
import torch

from realisdance.pose import SMPL_CS_MATERIAL, load_vertex_colours


def fit_error(pixels: torch.Tensor, palette: torch.Tensor, ambient: float, diffuse: float, specular: float):
    """Per pixel, the smallest max-channel error (0..255) of palette * s + specular with s in the lit range."""
    scale = ((pixels - specular)[:, None, :] * palette[None]).sum(-1) / (palette * palette).sum(-1).clamp(min=1e-6)
    scale = scale.clamp(ambient, ambient + diffuse)
    return (palette[None] * scale[..., None] + specular - pixels[:, None]).abs().amax(-1).amin(-1) * 255


def test_demo_smpl_cs_pixels_follow_the_headlight_recipe(demo_smpl_video, colour_table_path):
    av = pytest.importorskip("av")
    palette = torch.unique(load_vertex_colours(colour_table_path), dim=0)
    with av.open(str(demo_smpl_video)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    image = torch.from_numpy(frame).float() / 255
    inner = image.amax(-1) > 0.3
    # Keep pixels whose four neighbours are covered too: silhouette edges are blended with black by the codec.
    inner[1:-1, 1:-1] &= inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    pixels = image[inner][::37]
    assert len(pixels) > 500

    m = SMPL_CS_MATERIAL
    ours = fit_error(pixels, palette, m.ambient, m.diffuse, m.specular)
    assert ours.median() < 4 and ours.quantile(0.9) < 10  # H.264 (CRF 23) noise
    assert fit_error(pixels, palette, m.ambient, m.diffuse, 0.0).median() > 20  # the +0.2 matters
    assert fit_error(pixels, palette, 0.0, 1.0, 0.0).median() > 20
