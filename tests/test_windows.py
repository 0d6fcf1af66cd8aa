"""Window plans of long videos: boundaries where documented, every frame covered, blend weights summing to one."""

from __future__ import annotations

import pytest
import torch

from realisdance.errors import InputError
from realisdance.pipeline.windows import WindowPlan, latent_frames_of


@pytest.mark.parametrize("video_frames, latent", [(81, 21), (241, 61), (481, 121), (5, 2), (1, 1)])
def test_latent_frame_counts(video_frames, latent):
    assert latent_frames_of(video_frames) == latent


@pytest.mark.parametrize("latent", [1, 7, 21])
def test_a_clip_of_at_most_one_window_is_one_window(latent):
    plan = WindowPlan(latent)
    assert plan.windows() == [range(0, latent)]
    torch.testing.assert_close(plan.weights(), torch.ones(1, latent, dtype=torch.float64))


@pytest.mark.parametrize("latent, window, overlap", [(61, 21, 5), (121, 21, 5), (22, 21, 5), (40, 8, 0), (33, 9, 8)])
def test_windows_cover_every_frame_with_weights_summing_to_one(latent, window, overlap):
    plan = WindowPlan(latent, window, overlap)
    windows = plan.windows()
    assert all(len(w) == window for w in windows)  # no short window: the last one is moved back to end at the end
    assert windows[0].start == 0 and windows[-1].stop == latent
    starts = plan.starts()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert starts == sorted(set(starts)) and all(gap <= window - overlap for gap in gaps)  # overlaps >= overlap
    assert not gaps or max(gaps) - min(gaps) <= 1  # spread evenly
    covered = torch.zeros(latent, dtype=torch.bool)
    for w in windows:
        covered[w.start : w.stop] = True
    assert covered.all()
    weights = plan.weights()
    torch.testing.assert_close(weights.sum(0), torch.ones(latent, dtype=torch.float64))
    assert (weights >= 0).all()
    for index, w in enumerate(windows):  # zero outside the window
        outside = torch.ones(latent, dtype=torch.bool)
        outside[w.start : w.stop] = False
        assert (weights[index, outside] == 0).all()


def test_documented_boundaries_for_481_frames():
    """121 latent frames, 21-frame windows sharing at least 5: 8 windows, starts 100 / 7 apart, the last at 100."""
    plan = WindowPlan(latent_frames_of(481))
    assert plan.starts() == [0, 14, 29, 43, 57, 71, 86, 100]
    assert "8 windows of 21 latent frames (81 video frames)" in plan.describe()


def test_a_frame_only_one_window_covers_takes_that_window_alone():
    weights = WindowPlan(61, 21, 5).weights()
    assert weights[0, 0] == 1 and weights[-1, -1] == 1
    assert weights[0, 10] == 1  # the middle of the first window: no other window there
    shared = weights[:, 16:21]  # the first overlap: the first window's share falls, the second's rises
    assert (shared[0].diff() < 0).all() and (shared[1].diff() > 0).all()


@pytest.mark.parametrize("args, words", [((0,), "at least one"), ((10, 1), "at least 2"), ((30, 8, 8), "less than")])
def test_impossible_plans_are_refused(args, words):
    with pytest.raises(InputError, match=words):
        WindowPlan(*args)
