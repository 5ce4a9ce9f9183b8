"""The one training loop, distributed setup, checkpoint save/resume.

Heavy modules (torch) are imported lazily so that ``usam_toolkit.train.config`` stays light.
"""

from __future__ import annotations

from typing import Any

from .config import TrainConfig

__all__ = ["TrainConfig", "Trainer", "TrainResult", "TrainingStopped", "train"]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "TrainResult", "TrainingStopped", "train"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
