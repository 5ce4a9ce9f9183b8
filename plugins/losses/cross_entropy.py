"""``cross_entropy``: next-token cross-entropy over the target positions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput

from .configs import CrossEntropyConfig

IGNORE_INDEX = -100


def next_token_ce(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of predicting ``labels[:, t+1]`` from ``logits[:, t]``.

    Args:
        logits: ``[B, L, V]``.
        labels: ``[B, L]``, ``-100`` outside the target.
        label_smoothing: as in :func:`torch.nn.functional.cross_entropy`.

    Returns:
        The mean over target tokens (float32) and the number of target tokens. With no target token
        the loss is a zero that is still connected to ``logits``.
    """
    shifted_logits = logits[:, :-1].float()
    shifted_labels = labels[:, 1:].to(torch.long)
    n_tokens = int((shifted_labels != IGNORE_INDEX).sum().item())
    if n_tokens == 0:
        return shifted_logits.sum() * 0.0, 0
    loss = F.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="mean",
        label_smoothing=label_smoothing,
    )
    return loss, n_tokens


class CrossEntropyLoss(nn.Module):
    """Next-token CE over target tokens; logs ``ce``, ``ppl`` (exp of ce) and ``target_tokens``."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, inputs: LossInputs) -> LossOutput:
        """CE over ``inputs.llm.logits`` / ``inputs.llm.labels``."""
        loss, n = next_token_ce(inputs.llm.logits, inputs.llm.labels, self.label_smoothing)
        value = float(loss.detach())
        return LossOutput(loss, {"ce": value, "ppl": math.exp(min(value, 50.0)), "target_tokens": float(n)})


def build_cross_entropy(cfg: CrossEntropyConfig, ctx: BuildContext) -> CrossEntropyLoss:
    """Next-token cross-entropy over the target tokens (mean over tokens); logs perplexity."""
    return CrossEntropyLoss(cfg.label_smoothing)


def cross_entropy_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny as it is: no override."""
    return {}
