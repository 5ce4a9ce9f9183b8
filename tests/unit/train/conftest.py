"""Makes the fakes importable and gives a fast TrainConfig."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def fast_cfg():
    """A TrainConfig without progress bar, TensorBoard or plots (each test turns on what it checks)."""
    from usam_toolkit.train.config import TrainConfig

    def make(**kw):
        base = dict(
            lr=1e-2, max_steps=12, log_every=1, progress=False, tensorboard=False, plots=False, keep_last=3
        )
        base.update(kw)
        return TrainConfig(**base)

    return make
