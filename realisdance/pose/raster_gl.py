"""OpenGL rasterizer backend (moderngl, headless EGL): the fast path, with the torch rasterizer as its oracle.

Needs the optional ``moderngl`` package and an EGL driver (Mesa's llvmpipe on CPU-only machines, the GPU driver
elsewhere). The vertex shader turns OpenCV intrinsics into clip space; varyings are interpolated perspective-
correctly by GL, exactly like the torch backend; the attributes and the camera-space z go to float32 colour
targets and are read back. GL pixel centres are at +0.5 like ours; the image is drawn with y growing upwards in
NDC so GL's bottom-up rows read back in top-down order. Unlike the torch backend, triangles crossing the near
plane are clipped rather than dropped.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..errors import InputError
from .render_backend import RasterImage

GL_NEAR, GL_FAR = 1e-2, 1e3  # metres; a 24-bit depth buffer then resolves ~0.06 mm at 3 m


class GLRasterizer:
    """:class:`~.render_backend.RasterBackend` drawing with OpenGL 3.3 through moderngl (one context per thread)."""

    name = "gl"

    def __init__(self, near: float = GL_NEAR, far: float = GL_FAR) -> None:
        try:
            import moderngl
        except ImportError as exc:
            raise InputError("The 'gl' render backend needs moderngl: pip install moderngl (or use 'torch').") from exc
        self._gl = moderngl
        self.near, self.far = near, far
        try:
            self._ctx = moderngl.create_context(standalone=True, backend="egl")
        except Exception as egl_error:  # no EGL: try the platform default (GLX/WGL/CGL) before giving up
            try:
                self._ctx = moderngl.create_context(standalone=True)
            except Exception as exc:
                raise InputError(
                    f"No OpenGL 3.3 context could be created for the 'gl' render backend ({egl_error}; {exc}). "
                    "Install an EGL driver (e.g. Debian libegl1 + libgl1-mesa-dri) or use the 'torch' backend."
                ) from exc
        self._programs: dict[int, object] = {}
        self._framebuffers: dict[tuple[int, int, int], object] = {}

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        attributes: torch.Tensor,
        intrinsics: torch.Tensor,
        width: int,
        height: int,
    ) -> RasterImage:
        channels = attributes.shape[-1]
        inputs = -(-channels // 4)  # vec4 vertex inputs carrying the attributes (zero-padded)
        targets = -(-(channels + 1) // 4)  # float RGBA outputs holding [attributes..., z]; z = 0 where empty
        padded = torch.zeros(len(vertices), 4 * inputs, dtype=torch.float32, device=vertices.device)
        padded[:, :channels] = attributes
        data = np.ascontiguousarray(torch.cat([vertices.float(), padded], dim=-1).cpu().numpy())
        indices = np.ascontiguousarray(faces.to(torch.int32).cpu().numpy())
        k = intrinsics.double().cpu().tolist()
        planes = np.empty((targets, height, width, 4), dtype=np.float32)

        ctx = self._ctx
        with ctx:
            program = self._program(channels)
            for name, value in (("fx", k[0][0]), ("skew", k[0][1]), ("cx", k[0][2]), ("fy", k[1][1]), ("cy", k[1][2])):
                program[name].value = value
            program["size"].value = (float(width), float(height))
            program["near_far"].value = (self.near, self.far)
            framebuffer = self._framebuffer(width, height, targets)
            vbo, ibo = ctx.buffer(data.tobytes()), ctx.buffer(indices.tobytes())
            names = ["in_position", *[f"in_a{i}" for i in range(inputs)]]
            vao = ctx.vertex_array(program, [(vbo, "3f" + " 4f" * inputs, *names)], index_buffer=ibo)
            try:
                framebuffer.use()
                framebuffer.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                ctx.enable_only(self._gl.DEPTH_TEST)  # no culling, no blending: as the reference renderer
                vao.render(self._gl.TRIANGLES)
                for i in range(targets):
                    framebuffer.read_into(planes[i], components=4, attachment=i, dtype="f4")
            finally:
                vao.release()
                vbo.release()
                ibo.release()

        planes_t = torch.from_numpy(planes)  # (targets, H, W, 4)
        z = planes_t[channels // 4, ..., channels % 4]
        depth = torch.where(z > 0, z, float("inf"))  # drawn fragments lie beyond the near plane, so z > 0
        parts = [planes_t[t, ..., : min(4, channels - 4 * t)] for t in range(-(-channels // 4))]
        values = torch.cat(parts, dim=-1) if parts else planes_t.new_zeros(height, width, 0)
        device = vertices.device
        return RasterImage(attributes=values.to(device, attributes.dtype), depth=depth.to(device, vertices.dtype))

    def _program(self, channels: int):
        if channels not in self._programs:
            self._programs[channels] = self._ctx.program(
                vertex_shader=_vertex_shader(channels), fragment_shader=_fragment_shader(channels)
            )
        return self._programs[channels]

    def _framebuffer(self, width: int, height: int, targets: int):
        key = (width, height, targets)
        if key not in self._framebuffers:
            colour = [self._ctx.texture((width, height), 4, dtype="f4") for _ in range(targets)]
            self._framebuffers[key] = self._ctx.framebuffer(colour, self._ctx.depth_renderbuffer((width, height)))
        return self._framebuffers[key]


def _vertex_shader(channels: int) -> str:
    inputs = -(-channels // 4)
    declarations = "".join(f"in vec4 in_a{i};\nout vec4 v_a{i};\n" for i in range(inputs))
    copies = "".join(f"    v_a{i} = in_a{i};\n" for i in range(inputs))
    # u·z = fx x + skew y + cx z and v·z = fy y + cy z in pixels; NDC x = 2u/W − 1 and y = 2v/H − 1. Keeping v
    # growing with NDC y draws the image upside down for GL, so its bottom-up row order reads back top-down.
    return f"""#version 330
uniform float fx, skew, cx, fy, cy;
uniform vec2 size;
uniform vec2 near_far;
in vec3 in_position;
{declarations}out float v_z;
void main() {{
    vec3 p = in_position;
    float uz = fx * p.x + skew * p.y + cx * p.z;
    float vz = fy * p.y + cy * p.z;
    float n = near_far.x, f = near_far.y;
    gl_Position = vec4(2.0 * uz / size.x - p.z, 2.0 * vz / size.y - p.z, ((f + n) * p.z - 2.0 * f * n) / (f - n), p.z);
{copies}    v_z = p.z;
}}
"""


def _fragment_shader(channels: int) -> str:
    inputs, targets = -(-channels // 4), -(-(channels + 1) // 4)
    values = [f"v_a{c // 4}.{'xyzw'[c % 4]}" for c in range(channels)] + ["v_z"]
    values += ["0.0"] * (4 * targets - len(values))
    declarations = "".join(f"in vec4 v_a{i};\n" for i in range(inputs))
    outputs = "".join(f"layout(location = {t}) out vec4 out_{t};\n" for t in range(targets))
    writes = "".join(f"    out_{t} = vec4({', '.join(values[4 * t : 4 * t + 4])});\n" for t in range(targets))
    return f"""#version 330
{declarations}in float v_z;
{outputs}void main() {{
{writes}}}
"""


_local = threading.local()


def shared_gl_rasterizer() -> GLRasterizer:
    """One GLRasterizer per thread: a GL context is bound to the thread that made it, and creating one is slow."""
    if getattr(_local, "rasterizer", None) is None:
        _local.rasterizer = GLRasterizer()
    return _local.rasterizer
