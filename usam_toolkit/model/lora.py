"""LoRA settings shared by every component that can be adapted (no torch import: configs use it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoraSettings:
    """LoRA hyper-parameters (paper: rank 8 on the query and value projections).

    ``target_modules`` are matched by peft against sub-module names (suffix match).
    """

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
