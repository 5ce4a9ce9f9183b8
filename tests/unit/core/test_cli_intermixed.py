"""``key=value`` overrides (and other positionals) are taken wherever they stand among the options."""

from __future__ import annotations

import pytest

from usam_toolkit.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "r.yaml", "--out", "X", "a=1", "b=2"],
        ["train", "r.yaml", "a=1", "--out", "X", "b=2"],
        ["train", "--out", "X", "r.yaml", "a=1", "b=2"],
    ],
)
def test_train_overrides_after_options(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.recipe, args.out, args.overrides) == ("r.yaml", "X", ["a=1", "b=2"])


def test_nested_verbs_and_repeated_positionals() -> None:
    args = build_parser().parse_args(["mini", "demo", "--out", "o", "x=1", "--retrain", "y=2"])
    assert (args.out, args.retrain, args.overrides) == ("o", True, ["x=1", "y=2"])
    args = build_parser().parse_args(["infer", "--checkpoint", "c", "a.wav", "--task", "asr", "b.wav"])
    assert (args.task, args.inputs) == ("asr", ["a.wav", "b.wav"])


def test_an_unknown_option_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "r.yaml", "--out", "X", "--bogus", "a=1"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
