"""``usam validate`` takes ``key=value`` overrides exactly as ``usam train`` does (the same strings reach
the same ``load_recipe``), anywhere among the recipes and options."""

from __future__ import annotations

from pathlib import Path

import pytest

from usam_toolkit.cli import main
from usam_toolkit.commands.validate import split_items
from usam_toolkit.mini.smoke import SMOKE_RECIPE


def test_overrides_apply_and_print(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["validate", str(SMOKE_RECIPE), "train.max_steps=3", "--print", "train.lr=0.5"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "max_steps: 3" in out and "lr: 0.5" in out


def test_an_override_can_make_a_recipe_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SMOKE_RECIPE), "encoders.0.name=conv_transformerr"]) == 1
    err = capsys.readouterr().err
    assert "encoders[0]: unknown encoder 'conv_transformerr'. Did you mean 'conv_transformer'?" in err


def test_a_misspelled_override_key_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SMOKE_RECIPE), "trian.lr=1"]) == 1
    err = capsys.readouterr().err
    assert "trian" in err and "Did you mean 'train'?" in err


def test_validate_hands_load_recipe_what_train_hands_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One parser for both verbs: the same argv tail gives the same override list."""
    from usam_toolkit import pipeline
    from usam_toolkit.config import loader

    seen: dict[str, list[str]] = {}

    def fake_train(path, overrides, **kw):
        seen["train"] = list(overrides)
        raise SystemExit(0)

    def fake_load(path, overrides=(), registry=None):
        seen["validate"] = list(overrides)
        return {}

    monkeypatch.setattr(pipeline, "train_recipe", fake_train)
    monkeypatch.setattr(loader, "load_recipe", fake_load)
    tail = ["train.lr=1e-4", "encoders.0.layer=-2", "data.train=[a.jsonl, b.jsonl]"]
    with pytest.raises(SystemExit):
        main(["train", str(SMOKE_RECIPE), tail[0], "--out", str(tmp_path), *tail[1:]])
    assert main(["validate", str(SMOKE_RECIPE), tail[0], "--print", *tail[1:]]) == 0
    assert seen["train"] == seen["validate"] == tail


def test_set_still_works_and_overrides_alone_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SMOKE_RECIPE), "--set", "train.max_steps=2", "--print"]) == 0
    assert "max_steps: 2" in capsys.readouterr().out
    assert main(["validate", "train.max_steps=2"]) == 2
    assert "no recipe given" in capsys.readouterr().err


def test_split_items_keeps_an_existing_file_with_an_equals_sign(tmp_path: Path) -> None:
    odd = tmp_path / "lr=1e-4.yaml"
    odd.write_text("base: mini/smoke.yaml\n")
    assert split_items([str(odd), "a.b=1", "r.yaml"]) == ([str(odd), "r.yaml"], ["a.b=1"])
