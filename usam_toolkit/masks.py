"""Length masks and masked reductions over time, written once for the core and every plugin.

A batch of variable-length sequences is a padded tensor plus ``lengths`` ``[B]``: sample ``b`` is valid at
time index ``t < lengths[b]`` and padding after. Padding may hold anything (zeros, junk, NaN, inf): the
reductions here select with ``torch.where``, never multiply by a 0/1 mask, so padding never reaches a result.

Every reduction takes ``valid``: either ``[B]`` lengths or a ``[B, T]`` bool mask (True on valid
positions) already built with :func:`lengths_to_mask` or derived from one. The batch is axis 0 of ``x`` and
time is axis ``dim``; the mask is moved to ``x``'s device.

This module imports only torch, so that anything (core or plugin) may import it without a cycle.
"""

from __future__ import annotations

import torch

__all__ = [
    "lengths_to_mask",
    "masked_mean",
    "masked_sum",
    "padding_mask",
    "valid_count",
    "zero_padding",
]


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, T]`` bool mask, True on valid positions (``t < lengths[b]``).

    Args:
        lengths: ``[B]`` counts, any integer dtype (a floating tensor is truncated toward zero, like
            ``.long()``); may exceed ``max_len`` (the whole row is then valid) or be 0.
        max_len: ``T``; None means ``lengths.max()`` (0 for an empty batch).

    Returns:
        the mask on ``lengths``' device.
    """
    lengths = lengths.to(torch.long)
    t = int(lengths.max().item()) if max_len is None and lengths.numel() else int(max_len or 0)
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``[B, T]`` bool, True on PADDED positions (the convention of ``key_padding_mask``)."""
    return ~lengths_to_mask(lengths, max_len)


def _time_mask(x: torch.Tensor, valid: torch.Tensor, dim: int) -> torch.Tensor:
    """``valid`` as a bool mask shaped to broadcast against ``x`` (batch on axis 0, time on axis ``dim``)."""
    dim = dim % x.dim()
    if dim == 0:
        raise ValueError("masks: the time axis cannot be axis 0 (the batch)")
    if valid.dim() == 1:
        mask = lengths_to_mask(valid.to(x.device), x.shape[dim])
    elif valid.dim() == 2 and valid.dtype == torch.bool:
        mask = valid.to(x.device)
    else:
        raise ValueError(
            f"masks: valid must be [B] lengths or a [B, T] bool mask, got {valid.dtype} {tuple(valid.shape)}"
        )
    if mask.shape != (x.shape[0], x.shape[dim]):
        raise ValueError(
            f"masks: mask {tuple(mask.shape)} does not fit x {tuple(x.shape)} with time on axis {dim}"
        )
    shape = [1] * x.dim()
    shape[0], shape[dim] = mask.shape
    return mask.reshape(shape)


def zero_padding(x: torch.Tensor, valid: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``x`` with its padding set to zero (NaN and inf included); valid positions are returned unchanged.

    Args:
        x: ``[B, ..., T, ...]`` with time on axis ``dim`` (``[B, T, D]`` by default).
        valid: ``[B]`` lengths or a ``[B, T]`` bool mask.
        dim: the time axis of ``x``.
    """
    mask = _time_mask(x, valid, dim)
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


def masked_sum(x: torch.Tensor, valid: torch.Tensor, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """Sum of ``x`` over the valid positions of its time axis ``dim`` (``[B, T, D]`` -> ``[B, D]``)."""
    return zero_padding(x, valid, dim).sum(dim=dim, keepdim=keepdim)


def valid_count(x: torch.Tensor, valid: torch.Tensor, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """Valid positions per sample (int64), shaped to broadcast against :func:`masked_sum`'s result."""
    return _time_mask(x, valid, dim).sum(dim=dim, keepdim=keepdim)


def masked_mean(x: torch.Tensor, valid: torch.Tensor, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """Mean of ``x`` over the valid positions of its time axis ``dim`` (``[B, T, D]`` -> ``[B, D]``).

    A sample without valid positions gives zeros. The count is exact (integer) and converted to ``x``'s
    dtype once, so the result is the sum divided by the count in ``x``'s dtype.
    """
    mask = _time_mask(x, valid, dim)
    total = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(
        dim=dim, keepdim=keepdim
    )
    count = mask.sum(dim=dim, keepdim=keepdim).clamp_min(1).to(x.dtype)
    return total / count
