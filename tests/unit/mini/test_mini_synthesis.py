"""Splits, event synthesis, resampling and the Debian package check."""

from __future__ import annotations

import numpy as np
import pytest

from usam_toolkit.errors import DataError
from usam_toolkit.mini import debian
from usam_toolkit.mini.events import (
    LOUDNESS_GAIN,
    SAMPLE_RATE,
    EventRecipe,
    EventSpec,
    resample_fft,
    synthesize,
)
from usam_toolkit.mini.splits import partition, split_of


def test_split_of_is_stable_and_roughly_proportional() -> None:
    groups = [f"g{i}" for i in range(4000)]
    splits = [split_of(g, 0) for g in groups]
    assert splits == [split_of(g, 0) for g in groups]
    assert 0.12 < splits.count("test") / 4000 < 0.18 and 0.07 < splits.count("dev") / 4000 < 0.13
    assert splits != [split_of(g, 1) for g in groups]


def test_partition_keeps_groups_whole() -> None:
    items = [(f"g{i % 50}", i) for i in range(500)]
    parts = partition(items, lambda item: item[0], seed=3)
    where = {}
    for split, members in parts.items():
        for group, _ in members:
            assert where.setdefault(group, split) == split
    assert sum(len(v) for v in parts.values()) == 500


def test_synthesis_is_a_function_of_the_recipe() -> None:
    recipe = EventRecipe((EventSpec("bell", 2, "faint", 0.2, 1.9),), "silence", 2.5, 11)
    a, b = synthesize(recipe), synthesize(recipe)
    assert a.dtype == np.float32 and len(a) == int(2.5 * SAMPLE_RATE)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[: int(0.2 * SAMPLE_RATE)]).max() == 0.0  # silent before the onset
    assert np.abs(a).max() == pytest.approx(LOUDNESS_GAIN["faint"], rel=1e-4)  # faint stays faint
    loud = synthesize(EventRecipe((EventSpec("siren", 1, "loud", 0.0, 2.0),), "pink noise", 2.2, 11))
    assert 0.7 < np.abs(loud).max() <= 0.99


def test_resample_fft_keeps_a_tone() -> None:
    t = np.arange(44100) / 44100
    y = resample_fft(np.sin(2 * np.pi * 440 * t), 44100, 16000)
    assert len(y) == 16000
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(y - expected).max() < 1e-4


def test_missing_packages_are_named_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian, "package_version", lambda name: None if name == "no-such-pkg" else "1.0")
    monkeypatch.delenv(debian.INSTALL_ENV, raising=False)
    with pytest.raises(DataError, match=r"no-such-pkg.*apt-get install -y no-such-pkg"):
        debian.ensure_packages(("espeak-ng", "no-such-pkg"), install=False)
    assert debian.ensure_packages(("espeak-ng",), install=False) == {"espeak-ng": "1.0"}
