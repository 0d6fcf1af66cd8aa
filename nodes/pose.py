"""Pose nodes: body models, parameter import, SMPL-CS and hand rendering, shape fitting, DWPose."""

from __future__ import annotations

from .host import io

NODES: list[type[io.ComfyNode]] = []
