"""One tiny benchmark run per session (the smoke-world model, shrunk further), shared by the tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest


def tiny_test_profile() -> Any:
    from usam_toolkit.bench.profiles import get_profile

    return replace(
        get_profile("tiny", quick=True),
        train_batch=2,
        train_clip_seconds=(1.0, 1.5),
        cache_clip_seconds=(1.0, 1.5),
        scale_lengths=(1.0, 3.0, 30.0),
        scale_batches=(1, 2),
        scale_batch_seconds=1.0,
        infer_batches=(1, 2),
        max_new_tokens=2,
        num_beams=2,
        peak_seconds=0.05,
        peak_size=128,
    )


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``(out_dir, results)`` of ``run_bench`` on the tiny test profile."""
    import torch

    from usam_toolkit.bench.runner import run_bench

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("bench") / "out"
    results = run_bench("tiny", "cpu", out, quick=True, log=lambda _m: None, profile=tiny_test_profile())
    return out, results
