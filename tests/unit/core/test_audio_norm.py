"""The audio-token normaliser between the projector chain and the LLM (recipe section ``audio_norm``)."""

from __future__ import annotations

import pytest
import torch

from usam_toolkit.errors import ConfigError
from usam_toolkit.model.audio_norm import AudioTokenNorm, build_audio_norm
from usam_toolkit.model.config import AudioNormConfig


def test_tokens_get_unit_rms_times_the_gain_and_padding_stays_zero() -> None:
    norm = AudioTokenNorm(2, gain=0.5)
    # [1, 3]: mean 2, variance 1 -> LayerNorm [-1, 1] -> x 0.5; [10, 10]: zero variance -> [0, 0].
    x = torch.tensor([[[1.0, 3.0], [10.0, 10.0], [float("nan"), 7.0]]])
    y = norm(x, torch.tensor([2]))
    expected = torch.tensor([[[-0.5, 0.5], [0.0, 0.0], [0.0, 0.0]]])
    assert torch.allclose(y, expected, atol=1e-4)
    assert norm.gain.requires_grad


def test_build_from_the_recipe_section() -> None:
    assert build_audio_norm(AudioNormConfig(), 4, 0.1) is None  # kind: none, the paper's plain hand-over
    norm = build_audio_norm(AudioNormConfig(kind="layer_norm"), 4, 0.125)
    assert isinstance(norm, AudioTokenNorm) and float(norm.gain.detach()) == pytest.approx(0.125)
    with pytest.raises(
        ConfigError, match="audio_norm.kind: 'rms' is not valid; choose one of none, layer_norm"
    ):
        build_audio_norm(AudioNormConfig(kind="rms"), 4, 0.1)
