"""Flow-matching schedulers and the release's timestep conventions (spec 3.2, 10.3, 10.12).

The release builds whatever scheduler its ``scheduler/scheduler_config.json`` names (Wan's diffusers configs:
flow-UniPC, ``use_flow_sigmas``, ``prediction_type=flow_prediction``) and calls only ``set_timesteps(steps)``
under diffusers 0.33.1. Two details matter for a faithful port:

- diffusers 0.37 changed the default flow-UniPC sigma grid (it now starts at sigma 1 - 1e-6 instead of
  shift(0.999)), so ``set_release_timesteps`` passes the release's grid explicitly on new diffusers versions;
- the DiT gets ``int64(1000 * sigma)``, truncated, while the scheduler step uses the scheduler's own timestep
  (see ``model_timestep``).
"""

from __future__ import annotations

import copy
import functools
import inspect
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, InputError
from ..model.strengths import release_timestep
from .folders import read_json

# Wan 2.1 I2V diffusers scheduler config (flow-UniPC). Wan recommends shift 5.0 at 720p and 3.0 at 480p;
# the release's own file decides (diffusers' Wan converter wrote 3.0 for every model, spec 3.2).
WAN21_I2V_SCHEDULER_CONFIG: dict = {
    "_class_name": "UniPCMultistepScheduler",
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "flow_shift": 5.0,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}

KINDS = ("auto", "unipc", "euler", "distill")
# The step-distilled sampler (lightx2v's WanStepDistillScheduler and the Wan wrapper's "flowmatch_distill"): flow
# Euler, no CFG, over the unshifted grid 1 - i/N shifted by 5; at 4 steps the DiT sees t = 1000, 937.5, 833.3, 625.
DISTILL_SHIFT = 5.0


# -- the schedule as plain numbers -----------------------------------------------------------------------------


def shift_sigmas(sigmas: np.ndarray, shift: float) -> np.ndarray:
    """Flow-matching time shift: s * sigma / (1 + (s - 1) * sigma)."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def release_sigma_grid(num_steps: int, num_train_timesteps: int = 1000) -> np.ndarray:
    """The unshifted sigmas of the release's flow-UniPC (diffusers <= 0.36): 1 - linspace(1, 1/T, N+1), reversed,
    last (zero) entry dropped, i.e. N values from 0.999 down to 0.999 / N for T = 1000."""
    alphas = np.linspace(1, 1 / num_train_timesteps, num_steps + 1)
    return np.flip(1.0 - alphas)[:-1].copy()


def flow_unipc_sigmas(num_steps: int, shift: float, num_train_timesteps: int = 1000) -> np.ndarray:
    """The release's sigma schedule (spec 3.2): N shifted sigmas plus the final 0, float64, length N + 1."""
    if num_steps < 1:
        raise InputError(f"the number of steps must be at least 1, got {num_steps}")
    sigmas = shift_sigmas(release_sigma_grid(num_steps, num_train_timesteps), shift)
    return np.concatenate([sigmas, [0.0]])


def flow_unipc_timesteps(num_steps: int, shift: float, num_train_timesteps: int = 1000) -> np.ndarray:
    """The release's ``scheduler.timesteps``: int64(T * sigma), truncated, for the N step sigmas."""
    sigmas = flow_unipc_sigmas(num_steps, shift, num_train_timesteps)[:-1]
    return (sigmas * num_train_timesteps).astype(np.int64)


# -- diffusers scheduler objects --------------------------------------------------------------------------------


def distill_sigma_grid(num_steps: int) -> np.ndarray:
    """The unshifted sigmas of the step-distilled sampler: 1 - i/N for i < N (4 steps: 1, 0.75, 0.5, 0.25)."""
    return 1.0 - np.arange(num_steps, dtype=np.float64) / num_steps


@functools.cache
def _distill_class():
    from diffusers import FlowMatchEulerDiscreteScheduler

    class FlowDistillEulerScheduler(FlowMatchEulerDiscreteScheduler):
        """Flow Euler on ``distill_sigma_grid`` (``set_release_timesteps`` gives it that grid)."""

    return FlowDistillEulerScheduler


