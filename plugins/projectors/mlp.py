"""``mlp``: a per-frame MLP; time axis, lengths and frame rate unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.interfaces import BuildContext, ProjectorContext, ProjectorOutput
from usam_toolkit.masks import zero_padding

from .common import build_mlp, require_input_dim, resolve_output_dim
from .configs import MLPConfig


class MLPProjector(nn.Module):
    """A stack of ``num_layers`` Linear layers with ``activation`` between them, frame by frame.

    Args:
        input_dim: D_in.
        hidden_dim: width of the hidden layers.
        output_dim: D_out.
        num_layers: number of Linear layers (1 = a single Linear).
        activation: name from :data:`usam_plugins.projectors.common.ACTIVATIONS`.
        dropout: dropout after each hidden activation.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int = 2,
        activation: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.net = build_mlp(input_dim, hidden_dim, output_dim, num_layers, activation, dropout, "mlp")

    def output_frame_rate(self, frame_rate: float) -> float:
        """Frames per second out for ``frame_rate`` in: unchanged (one output per input frame)."""
        return float(frame_rate)

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, frame_rate: float, context: ProjectorContext
    ) -> ProjectorOutput:
        """Map ``features`` ``[B, T, D_in]`` to ``[B, T, D_out]``."""
        out = zero_padding(self.net(zero_padding(features, lengths)), lengths)
        return ProjectorOutput(out, lengths, float(frame_rate))


def build_mlp_projector(cfg: MLPConfig, ctx: BuildContext) -> MLPProjector:
    """A per-frame MLP (time and lengths unchanged)."""
    d_in = require_input_dim(ctx, "mlp")
    d_out = resolve_output_dim(ctx, cfg.output_dim, cfg.hidden_dim, "mlp")
    return MLPProjector(d_in, cfg.hidden_dim, d_out, cfg.num_layers, cfg.activation, cfg.dropout)


def mlp_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny MLP."""
    return {"hidden_dim": 8}
