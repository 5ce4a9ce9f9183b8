"""``infonce``: symmetric InfoNCE between pooled audio tokens and pooled target-text embeddings."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext, LossInputs, LossOutput
from usam_toolkit.masks import masked_mean

from .common import connected_zero
from .configs import InfoNCEConfig


class InfoNCELoss(nn.Module):
    """``(CE(a·tᵀ/τ, I) + CE(t·aᵀ/τ, I)) / 2`` over the batch, on L2-normalised masked means.

    Args:
        temperature: τ (initial value if learnable).
        learnable_temperature: learn ``log(1/τ)`` (as CLIP does).
    """

    def __init__(self, temperature: float = 0.07, learnable_temperature: bool = False) -> None:
        super().__init__()
        log_scale = torch.tensor(math.log(1.0 / float(temperature)))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self._warned_skip = False

    def forward(self, inputs: LossInputs) -> LossOutput:
        """Symmetric InfoNCE; skipped (zero loss, a warning once) with fewer than two usable samples."""
        llm = inputs.llm
        device = llm.audio_embeds.device
        a_len, t_len = llm.audio_lengths.to(device), llm.text_lengths.to(device)
        usable = (a_len > 0) & (t_len > 0)
        n = int(usable.sum().item())
        if n < 2:
            if not self._warned_skip:
                self._warned_skip = True
                warnings.warn(f"infonce: {n} usable sample(s); needs >= 2, skipped (loss 0)", stacklevel=2)
            return LossOutput(connected_zero(self, llm.audio_embeds), {"skipped": 1.0})
        a = F.normalize(masked_mean(llm.audio_embeds[usable].float(), a_len[usable]), dim=-1)
        t = F.normalize(masked_mean(llm.text_embeds[usable].float(), t_len[usable]), dim=-1)
        logits = self.log_scale.exp() * a @ t.T  # [n, n]
        target = torch.arange(n, device=logits.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        acc = float((logits.argmax(dim=1) == target).float().mean())
        return LossOutput(loss, {"infonce": float(loss.detach()), "retrieval_acc": acc, "skipped": 0.0})


def build_infonce(cfg: InfoNCEConfig, ctx: BuildContext) -> InfoNCELoss:
    """Symmetric InfoNCE between pooled audio tokens and pooled target-text embeddings."""
    if cfg.temperature <= 0:
        raise ConfigError(f"infonce: temperature must be > 0, got {cfg.temperature}")
    return InfoNCELoss(cfg.temperature, cfg.learnable_temperature)


def infonce_example(tmp_dir: Path) -> dict[str, Any]:
    """Tiny as it is: no override."""
    return {}