def is_distill_scheduler(scheduler) -> bool:
    return type(scheduler).__name__ == "FlowDistillEulerScheduler"


def _config_from(source: str | Path | dict) -> dict:
    """A scheduler config dict from a dict, a json file, a ``scheduler/`` folder or the release root."""
    if isinstance(source, dict):
        return copy.deepcopy(source)
    path = Path(source).expanduser()
    if path.is_file():
        return read_json(path)
    for candidate in (path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json"):
        if candidate.is_file():
            return read_json(candidate)
    if not path.exists():
        raise CheckpointError(
            f"scheduler config not found: {path} does not exist. Point this at the release folder, its "
            "'scheduler/' subfolder or a scheduler_config.json."
        )
    raise CheckpointError(
        f"{path} has no scheduler_config.json and no 'scheduler/' subfolder. Point this at the release folder, "
        "its 'scheduler/' subfolder or a scheduler_config.json."
    )


def _config_shift(config: dict) -> float:
    """The flow shift of a config of either class (UniPC calls it flow_shift, FlowMatchEuler shift)."""
    value = config.get("flow_shift", config.get("shift", 1.0))
    return float(value if value is not None else 1.0)


def _scheduler_class(name: str):
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config") or not hasattr(cls, "set_timesteps"):
        raise CheckpointError(
            f"scheduler_config.json names the class {name!r}, which is not a diffusers scheduler. "
            "Use the release's 'scheduler/' folder, or pick kind='unipc' or 'euler'."
        )
    return cls


def load_scheduler(source: str | Path | dict, kind: str = "auto", shift: float | None = None):
    """The sampling scheduler from the release's ``scheduler/`` config.

    kind: "auto" builds the class the config names (what the release does); "unipc" the flow-UniPC solver;
    "euler" ``FlowMatchEulerDiscreteScheduler``, both keeping the config's shift and train steps; "distill" the
    step-distilled sampler of distill LoRAs (flow Euler on 1 - i/N, shift 5 unless given; run it with CFG 1).
    shift: overrides the config's flow shift (e.g. 3.0 for 480p).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    if kind not in KINDS:
        raise InputError(f"unknown scheduler kind {kind!r}; use one of {', '.join(KINDS)}")
    config = _config_from(source)
    name = config.get("_class_name")
    if not name:
        raise CheckpointError("the scheduler config has no '_class_name'; it is not a diffusers scheduler config.")
    if kind == "distill" and shift is None:
        shift = DISTILL_SHIFT
    flow_shift = float(shift) if shift is not None else _config_shift(config)
    train_steps = int(config.get("num_train_timesteps", 1000))

    if kind == "auto":
        cls = _scheduler_class(name)
        if "flow_shift" in config or cls is UniPCMultistepScheduler:
            config["flow_shift"] = flow_shift
        elif "shift" in config or cls is FlowMatchEulerDiscreteScheduler:
            config["shift"] = flow_shift
        scheduler = cls.from_config(config)
    elif kind == "unipc":
        base = config if name == "UniPCMultistepScheduler" else {**WAN21_I2V_SCHEDULER_CONFIG}
        scheduler = UniPCMultistepScheduler.from_config(
            {**base, "num_train_timesteps": train_steps, "flow_shift": flow_shift}
        )
    else:
        base = config if name == "FlowMatchEulerDiscreteScheduler" else {}
        cls = _distill_class() if kind == "distill" else FlowMatchEulerDiscreteScheduler
        scheduler = cls.from_config({**base, "num_train_timesteps": train_steps, "shift": flow_shift})

    if isinstance(scheduler, UniPCMultistepScheduler) and not (
        scheduler.config.use_flow_sigmas and scheduler.config.prediction_type == "flow_prediction"
    ):
        raise CheckpointError(
            "the scheduler config is a UniPC solver without flow matching (use_flow_sigmas / flow_prediction), "
            "which cannot drive the Wan flow-matching DiT. Use the release's 'scheduler/' folder."
        )
    return scheduler


def scheduler_shift(scheduler) -> float:
    """The flow shift a scheduler object uses."""
    return _config_shift(dict(scheduler.config))


def _is_flow_unipc(scheduler) -> bool:
    from diffusers import UniPCMultistepScheduler

    return isinstance(scheduler, UniPCMultistepScheduler) and bool(scheduler.config.use_flow_sigmas)


def set_release_timesteps(scheduler, num_steps: int, device: torch.device | str | None = None) -> None:
    """``scheduler.set_timesteps(num_steps)`` with the release's sigma grid on every diffusers version.

    Flow-UniPC: diffusers <= 0.36 computes the release grid itself; from 0.37 on the default grid starts at
    sigma 1 - 1e-6, so the release's unshifted grid is passed as ``sigmas`` (diffusers applies the shift).
    FlowMatchEuler gets the same grid, so both kinds visit the same noise levels and DiT timesteps.
    Any other class is set as the release would: ``set_timesteps(num_steps)``.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler

    if num_steps < 1:
        raise InputError(f"the number of steps must be at least 1, got {num_steps}")
    if is_distill_scheduler(scheduler):
        scheduler.set_timesteps(
            num_steps, device=device, sigmas=distill_sigma_grid(num_steps).astype(np.float32).tolist()
        )
        return
    train_steps = int(scheduler.config.num_train_timesteps)
    grid = release_sigma_grid(num_steps, train_steps)
    takes_sigmas = "sigmas" in inspect.signature(scheduler.set_timesteps).parameters
    if _is_flow_unipc(scheduler):
        if takes_sigmas:
            # an array, not a list: diffusers 0.42 applies the shift to it with numpy operators
            scheduler.set_timesteps(num_steps, device=device, sigmas=grid)
        else:
            scheduler.set_timesteps(num_steps, device=device)
        expected = flow_unipc_sigmas(num_steps, scheduler_shift(scheduler), train_steps)
        if scheduler.config.final_sigmas_type == "sigma_min":
            expected[-1] = expected[-2]
        if not np.allclose(scheduler.sigmas.double().cpu().numpy(), expected, atol=1e-6, rtol=0):
            raise RuntimeError(
                "this diffusers version computes a flow-UniPC schedule different from the release's "
                f"(first sigmas {scheduler.sigmas[:3].tolist()} vs {expected[:3].tolist()}); please report it"
            )
    elif isinstance(scheduler, FlowMatchEulerDiscreteScheduler) and not scheduler.config.use_dynamic_shifting:
        scheduler.set_timesteps(num_steps, device=device, sigmas=grid.astype(np.float32).tolist())
    else:
        scheduler.set_timesteps(num_steps, device=device)


def model_timestep(scheduler, t: torch.Tensor | float | int, batch_size: int | None = None) -> torch.Tensor:
    """The timestep the DiT receives for the scheduler timestep ``t``: int64(1000 * sigma), TRUNCATED.

    What ``scheduler.timesteps`` holds:
    - flow-UniPC: ``int64(num_train_timesteps * sigma)`` already; diffusers computes T * sigma in float64 and the
      int64 cast truncates (sigma 0.62469 -> 624), so this returns ``t`` unchanged.
    - FlowMatchEuler: the float ``T * sigma`` (624.69); truncating gives the same integer the release's DiT sees.

    Pass ``t`` itself, not this value, to ``scheduler.step``: the scheduler finds its step by comparing with its
    own timesteps, and its update uses its float sigmas, never this integer. The DiT's sinusoidal time embedding
    works on the 0..1000 scale, so schedulers trained with another T are rescaled first. With ``batch_size`` the
    result is expanded to (batch_size,), as the release passes it.
    """
    t = torch.as_tensor(t)
    train_steps = int(scheduler.config.num_train_timesteps)
    if train_steps != 1000:
        t = t.double() * (1000.0 / train_steps)
    t = release_timestep(t).to(torch.int64)
    if batch_size is None or t.numel() == batch_size and t.ndim == 1:
        return t
    if t.numel() != 1:
        raise InputError(f"cannot expand {t.numel()} timesteps to a batch of {batch_size}")
    return t.reshape(1).expand(batch_size)
