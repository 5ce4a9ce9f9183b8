"""Shared fixtures: hermetic environment (no hub access, a private cache dir) and a fresh registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `auto` precision is bf16 on CPUs with avx512_bf16/amx_bf16, else fp32; expected values are worked out
# in fp32, so the suite pins it (subprocesses inherit it). Tests of `auto` itself unset it.
os.environ["USAM_AUTO_PRECISION"] = "fp32"

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _usam_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point USAM_CACHE_DIR at a session temp folder unless the caller chose one (CI may reuse a cache)."""
    if "USAM_CACHE_DIR" not in os.environ:
        os.environ["USAM_CACHE_DIR"] = str(tmp_path_factory.mktemp("usam_cache"))
    return Path(os.environ["USAM_CACHE_DIR"])


@pytest.fixture
def repo() -> Path:
    return REPO
