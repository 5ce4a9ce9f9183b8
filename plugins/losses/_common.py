"""Helpers shared by the loss modules: masked pooling and the "batch too small" fallback."""

from __future__ import annotations

import torch
from torch import nn

from usam_toolkit.interfaces import lengths_to_mask


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B, T]`` bool, True on valid positions."""
    return lengths_to_mask(lengths.to(torch.long), max_len)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` ``[B, T, D]`` over its first ``lengths[b]`` positions -> ``[B, D]`` (zeros if empty)."""
    mask = valid_mask(lengths, x.shape[1])
    total = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim=1)
    return total / mask.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)


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
