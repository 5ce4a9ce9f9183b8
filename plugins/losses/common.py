"""Helpers shared by the loss modules: the "batch too small" fallback.

Masks and masked pooling live in :mod:`usam_toolkit.masks` (``lengths_to_mask``, ``masked_mean``, ...).
"""

from __future__ import annotations

import torch
from torch import nn


def connected_zero(module: nn.Module, like: torch.Tensor) -> torch.Tensor:
    """A scalar 0 that is part of the graph of ``module``'s parameters (or a plain 0 without any).

    Returned when a contrastive term cannot be computed: a zero (never a positive constant) keeps the
    total loss honest, and touching every parameter keeps DistributedDataParallel from waiting for
    gradients that never come.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    zero = torch.zeros((), dtype=torch.float32, device=like.device)
    for p in params:
        zero = zero + 0.0 * p.sum()
    return zero
