"""End to end on the smoke recipe: build, train (loss falls), checkpoint, evaluate, resume refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.config.loader import load_recipe
from usam_toolkit.errors import ConfigError
from usam_toolkit.mini.smoke import SMOKE_RECIPE


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r and "step" in r]


def test_smoke_model_builds_with_derived_dims(smoke_world: Path) -> None:
    from usam_toolkit.pipeline import build_model

    model = build_model(load_recipe(SMOKE_RECIPE))
    assert model.sample_rates == [16000, 24000]
    assert model.fusion.output_dim == 16 + 8  # widths add up on one time axis
    assert model.projectors[-1].output_dim == model.llm.hidden_size
    rows = {r["component"]: r for r in model.parameter_summary()}
    assert rows["encoders[0]"]["trainable"] == 0  # frozen by default
    assert 0 < rows["llm"]["trainable"] < rows["llm"]["total"]  # LoRA only
    assert rows["projectors[1]"]["trainable"] == rows["projectors[1]"]["total"]


def test_smoke_training_loss_falls(smoke_run: Path) -> None:
    losses = _losses(smoke_run)
    assert len(losses) >= 5
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < 0.85 * first, f"loss did not fall: {losses}"
    assert (smoke_run / "plots" / "loss.png").is_file()


def test_smoke_checkpoint_evaluates(smoke_run: Path, tmp_path: Path) -> None:
    from usam_toolkit.pipeline import evaluate_model, load_for_evaluation

    cfg, model = load_for_evaluation(smoke_run, recipe=SMOKE_RECIPE)
    results = evaluate_model(cfg, model, tmp_path, device="cpu", progress=False)
    assert set(results) == {"asr", "s2tt", "aac", "mc"}
    assert "wer" in results["asr"] and "bleu" in results["s2tt"]
    preds = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 8 and all(isinstance(p["hypothesis"], str) for p in preds)
    assert (tmp_path / "summary.md").read_text().startswith("# Evaluation")


def test_checkpoint_refuses_an_incompatible_recipe(smoke_run: Path) -> None:
    from usam_toolkit.pipeline import load_for_evaluation

    with pytest.raises(ConfigError, match="'projectors.1.num_experts' is 3 in the checkpoint's recipe, 2 here"):
        load_for_evaluation(smoke_run, ["projectors.1.num_experts=2"], recipe=SMOKE_RECIPE)


def test_checkpoint_rebuilds_from_its_own_recipe(smoke_run: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from usam_toolkit.pipeline import evaluate_model, load_for_evaluation

    # No recipe given: the checkpoint's recorded recipe (with its base_dir) rebuilds the model.
    cfg, model = load_for_evaluation(smoke_run)
    assert cfg.experiment == "smoke" and cfg.base_dir
    results = evaluate_model(cfg, model, tmp_path, device="cpu", progress=False)
    assert set(results) == {"asr", "s2tt", "aac", "mc"}
