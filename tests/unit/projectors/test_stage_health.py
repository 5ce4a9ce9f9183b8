"""Projector-health figures (usam_toolkit.model.health) on tiny tensors worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from usam_toolkit.model.health import health_logs, split_log_key, stage_health


def _batch(clips: list[list[tuple[float, float]]], t: int, pad: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, t, 2]`` holding each clip's tokens, the rest filled with ``pad``; and the lengths."""
    x = torch.full((len(clips), t, 2), pad)
    for b, tokens in enumerate(clips):
        if tokens:
            x[b, : len(tokens)] = torch.tensor(tokens)
    return x, torch.tensor([len(c) for c in clips])


TWO_CONSTANT_CLIPS = [[(3.0, 4.0)] * 2, [(4.0, 3.0)] * 3]


@pytest.mark.parametrize("pad", [0.0, 1e6, float("nan"), float("inf")])
def test_two_clips_of_constant_tokens(pad):
    """clip 0: (3, 4) twice; clip 1: (4, 3) three times.

    rms: every token has |x|^2 = 25, so RMS = sqrt(25 / 2) (per entry); with text_rms = 2.5 the ratio
    is sqrt(12.5) / 2.5 = sqrt(2).  between: means (3, 4) and (4, 3), their mean (3.5, 3.5); spread
    0.25 * 4 = 1, size 25 + 25 = 50: sqrt(1 / 50).  within: constant tokens, 0.
    """
    x, lens = _batch(TWO_CONSTANT_CLIPS, t=4, pad=pad)
    h = stage_health(x, lens, text_rms=2.5)
    assert h["rms_ratio"] == pytest.approx(math.sqrt(2.0))
    assert h["between_clip"] == pytest.approx(math.sqrt(1 / 50))
    assert h["within_clip"] == pytest.approx(0.0, abs=1e-7)


IDENTICAL_CLIPS = [[(1.0, 1.0), (3.0, 1.0)], [(1.0, 1.0), (3.0, 1.0)] * 2]


@pytest.mark.parametrize("pad", [0.0, 1e6, float("nan")])
def test_identical_clips_have_no_between_clip_spread(pad):
    """Both clips alternate (1, 1) and (3, 1) (2 and 4 tokens): same mean (2, 1).

    between: 0.  within: deviations (-1, 0) and (1, 0), so sum |x - m|^2 / sum |x|^2 = 2 / 12 in each
    clip (4 / 24 in the longer one): sqrt(1/6).  rms: (12 + 24) / (6 tokens * 2) = 3, so with
    text_rms = sqrt(3) the ratio is 1.
    """
    x, lens = _batch(IDENTICAL_CLIPS, t=6, pad=pad)
    h = stage_health(x, lens, text_rms=math.sqrt(3.0))
    assert h["between_clip"] == pytest.approx(0.0, abs=1e-7)
    assert h["within_clip"] == pytest.approx(math.sqrt(1 / 6))
    assert h["rms_ratio"] == pytest.approx(1.0)


def test_within_clip_is_the_mean_over_clips_of_two_tokens_or_more():
    """clip 0: (1, 1), (3, 1) -> sqrt(1/6); clip 1: (2, 0), (-2, 0) -> mean 0, so 1; clip 2: one token,
    left out. within = (sqrt(1/6) + 1) / 2."""
    x, lens = _batch([[(1.0, 1.0), (3.0, 1.0)], [(2.0, 0.0), (-2.0, 0.0)], [(5.0, 5.0)]], t=2, pad=7.0)
    assert stage_health(x, lens, 1.0)["within_clip"] == pytest.approx((math.sqrt(1 / 6) + 1) / 2)


def test_empty_clips_are_ignored_and_undefined_figures_are_nan():
    x, lens = _batch(TWO_CONSTANT_CLIPS + [[]], t=4, pad=float("nan"))
    h = stage_health(x, lens, 2.5)
    assert h["between_clip"] == pytest.approx(math.sqrt(1 / 50))  # the empty clip is no third mean
    assert h["rms_ratio"] == pytest.approx(math.sqrt(2.0))

    one = stage_health(torch.tensor([[[1.0, 2.0]]]), torch.tensor([1]), None)
    assert math.isnan(one["between_clip"])  # one clip: no spread between clips to measure
    assert math.isnan(one["within_clip"])  # one token: no spread within a clip
    assert math.isnan(one["rms_ratio"])  # no text scale given

    none = stage_health(torch.zeros(2, 3, 2), torch.tensor([0, 0]), 1.0)
    assert all(math.isnan(v) for v in none.values())


def test_half_precision_input():
    x, lens = _batch(TWO_CONSTANT_CLIPS, t=4, pad=0.0)
    h = stage_health(x.to(torch.bfloat16), lens, 2.5)
    assert h["between_clip"] == pytest.approx(math.sqrt(1 / 50), rel=1e-3)


def test_health_logs_flat_keys_per_stage():
    x, lens = _batch(TWO_CONSTANT_CLIPS, t=4, pad=1e6)
    y, ylens = _batch(IDENTICAL_CLIPS, t=6, pad=0.0)
    extras = {
        "stage/fusion": x,
        "stage_len/fusion": lens,
        "routing_weights": torch.rand(2, 3),
        "task_ids": torch.tensor([0, 1]),
        "stage/projectors[1]:tapm": y,
        "stage_len/projectors[1]:tapm": ylens,
    }
    logs = health_logs(extras, text_rms=2.5)
    assert list(logs) == [
        "health/fusion/rms_ratio",
        "health/fusion/between_clip",
        "health/fusion/within_clip",
        "health/projectors[1]:tapm/rms_ratio",
        "health/projectors[1]:tapm/between_clip",
        "health/projectors[1]:tapm/within_clip",
    ]
    assert logs["health/fusion/between_clip"] == pytest.approx(math.sqrt(1 / 50))
    assert logs["health/projectors[1]:tapm/within_clip"] == pytest.approx(math.sqrt(1 / 6))
    assert split_log_key("health/projectors[1]:tapm/rms_ratio") == ("projectors[1]:tapm", "rms_ratio")
    assert split_log_key("loss/cross_entropy") is None

    # undefined figures are left out, never logged as NaN
    single = health_logs(
        {"stage/audio_norm": torch.ones(1, 1, 4), "stage_len/audio_norm": torch.tensor([1])}, None
    )
    assert single == {}
    assert health_logs({"routing_weights": torch.rand(2, 3)}, 1.0) == {}
