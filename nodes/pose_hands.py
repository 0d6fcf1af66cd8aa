"""HaMeR hand import: a node reading a HaMeR dump for RealisDance Render SMPL-CS + Hands."""

from __future__ import annotations

from realisdance.errors import InputError
from realisdance.pose import HandDetections, load_hamer

from . import host
from .host import io
from .pose_types import CATEGORY, HamerHandsType

HAMER_EXTENSIONS = (".pkl", ".pickle", ".pt", ".pth", ".npz")


def select_hand_frames(hands: HandDetections, start: int, count: int) -> HandDetections:
    """Frames start .. start + count (0: all the rest), trimmed like RealisDance Load GVHMR Motion trims."""
    if start >= hands.num_frames:
        raise InputError(f"start_frame {start} is past the end of the HaMeR data ({hands.num_frames} frames).")
    stop = hands.num_frames if count == 0 else min(hands.num_frames, start + count)
    return HandDetections(hands.vertices[start:stop], hands.is_right[start:stop])


class RealisDanceLoadHaMeR(io.ComfyNode):
    """Read HaMeR's hand meshes of the driving video (optional: without them the SMPL-X hands are drawn)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RealisDanceLoadHaMeR",
            display_name="RealisDance Load HaMeR Hands",
            category=CATEGORY,
            description=(
                "Reads the hand meshes HaMeR found in the driving video (RealisDance/Uni3C hamer_info.pkl, HaMeR "
                "demo outputs, or an npz with vertices (F, H, 778, 3) and is_right (F, H)). Connect it to RealisDance "
                "Render SMPL-CS + Hands: each hand is fitted onto the SMPL-X hand, so HaMeR's camera is not needed."
            ),
            inputs=[
                io.Combo.Input(
                    "path",
                    options=host.input_file_choices(HAMER_EXTENSIONS),
                    tooltip="The HaMeR file (.pkl, .pt, .npz), copied into ComfyUI's input folder (sub-folders too); "
                    "press R after copying. Files outside the input folder are not read.",
                ),
                io.Int.Input(
                    "start_frame",
                    default=0,
                    min=0,
                    max=1_000_000,
                    tooltip="First frame to keep; use the same value as in RealisDance Load GVHMR Motion.",
                ),
                io.Int.Input(
                    "frame_count",
                    default=0,
                    min=0,
                    max=1_000_000,
                    tooltip="How many frames to keep from start_frame (0: all the rest); the same as for the motion.",
                ),
            ],
            outputs=[
                HamerHandsType.Output(display_name="hamer_hands", tooltip="The hands found in each frame."),
                io.Int.Output(display_name="frame_count", tooltip="Number of frames kept."),
            ],
        )

    @classmethod
    def execute(cls, path: str, start_frame: int = 0, frame_count: int = 0) -> io.NodeOutput:
        hands = select_hand_frames(load_hamer(host.resolve_input_file(path, "HaMeR")), start_frame, frame_count)
        return io.NodeOutput(hands, hands.num_frames)


NODES: list[type[io.ComfyNode]] = [RealisDanceLoadHaMeR]
