"""AdamW on the trainable parameters, the warm-up + linear-decay schedule, precision, and optimizer
state keyed by parameter NAME (portable across single process, DDP and FSDP2, and world sizes).

Precision (``train.precision``: what ``auto`` picks on this machine and the autocast context) is
:mod:`usam_toolkit.precision`, shared with inference; its names are re-exported here. AdamW always
holds float32 state for float32 parameters: autocast never changes the parameters' dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

# Precision lives in usam_toolkit.precision (training and inference share it); re-exported here.
from ..precision import PRECISIONS, Precision, cpu_bf16_support, resolve_precision
from .config import TrainConfig
from .distributed import full_tensor

__all__ = [
    "PRECISIONS",
    "Precision",
    "build_optimizer",
    "build_scheduler",
    "cpu_bf16_support",
    "load_optimizer_state_by_name",
    "optimizer_state_by_name",
    "resolve_precision",
    "warmup_cosine",
    "warmup_linear",
]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the parameters with ``requires_grad`` (one group: the paper decays every weight)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("train: the model has no trainable parameters (every component is frozen)")
    if len(cfg.betas) != 2:
        raise ConfigError(f"train.betas: expected two numbers, got {list(cfg.betas)}")
    return torch.optim.AdamW(
        params,
        lr=cfg.lr,
        betas=(float(cfg.betas[0]), float(cfg.betas[1])),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
    )


def warmup_linear(max_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """LR factor at optimizer step ``s`` (0-based): ``(s+1)/W`` for ``s < W``, then linear to 0 at
    ``max_steps``, with ``W = ceil(warmup_ratio * max_steps)``."""
    import math

    warmup = int(math.ceil(warmup_ratio * max_steps))

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return max(0.0, (max_steps - s) / max(1, max_steps - warmup))

    return factor


def warmup_cosine(max_steps: int, warmup_steps: int, floor: float = 0.0) -> Callable[[int], float]:
    """LR factor at step ``s`` (0-based): ``min(1, (s+1)/W) * (floor + (1-floor) * (1 + cos(pi*t)) / 2)``
    with ``t = min(1, s/max_steps)`` and ``W = warmup_steps``: a linear warm-up times a cosine from 1 down
    to ``floor`` over the whole run (the mini world's encoder and LM pretraining)."""
    import math

    warm = max(1, int(warmup_steps))

    def factor(s: int) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, s / max_steps)))
        return min(1.0, (s + 1) / warm) * (floor + (1 - floor) * cosine)

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR with :func:`warmup_linear` (its state dict holds only numbers)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(cfg.max_steps, cfg.warmup_ratio))


def _param_names(model: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in model.named_parameters()}


def optimizer_state_by_name(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, Any]:
    """The optimizer state dict with parameter names instead of positions, full tensors on CPU.

    A collective under FSDP2 (sharded states are gathered): every rank must call it.
    """
    names = _param_names(model)
    sd = optimizer.state_dict()
    order = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict[str, Any] = {}
    for idx, p in enumerate(order):
        if idx not in sd["state"]:
            continue
        state[names[id(p)]] = {
            k: (full_tensor(v).detach().to("cpu").clone() if torch.is_tensor(v) else v)
            for k, v in sd["state"][idx].items()
        }
    groups = []
    for g, sd_g in zip(optimizer.param_groups, sd["param_groups"]):
        group = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sd_g.items() if k != "params"}
        group["params"] = [names[id(p)] for p in g["params"]]
        groups.append(group)
    return {"state": state, "param_groups": groups}


def load_optimizer_state_by_name(
    optimizer: torch.optim.Optimizer, model: nn.Module, saved: dict[str, Any]
) -> None:
    """Inverse of :func:`optimizer_state_by_name`; shards full tensors onto FSDP2 parameters."""
    names = _param_names(model)
    order = [p for g in optimizer.param_groups for p in g["params"]]
    current = [names[id(p)] for p in order]
    saved_names = [n for g in saved["param_groups"] for n in g["params"]]
    if sorted(current) != sorted(saved_names):
        missing = sorted(set(current) - set(saved_names))
        extra = sorted(set(saved_names) - set(current))
        raise ConfigError(
            f"optimizer state does not fit the trainable parameters: missing {missing[:10]}, "
            f"unexpected {extra[:10]}"
        )
    state: dict[int, Any] = {}
    for idx, p in enumerate(order):
        entry = saved["state"].get(current[idx])
        if entry is None:
            continue
        out = {}
        for k, v in entry.items():
            if torch.is_tensor(v) and hasattr(p, "device_mesh") and tuple(v.shape) == tuple(p.shape):
                from torch.distributed.tensor import distribute_tensor

                v = distribute_tensor(v.to(p.device_mesh.device_type), p.device_mesh, p.placements)
            out[k] = v
        state[idx] = out
    groups = []
    pos = 0
    for g_saved, g in zip(saved["param_groups"], optimizer.param_groups):
        group = {k: (tuple(v) if k == "betas" else v) for k, v in g_saved.items() if k != "params"}
        group["params"] = list(range(pos, pos + len(g["params"])))
        pos += len(g["params"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
