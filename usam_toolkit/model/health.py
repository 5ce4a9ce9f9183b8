"""Projector health: can the LLM tell one clip from another by the audio tokens it is handed?

Three figures per stage of the audio path (the fused encoder output, each projector of the chain, and
``audio_norm`` when the recipe has one), computed by :func:`stage_health` over the *valid* tokens only
(padding never counts, whatever it holds). Notation, for one stage's batch: clip ``b`` has ``L_b`` valid
tokens ``x_{b,t}`` of width ``D``; ``B'`` is the number of clips with ``L_b >= 1``; the RMS of a set of
vectors is ``sqrt(sum of their squared entries / (number of vectors * D))``.

``rms_ratio``
    RMS of all valid tokens of the batch (each token counts once) divided by ``text_rms``, the RMS of
    the LLM's input-embedding matrix (``llm.embedding_rms()``)::

        rms_ratio = sqrt( sum_b sum_{t<L_b} |x_{b,t}|^2 / (D * sum_b L_b) ) / text_rms

    Near 1: the audio tokens live on the scale of the text embeddings the LLM reads beside them.
    Only the last stage is what the LLM reads; for the fusion stage and the inner projectors (other
    widths, other spaces) the ratio just tells their scale in the same unit.

``between_clip``
    How much the clips' mean tokens differ, relative to their size. With the clip mean
    ``m_b = (1/L_b) sum_t x_{b,t}`` and the batch mean of clip means ``m = (1/B') sum_b m_b``::

        between_clip = sqrt( sum_b |m_b - m|^2 ) / sqrt( sum_b |m_b|^2 )

    (the ``1/(B' D)`` of both RMS cancel). It lies in [0, 1]: 0 when every clip gives the same mean token
    (the projector cannot listen), 1 when the clip means average to zero. NaN when ``B' < 2`` or every
    clip mean is zero.

``within_clip``
    How much the tokens of one clip differ from each other, relative to their size, averaged over the
    clips with ``L_b >= 2`` (and a non-zero token)::

        w_b = sqrt( sum_t |x_{b,t} - m_b|^2 ) / sqrt( sum_t |x_{b,t}|^2 )
        within_clip = mean_b w_b

    In [0, 1]: 0 when every token of a clip is the same (one token repeated: no timing left), NaN when no
    clip qualifies.

:func:`health_logs` turns the ``stage/<label>`` / ``stage_len/<label>`` tensors that
:meth:`usam_toolkit.model.audio_llm.AudioLLM.project` records in its extras into flat log keys
``health/<label>/<figure>`` (e.g. ``health/projectors[1]:tapm/between_clip``), all three figures for
every stage, fusion included. The trainer logs them every ``train.log_every`` steps; ``usam health``
prints them for a recipe at initialisation (docs/training.md, "Projector health").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ..masks import lengths_to_mask, masked_mean, zero_padding

#: The figures of :func:`stage_health`, in display order.
FIGURES = ("rms_ratio", "between_clip", "within_clip")
STAGE_PREFIX = "stage/"
LENGTH_PREFIX = "stage_len/"
LOG_PREFIX = "health/"


@torch.no_grad()
def stage_health(features: torch.Tensor, lengths: torch.Tensor, text_rms: float | None) -> dict[str, float]:
    """``rms_ratio``, ``between_clip`` and ``within_clip`` of one stage's tokens (formulas in the module doc).

    Args:
        features: ``[B, T, D]`` tokens; positions ``t >= lengths[b]`` are padding and are never read.
        lengths: ``[B]`` valid tokens per clip (values above ``T`` count as ``T``).
        text_rms: RMS of the LLM's input embeddings; ``rms_ratio`` is NaN when None or not positive.

    Returns:
        The three figures as floats; NaN where a figure is undefined (no valid token, fewer than two
        clips for ``between_clip``, no clip of two tokens for ``within_clip``).
    """
    nan = float("nan")
    if features.dim() != 3:
        raise ValueError(f"stage_health: features must be [B, T, D], got shape {tuple(features.shape)}")
    b, t, d = features.shape
    lens = lengths.detach().to(device=features.device, dtype=torch.long).clamp(0, t)
    valid = lengths_to_mask(lens, t)  # [B, T]
    # zero_padding selects, never multiplies: padding may hold NaN or inf and must not leak into any sum.
    x = zero_padding(features.detach().float(), valid)
    n_tok = lens.sum()
    if b == 0 or d == 0 or int(n_tok) == 0:
        return {"rms_ratio": nan, "between_clip": nan, "within_clip": nan}

    sq = x.pow(2).sum(dim=(1, 2))  # [B] sum of squares per clip
    rms = float((sq.sum() / (n_tok * d)).sqrt())
    rms_ratio = rms / float(text_rms) if text_rms is not None and float(text_rms) > 0 else nan

    has = lens > 0
    mean = masked_mean(x, valid)  # [B, D] clip mean tokens
    means = mean[has]
    between = nan
    if means.shape[0] >= 2:
        spread = (means - means.mean(dim=0, keepdim=True)).pow(2).sum()
        size = means.pow(2).sum()
        if float(size) > 0:
            between = float((spread / size).sqrt())

    dev = zero_padding(x - mean[:, None, :], valid)
    dev_sq = dev.pow(2).sum(dim=(1, 2))  # [B]
    ok = (lens >= 2) & (sq > 0)
    within = float((dev_sq[ok] / sq[ok]).sqrt().mean()) if bool(ok.any()) else nan
    return {"rms_ratio": rms_ratio, "between_clip": between, "within_clip": within}


def stage_tensors(extras: Mapping[str, Any]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(label, features, lengths)`` of every ``stage/<label>`` in ``extras``, in the order recorded."""
    out = []
    for key, value in extras.items():
        if not key.startswith(STAGE_PREFIX) or not isinstance(value, torch.Tensor):
            continue
        label = key[len(STAGE_PREFIX) :]
        lens = extras.get(LENGTH_PREFIX + label)
        if lens is None:
            lens = torch.full((value.shape[0],), value.shape[1], dtype=torch.long, device=value.device)
        out.append((label, value, lens))
    return out


def health_logs(extras: Mapping[str, Any], text_rms: float | None) -> dict[str, float]:
    """Flat ``health/<label>/<figure>`` log values of every stage recorded in ``extras``.

    ``extras`` is a :class:`~usam_toolkit.interfaces.StepOutput`'s (or ``ProjectorOutput``'s): it holds
    ``stage/<label>`` ``[B, T, D]`` and ``stage_len/<label>`` ``[B]`` (a missing length means every token
    is valid). Labels are kept as they are (``fusion``, ``projectors[0]:window_qformer``, ``audio_norm``);
    undefined (NaN) figures are left out, so a log never holds a NaN that only means "not measurable".
    An ``extras`` without any stage (a model that records none) gives ``{}``.
    """
    logs: dict[str, float] = {}
    for label, feats, lens in stage_tensors(extras):
        for name, value in stage_health(feats, lens, text_rms).items():
            if not math.isnan(value):
                logs[f"{LOG_PREFIX}{label}/{name}"] = value
    return logs


def split_log_key(key: str) -> tuple[str, str] | None:
    """``health/<label>/<figure>`` -> ``(label, figure)``; None for any other key."""
    if not key.startswith(LOG_PREFIX):
        return None
    label, _, figure = key[len(LOG_PREFIX) :].rpartition("/")
    return (label, figure) if label and figure in FIGURES else None
