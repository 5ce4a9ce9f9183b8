"""How a component trains: ``frozen``, ``lora`` (peft adapters on named sub-modules) or ``trainable``.

Encoders and LLM plugins share this so that every component offers the same three modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from .lora import LoraSettings

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

MODES = ("frozen", "lora", "trainable")


def apply_train_mode(module: "nn.Module", mode: str, lora: LoraSettings | None = None, where: str = "") -> "nn.Module":
    """Set ``requires_grad`` (and inject LoRA adapters) on ``module`` in place.

    Args:
        module: the component's backbone.
        mode: one of :data:`MODES`.
        lora: settings for ``mode == "lora"``.
        where: the recipe key, for error messages.

    Returns:
        The same module (with adapters injected for ``lora``).
    """
    if mode not in MODES:
        raise ConfigError(f"{where}: mode '{mode}' is not valid; choose one of {', '.join(MODES)}")
    if mode == "trainable":
        module.requires_grad_(True)
        return module
    module.requires_grad_(False)
    if mode == "frozen":
        return module
    from peft import LoraConfig, inject_adapter_in_model

    settings = lora or LoraSettings()
    names = {n.rsplit(".", 1)[-1] for n, _ in module.named_modules()}
    missing = [t for t in settings.target_modules if t not in names]
    if missing:
        sample = ", ".join(sorted(n for n in names if n)[:20])
        raise ConfigError(
            f"{where}: LoRA target module(s) {missing} not found in the model; module names include: {sample}"
        )
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
    )
    module = inject_adapter_in_model(config, module)
    for name, p in module.named_parameters():
        p.requires_grad_("lora_" in name)
    return module


def count_parameters(module: "nn.Module") -> tuple[int, int]:
    """``(total, trainable)`` parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable
