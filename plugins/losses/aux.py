"""``aux`` and ``tapm_balance``: the projectors' auxiliary losses, so the recipe can weight them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput

from .configs import AuxConfig, TAPMBalanceConfig


class AuxLossSum(nn.Module):
    """Sum of ``inputs.aux_losses`` entries named in ``names`` (None = all of them).

    A named entry that is missing (e.g. TAPM built with ``balance_loss_weight: 0``) contributes
    nothing; it is warned about once, since a recipe that weights a loss that never appears is likely
    a mistake.
    """

    def __init__(self, names: Sequence[str] | None = None) -> None:
        super().__init__()
        self.names = None if names is None else list(names)
        self._warned: set[str] = set()

    def forward(self, inputs: LossInputs) -> LossOutput:
        """Sum the selected auxiliary losses; logs each of them and the total."""
        available = inputs.aux_losses
        names = sorted(available) if self.names is None else self.names
        total = torch.zeros((), dtype=torch.float32, device=inputs.llm.logits.device)
        logs: dict[str, float] = {}
        for name in names:
            if name not in available:
                if name not in self._warned:
                    self._warned.add(name)
                    warnings.warn(
                        f"aux loss '{name}' is not produced by any projector (available: "
                        f"{', '.join(sorted(available)) or 'none'}); it contributes 0",
                        stacklevel=2,
                    )
                continue
            value = available[name].float()
            total = total + value
            logs[name] = float(value.detach())
        logs["total"] = float(total.detach())
        return LossOutput(total, logs)


def build_aux(cfg: AuxConfig | TAPMBalanceConfig, ctx: BuildContext) -> AuxLossSum:
    """Sum of the named projector auxiliary losses, so the recipe can weight them."""
    return AuxLossSum(None if cfg.names is None else list(cfg.names))


def build_tapm_balance(cfg: TAPMBalanceConfig, ctx: BuildContext) -> AuxLossSum:
    """TAPM's load-balancing loss (aux_losses["tapm_balance"]), so the recipe can weight it."""
    return build_aux(cfg, ctx)


def aux_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny as it is: no override."""
    return {}


def tapm_balance_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny as it is: no override."""
    return {}
