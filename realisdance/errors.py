"""User-facing errors.

Every problem a user can fix (a wrong file, a mismatched video, an impossible size) is raised as a
``RealisDanceError`` whose message says what is wrong and what to do, so nodes and the command line can show
it as is instead of a stack trace from deep inside torch.
"""


class RealisDanceError(Exception):
    """Base class for errors caused by inputs the user can change."""


class CheckpointError(RealisDanceError):
    """A model file or folder is missing, corrupt, of another model, or of an unknown format."""


class InputError(RealisDanceError):
    """Tensors, videos, images or settings that do not fit together."""
