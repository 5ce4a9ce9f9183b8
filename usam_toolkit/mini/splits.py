"""Group-level splits: every example of a group (sentence, prompt, recipe, sound) lands in one split.

A group's split is a hash of ``(seed, group)``, so it does not depend on which other groups exist or on
the scale: the tiny world's test sentences are test sentences of the small world too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

SPLITS = ("train", "dev", "test")
#: share of groups in dev and test; the rest is train.
DEFAULT_FRACTIONS = {"test": 0.15, "dev": 0.10}

T = TypeVar("T")


def split_of(group: str, seed: int, fractions: dict[str, float] | None = None) -> str:
    """The split of ``group`` under ``seed``: a stable hash mapped onto [0, 1)."""
    fractions = DEFAULT_FRACTIONS if fractions is None else fractions
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions.get("test", 0.0):
        return "test"
    if u < fractions.get("test", 0.0) + fractions.get("dev", 0.0):
        return "dev"
    return "train"


def partition(items: Iterable[T], group_of: Callable[[T], str], seed: int) -> dict[str, list[T]]:
    """``{split: items}`` keeping each group whole; items keep their input order."""
    out: dict[str, list[T]] = {split: [] for split in SPLITS}
    for item in items:
        out[split_of(group_of(item), seed)].append(item)
    return out


def seeded_order(items: Sequence[T], seed: int, salt: str) -> list[T]:
    """``items`` in a seeded random order (``salt`` decorrelates the orders of different pools)."""
    key = int.from_bytes(hashlib.sha256(f"{seed}:{salt}".encode()).digest()[:8], "big")
    order = np.random.default_rng(key).permutation(len(items))
    return [items[int(i)] for i in order]


def rng_for(seed: int, *salt: str) -> np.random.Generator:
    """A generator determined by the seed and a salt naming its use."""
    key = int.from_bytes(hashlib.sha256(":".join([str(seed), *salt]).encode()).digest()[:8], "big")
    return np.random.default_rng(key)
