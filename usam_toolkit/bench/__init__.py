"""Benchmarks of the toolkit (``usam bench``): training throughput split by stage, MFU against a
matmul peak measured in the same run, the reference implementation's choices as a baseline, the
feature cache, scaling with clip length and batch size, and inference speed.

Entry point: :func:`usam_toolkit.bench.runner.run_bench`; see ``docs/benchmarks.md``.
"""

from __future__ import annotations

from typing import Any


def run_bench(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`usam_toolkit.bench.runner.run_bench` (imported lazily: it pulls in torch)."""
    from .runner import run_bench as _run

    return _run(*args, **kwargs)
