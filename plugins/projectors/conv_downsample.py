"""``conv_downsample``: SLAM-LLM-style frame stacking by ``k`` followed by an MLP.

Stacking ``k`` consecutive frames into one ``k·D_in`` vector and applying a Linear layer is a Conv1d
with kernel = stride = ``k``; the MLP after it adds depth. A final partial group is completed with
zero frames, so ``lengths' = ceil(lengths / k)`` and the output rate is ``frame_rate / k``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import zero_padding

from .common import build_mlp, require_input_dim, resolve_output_dim
from .configs import ConvDownsampleConfig


def stack_frames(features: torch.Tensor, lengths: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate every ``k`` consecutive frames along channels.

    Args:
        features: ``[B, T, D]``.
        lengths: ``[B]`` valid frames.
        k: stacking factor.

    Returns:
        ``[B, ceil(T/k), k·D]`` (padding and the tail of a partial group are zeros) and the new
        lengths ``ceil(lengths / k)``.
    """
    b, t, d = features.shape
    x = zero_padding(features, lengths)
    groups = -(-t // k)
    x = nn.functional.pad(x, (0, 0, 0, groups * k - t))
    new_lengths = torch.div(lengths + (k - 1), k, rounding_mode="floor")
    return x.reshape(b, groups, k * d), new_lengths


class ConvDownsampleProjector(nn.Module):
    """Frame stacking by ``k`` then an MLP ``k·D_in -> hidden -> D_out``.

    Args:
        input_dim: D_in.
        k: stacking factor (frames per output token).
        hidden_dim: MLP hidden width.
        output_dim: D_out.
        num_layers: Linear layers of the MLP (1 = a single Linear after stacking).
        activation: activation between MLP layers.
        dropout: dropout after each hidden activation.
    """

    def __init__(
        self,
        input_dim: int,
        k: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.k = k
        self.output_dim = output_dim
        self.net = build_mlp(
            k * input_dim, hidden_dim, output_dim, num_layers, activation, dropout, "conv_downsample"
        )

    def output_frame_rate(self, frame_rate: float) -> float:
        """Frames per second out for ``frame_rate`` in."""
        return float(frame_rate) / self.k

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to ``[B, ceil(T/k), D_out]``."""
        stacked, new_lengths = stack_frames(features, lengths, self.k)
        # Trailing all-padding groups carry nothing; keep T' = max(lengths') as the contract asks.
        stacked = stacked[:, : int(new_lengths.max().item()) if new_lengths.numel() else 0]
        out = zero_padding(self.net(stacked), new_lengths)
        return ProjectorOutput(out, new_lengths, self.output_frame_rate(frame_rate))


def build_conv_downsample(cfg: ConvDownsampleConfig, ctx: BuildContext) -> ConvDownsampleProjector:
    """Frame stacking by k then an MLP; lengths become ceil(len / k)."""
    if cfg.k < 1:
        raise ConfigError(f"conv_downsample: k must be >= 1, got {cfg.k}")
    d_in = require_input_dim(ctx, "conv_downsample")
    d_out = resolve_output_dim(ctx, cfg.output_dim, cfg.hidden_dim, "conv_downsample")
    return ConvDownsampleProjector(
        d_in, cfg.k, cfg.hidden_dim, d_out, cfg.num_layers, cfg.activation, cfg.dropout
    )


def conv_downsample_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny stacking projector."""
    return {"k": 3, "hidden_dim": 8}
