"""OpenGL rasterizer backend (moderngl, headless EGL): the fast path, with the torch rasterizer as its oracle.

Needs the optional ``moderngl`` package and an EGL driver (Mesa's llvmpipe on CPU-only machines, the GPU driver
elsewhere). The vertex shader turns OpenCV intrinsics into clip space; varyings are interpolated perspective-
correctly by GL, exactly like the torch backend; the attributes and the camera-space z go to float32 colour
targets and are read back. GL pixel centres are at +0.5 like ours; the image is drawn with y growing upwards in
NDC so GL's bottom-up rows read back in top-down order. Unlike the torch backend, triangles crossing the near
plane are clipped rather than dropped.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import torch

from ..errors import InputError
from .camera import project_points
from .raster_image import RasterImage

GL_NEAR, GL_FAR = 1e-2, 1e3  # metres; a 24-bit depth buffer then resolves ~0.06 mm at 3 m
BOX_MARGIN_PX = 2  # pixels around the projected mesh that are still cleared and read back


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
        self._readback_buffer: np.ndarray | None = None

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
        device = vertices.device
        values = torch.zeros(height, width, channels, dtype=attributes.dtype, device=device)
        depth = torch.full((height, width), float("inf"), dtype=vertices.dtype, device=device)
        box = self._pixel_box(vertices, intrinsics, width, height)
        if box is None:  # the whole mesh is off screen
            return RasterImage(attributes=values, depth=depth)
        x0, y0, box_w, box_h = box

        padded = torch.zeros(len(vertices), 4 * inputs, dtype=torch.float32, device=device)
        padded[:, :channels] = attributes
        data = np.ascontiguousarray(torch.cat([vertices.float(), padded], dim=-1).cpu().numpy())
        indices = np.ascontiguousarray(faces.to(torch.int32).cpu().numpy())
        k = intrinsics.double().cpu().tolist()
        planes = self._readback(targets, width, height)[: targets * box_h * box_w * 4]
        planes = planes.reshape(targets, box_h, box_w, 4)

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
                # Only the mesh's pixel box is cleared and read back: every fragment lies inside it, and the
                # readback of float targets is most of the cost of a frame on a software GL.
                framebuffer.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=box)
                ctx.enable_only(self._gl.DEPTH_TEST)  # no culling, no blending: as the reference renderer
                vao.render(self._gl.TRIANGLES)
                for i in range(targets):
                    framebuffer.read_into(planes[i], viewport=box, components=4, attachment=i, dtype="f4")
            finally:
                vao.release()
                vbo.release()
                ibo.release()

        crop = torch.from_numpy(planes)  # (targets, box_h, box_w, 4); rows top-down (see the vertex shader)
        rows, cols = slice(y0, y0 + box_h), slice(x0, x0 + box_w)
        for t in range(-(-channels // 4)):
            used = min(4, channels - 4 * t)
            values[rows, cols, 4 * t : 4 * t + used] = crop[t, ..., :used]
        z = crop[channels // 4, ..., channels % 4]
        depth[rows, cols] = torch.where(z > 0, z, float("inf"))  # drawn fragments lie beyond the near plane
        return RasterImage(attributes=values, depth=depth)

    def _pixel_box(
        self, vertices: torch.Tensor, intrinsics: torch.Tensor, width: int, height: int
    ) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) pixel box holding every fragment of the mesh (the whole image when a vertex lies before
        the near plane, since clipping then makes new vertices), or None when the mesh is entirely off screen."""
        full = (0, 0, width, height)
        points = vertices.detach().double().cpu()
        z = points[:, 2]
        if len(points) == 0 or not bool((z > self.near).all()) or not bool(torch.isfinite(points).all()):
            return full if len(points) else None
        projected = project_points(points, intrinsics.detach().double().cpu())
        low, high = projected[:, :2].amin(0), projected[:, :2].amax(0)
        # Pixel i is covered when its centre i + 0.5 is inside; one extra pixel absorbs GL's sub-pixel snapping.
        x0, y0 = (max(0, math.floor(float(v)) - BOX_MARGIN_PX) for v in low)
        x1 = min(width, math.ceil(float(high[0])) + BOX_MARGIN_PX)
        y1 = min(height, math.ceil(float(high[1])) + BOX_MARGIN_PX)
        if x0 >= x1 or y0 >= y1:
            return None
        return (x0, y0, x1 - x0, y1 - y0)

    def _readback(self, targets: int, width: int, height: int) -> np.ndarray:
        """A reused float32 buffer big enough for every target of a full frame (fresh memory is slow to touch)."""
        size = targets * width * height * 4
        if self._readback_buffer is None or self._readback_buffer.size < size:
            self._readback_buffer = np.empty(size, dtype=np.float32)
        return self._readback_buffer

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
