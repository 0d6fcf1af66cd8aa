"""Finding the user-supplied DWPose ONNX files (licensed downloads, never shipped with the pack)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import CheckpointError
from .config import DETECTOR_FILE, DOWNLOAD_PAGE, POSE_FILE

# Where a models folder may hold the files: flat, in a "dwpose" subfolder, or in comfyui_controlnet_aux's
# Hugging Face cache layout (ckpts/yzd-v/DWPose), so users can point at files they already have.
SUBFOLDERS = ("", "dwpose", "DWPose", "yzd-v/DWPose")


@dataclass(frozen=True)
class DWPoseFiles:
    detector: Path
    pose: Path


def find_dwpose_files(
    folder: str | Path, detector_file: str = DETECTOR_FILE, pose_file: str = POSE_FILE
) -> DWPoseFiles:
    """Both model files under ``folder`` (see SUBFOLDERS); a missing one raises an error saying where to put it."""
    folder = Path(folder).expanduser()
    return DWPoseFiles(
        detector=find_onnx_file(folder, detector_file, "DWPose person detector"),
        pose=find_onnx_file(folder, pose_file, "DWPose whole-body pose model"),
    )


def find_onnx_file(folder: Path, name: str, what: str) -> Path:
    if not folder.is_dir():
        raise CheckpointError(
            f"The DWPose model folder {folder} does not exist. Create it and put {DETECTOR_FILE} and {POSE_FILE} "
            f"(from {DOWNLOAD_PAGE}) in it."
        )
    for sub in SUBFOLDERS:
        candidate = folder / sub / name
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{what} not found: {name} is not in {folder} (nor its dwpose/ subfolder). "
        f"Download {name} from {DOWNLOAD_PAGE} and put it at {folder / 'dwpose' / name}."
    )
