"""How a component trains: ``frozen``, ``lora`` (peft adapters on named sub-modules) or ``trainable``.

Encoders and LLM plugins share this so that every component offers the same three modes. For encoders
the core applies it (:func:`apply_encoder_mode`, called by the registry after every encoder build), from
the slot's ``mode`` and ``lora`` keys, so that no encoder plugin freezes or adapts itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .lora import LoraSettings

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

MODES = ("frozen", "lora", "trainable")
#: The slot keys of every encoder that the core owns (a config may declare them too, to read them).
ENCODER_MODE_KEYS = ("mode", "lora")
#: Set on a module frozen by :func:`apply_encoder_mode`; ``AudioLLM.train()`` keeps such modules in eval.
KEEP_EVAL_ATTR = "_usam_keep_eval"


@dataclass(frozen=True)
class EncoderMode:
    """An encoder slot's training mode: ``mode`` (default ``frozen``) and its LoRA settings."""

    mode: str = "frozen"
    lora: LoraSettings | None = None


def encoder_mode(values: Mapping[str, Any], where: str) -> EncoderMode:
    """Validate an encoder slot's ``mode`` and ``lora`` (either may be absent).

    Args:
        values: the slot's ``mode`` / ``lora`` values (``lora`` a mapping or :class:`LoraSettings`).
        where: the slot's recipe key, e.g. ``encoders[1]``.

    Raises:
        ConfigError: naming ``<where>.mode`` or ``<where>.lora`` and what is valid.
    """
    mode = values.get("mode")
    mode = "frozen" if mode is None else mode
    if mode not in MODES:
        raise ConfigError(f"{where}.mode: '{mode}' is not valid; choose one of {', '.join(MODES)}")
    lora = values.get("lora")
    if lora is None or isinstance(lora, LoraSettings):
        return EncoderMode(str(mode), lora)
    if not isinstance(lora, Mapping):
        raise ConfigError(f"{where}.lora: expected a mapping of LoRA settings, got {type(lora).__name__}")
    valid = [f.name for f in dataclasses.fields(LoraSettings)]
    unknown = [str(k) for k in lora if k not in valid]
    if unknown:
        raise ConfigError(f"{where}.lora: unknown key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(LoraSettings), dict(lora)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{where}.lora: {str(exc).splitlines()[0]}") from None
    return EncoderMode(str(mode), settings)  # type: ignore[arg-type]


def apply_encoder_mode(encoder: nn.Module, settings: EncoderMode, where: str) -> nn.Module:
    """Apply an encoder slot's mode to the built encoder, in place; returns the encoder.

    The mode applies to ``encoder.mode_target`` when the encoder defines it (the sub-module holding the
    pretrained weights, e.g. MERT's backbone, whose learnt layer weights then train even when frozen),
    else to the whole encoder. ``frozen``: no parameter requires grad, and the target is put in eval mode
    and kept there by ``AudioLLM.train()`` (dropout and batch statistics never touch a frozen encoder);
    ``lora``: adapters on ``settings.lora.target_modules``, only they train; ``trainable``: everything
    trains.
    """
    target = getattr(encoder, "mode_target", None)
    target = encoder if target is None else target
    apply_train_mode(target, settings.mode, settings.lora, where=f"{where}.mode")
    if settings.mode == "frozen":
        target.eval()
        object.__setattr__(target, KEEP_EVAL_ATTR, True)
    return encoder


def apply_train_mode(
    module: nn.Module, mode: str, lora: LoraSettings | None = None, where: str = ""
) -> nn.Module:
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


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable
