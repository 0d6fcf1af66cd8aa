"""Sampling a clip longer than the model's window, in two schemes (issue 14; compared in docs/long-video.md).

- ``average`` (context windows): at every step, each window's guided velocity is computed on its slice of the clip
  and the overlaps are blended (``WindowPlan.weights``); all windows advance together through one schedule.
- ``continue`` (window by window): each window runs the whole schedule on its own noise; from the second on, its
  first frames are the previous window's finished latents, given to the model the way Wan's I2V conditions on known
  frames (mask channels 1, the latents in the condition channels), and the overlaps are blended with the same
  weights.

In both, the whole clip's latents (and the scheduler's history) live on the CPU; the device sees one window's
latents, pose and grey condition at a time, so device memory does not grow with the clip. Progress is saved at
points an interrupted run can resume from exactly (``sampling_progress.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..caching import StepCache
from ..encoders.scheduler import model_timestep, set_release_timesteps
from ..errors import InputError
from .conditions import Conditions
from .sampling_progress import SamplingProgress, restore_scheduler, scheduler_state
from .windows import WindowPlan

SCHEMES = ("average", "continue")
DEFAULT_SCHEME = "average"  # chosen by the seam benchmark (docs/long-video.md)


@dataclass
class WindowRun:
    """What both schemes share: the model and solver, and the hooks of the caller."""

    transformer: torch.nn.Module
    scheduler: object
    guided_velocity: object  # sampling._guided_velocity
    guidance: float
    total_steps: int
    first_step: int
    device: torch.device
    step_cache: StepCache | None = None
    callback: object = None
    on_denoised: object = None
    progress: SamplingProgress | None = None
    fingerprint: str = ""

    def start_schedule(self) -> torch.Tensor:
        """The timesteps to run (a fresh solver: its multistep history is cleared by ``set_timesteps``)."""
        set_release_timesteps(self.scheduler, self.total_steps, device="cpu")
        if self.first_step:
            self.scheduler.set_begin_index(self.first_step)
        return self.scheduler.timesteps[self.first_step :]

    def noised(self, noise: torch.Tensor, init: torch.Tensor | None) -> torch.Tensor:
        if init is None:
            return noise
        sigma = float(self.scheduler.sigmas[self.first_step])
        return sigma * noise + (1.0 - sigma) * init

    def model_t(self, t) -> torch.Tensor:
        return model_timestep(self.scheduler, t, batch_size=1).to(self.device)

    def window_velocity(self, latents, model_t, conditions: Conditions, frames: range, index: int, known=None):
        """The guided velocity of ``latents``, the clip's latent frames ``frames``, on the CPU in float32."""
        window = conditions.for_window(frames, known).to(self.device)
        with torch.no_grad():
            velocity = self.guided_velocity(
                self.transformer,
                latents.to(self.device),
                model_t,
                window,
                self.guidance,
                self.step_cache,
                index,
                frames,
            )
        return velocity.float().cpu()

    def report(self, index: int, total: int, latents: torch.Tensor, velocity: torch.Tensor, step: int) -> None:
        if self.on_denoised is not None:
            sigma = float(self.scheduler.sigmas[step])
            self.on_denoised(index, total, latents - sigma * velocity)


def _blend_weights(plan: WindowPlan) -> list[torch.Tensor]:
    """Each window's blend weights over its own frames, shaped to multiply a (B, C, T, h, w) slice."""
    weights = plan.weights().to(torch.float32)
    return [weights[number, frames.start : frames.stop].view(1, 1, -1, 1, 1) for number, frames in
            enumerate(plan.windows())]  # fmt: skip


def sample_averaged(run: WindowRun, conditions, plan: WindowPlan, noise, init=None) -> torch.Tensor:
    windows = plan.windows()
    weights = _blend_weights(plan)
    timesteps = run.start_schedule()
    latents = run.noised(noise, init)
    start = 0
    saved = run.progress.resume(run.fingerprint) if run.progress is not None else None
    if saved is not None and saved.get("scheme") == "average":
        restore_scheduler(run.scheduler, saved["scheduler"])
        latents, start = saved["latents"], int(saved["step"])
        run.progress.say(f"resuming at step {start + 1} of {len(timesteps)} (saved by an interrupted run)")
    for index in range(start, len(timesteps)):
        t = timesteps[index]
        model_t = run.model_t(t)
        velocity = torch.zeros_like(latents)
        for frames, weight in zip(windows, weights, strict=True):
            span = slice(frames.start, frames.stop)
            window = run.window_velocity(latents[:, :, span], model_t, conditions, frames, index)
            velocity[:, :, span] += window * weight
        run.report(index, len(timesteps), latents, velocity, run.first_step + index)
        latents = run.scheduler.step(velocity, t, latents, return_dict=False)[0]
        if run.progress is not None and index + 1 < len(timesteps) and run.progress.due():
            state = {"scheme": "average", "step": index + 1, "latents": latents,
                     "scheduler": scheduler_state(run.scheduler)}  # fmt: skip
            run.progress.save(run.fingerprint, state)
        if run.callback is not None:
            run.callback(index, len(timesteps), latents)
    return latents


def sample_continued(run: WindowRun, conditions, plan: WindowPlan, noise, init=None) -> torch.Tensor:
    if conditions.image_condition is None:
        raise InputError(
            "window-by-window continuation conditions each window on the previous one through the I2V condition "
            "channels, which this text-to-video model has not; use the averaged windows (window scheme 'average')"
        )
    windows = plan.windows()
    weights = _blend_weights(plan)
    result = torch.zeros_like(noise)  # finished windows, blended
    previous = None  # the last finished window's own latents (the next one's known frames)
    done = 0
    saved = run.progress.resume(run.fingerprint) if run.progress is not None else None
    if saved is not None and saved.get("scheme") == "continue":
        result, previous, done = saved["result"], saved["previous"], int(saved["windows_done"])
        run.progress.say(f"resuming at window {done + 1} of {len(windows)} (saved by an interrupted run)")
    for number in range(done, len(windows)):
        frames = windows[number]
        span = slice(frames.start, frames.stop)
        known = None
        if number:
            before = windows[number - 1]
            known = previous[:, :, frames.start - before.start :]  # the frames both windows hold
        timesteps = run.start_schedule()
        steps = len(timesteps)
        latents = run.noised(noise[:, :, span], None if init is None else init[:, :, span])
        for index, t in enumerate(timesteps):
            model_t = run.model_t(t)
            velocity = run.window_velocity(latents, model_t, conditions, frames, index, known)
            run.report(number * steps + index, len(windows) * steps, latents, velocity, run.first_step + index)
            latents = run.scheduler.step(velocity, t, latents, return_dict=False)[0]
            if run.callback is not None:
                run.callback(number * steps + index, len(windows) * steps, latents)
        result[:, :, span] += latents * weights[number]
        previous = latents
        if run.progress is not None and number + 1 < len(windows):
            state = {"scheme": "continue", "windows_done": number + 1, "result": result, "previous": previous}
            run.progress.save(run.fingerprint, state)
    return result
