"""linear, mlp and conv_downsample: hand-computed outputs, length bookkeeping, dimension resolution."""

from __future__ import annotations

import pytest
import torch
from usam_plugins.projectors.configs import ConvDownsampleConfig, LinearConfig, MLPConfig
from usam_plugins.projectors.conv_downsample import build_conv_downsample, stack_frames
from usam_plugins.projectors.linear import build_linear
from usam_plugins.projectors.mlp import build_mlp_projector

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext

CTX = ProjectorContext()


def test_linear_hand_value_and_padding_zero() -> None:
    proj = build_linear(LinearConfig(), BuildContext(input_dim=2, output_dim=1))
    with torch.no_grad():
        proj.proj.weight.copy_(torch.tensor([[2.0, -1.0]]))
        proj.proj.bias.fill_(0.5)
    x = torch.tensor([[[1.0, 1.0], [3.0, 2.0], [float("nan"), 9.0]]])
    out = proj(x, torch.tensor([2]), 50.0, CTX)
    assert out.features[0, :, 0].tolist() == [1.5, 4.5, 0.0]  # 2-1+.5, 6-2+.5, padding -> 0
    assert out.lengths.tolist() == [2] and out.frame_rate == 50.0


def test_linear_width_defaults_to_input_when_not_last() -> None:
    assert build_linear(LinearConfig(), BuildContext(input_dim=7)).output_dim == 7
    assert build_linear(LinearConfig(output_dim=5), BuildContext(input_dim=7)).output_dim == 5


def test_forced_width_contradicting_the_chain_is_an_error() -> None:
    with pytest.raises(ConfigError, match="output_dim=5 but the chain needs 9"):
        build_linear(LinearConfig(output_dim=5), BuildContext(input_dim=7, output_dim=9))


def test_mlp_layers_and_hand_value() -> None:
    proj = build_mlp_projector(
        MLPConfig(hidden_dim=2, num_layers=2, activation="relu"), BuildContext(input_dim=2, output_dim=1)
    )
    linears = [m for m in proj.net if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(2, 2), (1, 2)]
    with torch.no_grad():
        linears[0].weight.copy_(torch.eye(2))
        linears[0].bias.zero_()
        linears[1].weight.copy_(torch.tensor([[1.0, 10.0]]))
        linears[1].bias.zero_()
    out = proj(torch.tensor([[[1.0, -2.0], [3.0, 4.0]]]), torch.tensor([2]), 25.0, CTX)
    assert out.features[0, :, 0].tolist() == [1.0, 43.0]  # relu(-2)=0; 3 + 40


def test_stack_frames_groups_and_lengths() -> None:
    x = torch.arange(1.0, 6.0).view(1, 5, 1).repeat(2, 1, 1)
    stacked, lengths = stack_frames(x, torch.tensor([5, 3]), 2)
    assert lengths.tolist() == [3, 2]  # ceil(5/2), ceil(3/2)
    assert stacked[0].tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]]
    assert stacked[1].tolist() == [[1.0, 2.0], [3.0, 0.0], [0.0, 0.0]]  # frames 4, 5 are padding


def test_conv_downsample_hand_value_rate_and_trim() -> None:
    proj = build_conv_downsample(
        ConvDownsampleConfig(k=2, num_layers=1), BuildContext(input_dim=1, output_dim=1)
    )
    with torch.no_grad():
        proj.net[0].weight.copy_(torch.tensor([[1.0, 10.0]]))
        proj.net[0].bias.zero_()
    x = torch.arange(1.0, 7.0).view(1, 6, 1)
    out = proj(x, torch.tensor([5]), 50.0, CTX)
    assert out.features[0, :, 0].tolist() == [21.0, 43.0, 5.0]
    assert out.lengths.tolist() == [3] and out.frame_rate == 25.0
    short = proj(x, torch.tensor([3]), 50.0, CTX)
    assert short.features.shape[1] == 2 and short.features[0, :, 0].tolist() == [21.0, 3.0]
