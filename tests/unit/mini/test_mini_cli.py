"""The ``usam mini`` verb parses its sub-verbs and options."""

from __future__ import annotations

import pytest

from usam_toolkit.cli import build_parser


def test_mini_build_options() -> None:
    args = build_parser().parse_args(["mini", "build", "--scale", "tiny", "--out", "w", "--seed", "3"])
    assert (args.mini_command, args.scale, args.out, args.seed) == ("build", "tiny", "w", 3)
    assert args.install_missing is None  # None: $USAM_MINI_INSTALL decides
    defaults = build_parser().parse_args(["mini", "build"])
    assert (defaults.scale, defaults.out, defaults.seed) == ("small", None, 0)
    smoke = build_parser().parse_args(["mini", "smoke", "--out", "s"])
    assert (smoke.mini_command, smoke.out) == ("smoke", "s")


def test_mini_rejects_unknown_scale(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["mini", "build", "--scale", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
