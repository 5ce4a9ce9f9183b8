"""Registers the ``frame_energy`` encoder: per-frame log energy and zero-crossing rate, projected to
``dim``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usam_toolkit import hookimpl


@dataclass
class FrameEnergyConfig:
    """Frame energy encoder settings."""

    sample_rate: int = 16000
    hop_ms: float = 20.0
    dim: int = 8
    seed: int = 0


def build_frame_energy(cfg: FrameEnergyConfig, ctx: Any) -> Any:
    """Log energy + zero-crossing rate per frame, randomly projected (a toy third-party encoder)."""
    from .encoder import FrameEnergyEncoder

    return FrameEnergyEncoder(cfg)


def example(tmp_dir: Path) -> dict:
    return {"dim": 6}


@hookimpl
def usam_register_encoders(register: Any) -> None:
    register("frame_energy", build_frame_energy, FrameEnergyConfig, aliases=("energy",), example=example)
