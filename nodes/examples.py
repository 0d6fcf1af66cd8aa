"""Example inputs for the bundled templates: a reference image and its two pose videos in ComfyUI's input folder.

So a template opens with every Load Image / Load Video choice filled (no missing-input error) and runs as it is:
the pack's own synthetic clip (a figure waving both arms; ``realisdance.demo_inputs``), 122 frames at 24 fps, which
the release's 16 fps resampling turns into its 81-frame clip. Written once: a marker file records it, so examples a
user deletes stay deleted.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

EXAMPLE_NAMES = {
    "ref": "realisdance_example_ref.png",
    "smpl": "realisdance_example_smpl.mp4",
    "hamer": "realisdance_example_hamer.mp4",
}
EXAMPLE_FRAMES = 122  # 81 frames at 16 fps, the release's clip, after resampling from 24 fps
MARKER = ".realisdance_examples_written"


@functools.lru_cache(maxsize=1)
def _rendered() -> Path:
    """The example files, drawn and encoded once per process (about a second), then copied where needed."""
    from realisdance.demo_inputs import write_demo_inputs

    folder = Path(tempfile.mkdtemp(prefix="realisdance_examples_"))
    write_demo_inputs(folder, EXAMPLE_NAMES, frames=EXAMPLE_FRAMES)
    return folder


def place_example_inputs(input_dir: str | Path) -> list[Path]:
    """Copy the example files into ``input_dir`` unless this was done before; returns what was written."""
    folder = Path(input_dir)
    marker = folder / MARKER
    if marker.exists():
        return []
    written = []
    try:
        for name in EXAMPLE_NAMES.values():
            if not (folder / name).exists():
                shutil.copyfile(_rendered() / name, folder / name)
                written.append(folder / name)
        marker.write_text("\n".join(EXAMPLE_NAMES.values()) + "\n", encoding="utf-8")
    except OSError as err:  # a read-only input folder must not stop the pack from loading
        logger.warning("RealisDance: could not write the templates' example inputs into %s (%s)", folder, err)
    return written
