"""A wrong encoder output is refused at the encoder, naming slot, plugin, distribution and the axis."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import EncoderOutput
from usam_toolkit.model.audio_llm import AudioLLM, ComponentInfo

_INFO = ComponentInfo("encoders[0]", "encoders", "my_enc", "usam_my_enc", "usam-my-enc", "0.1.0")
_MODEL = SimpleNamespace(components=[_INFO])
_ENC = SimpleNamespace(output_dim=8)


def _check(features: torch.Tensor, lengths: torch.Tensor) -> None:
    out = EncoderOutput(features=features, lengths=lengths, frame_rate=50.0)
    AudioLLM._check_encoder_output(_MODEL, 0, _ENC, out, 2)


def test_a_good_output_passes() -> None:
    _check(torch.zeros(2, 5, 8), torch.tensor([5, 3]))


@pytest.mark.parametrize(
    ("features", "lengths", "message"),
    [
        (torch.zeros(2, 5, 161), torch.tensor([5, 3]), r"axis 2 \(feature\) is 161, its output_dim says 8"),
        (torch.zeros(3, 5, 8), torch.tensor([5, 3]), r"axis 0 \(batch\) is 3, the batch has 2 clips"),
        (torch.zeros(2, 8), torch.tensor([5, 3]), r"features must be \[B, T, D\], got \[2, 8\]"),
        (torch.zeros(2, 5, 8), torch.tensor([9, 3]), r"lengths reach 9 but axis 1 \(time\) has 5 frames"),
        (torch.zeros(2, 5, 8), torch.tensor([5]), r"lengths must be \[B\] = \[2\], got \[1\]"),
    ],
)
def test_a_bad_output_names_slot_plugin_distribution_and_axis(features, lengths, message) -> None:
    with pytest.raises(
        ConfigError, match=r"^encoders\[0\] \('my_enc' from usam-my-enc 0\.1\.0\): .*" + message
    ):
        _check(features, lengths)
