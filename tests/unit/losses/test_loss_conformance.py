"""The conformance checks of :mod:`usam_toolkit.testing` for every loss registered here."""

from __future__ import annotations

from pathlib import Path

import pytest

from usam_toolkit.testing import check_component


@pytest.mark.parametrize(
    "name", ("cross_entropy", "saclm", "infonce", "aux", "tapm_balance", "embedding_ctc")
)
def test_conformance(name: str, tmp_path: Path) -> None:
    check_component("losses", name, tmp_path)
