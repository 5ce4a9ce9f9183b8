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

    with pytest.raises(
        ConfigError, match="'projectors.1.num_experts' is 3 in the checkpoint's recipe, 2 here"
    ):
        load_for_evaluation(smoke_run, ["projectors.1.num_experts=2"], recipe=SMOKE_RECIPE)


def test_checkpoint_rebuilds_from_its_own_recipe(smoke_run: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from usam_toolkit.pipeline import evaluate_model, load_for_evaluation

    # No recipe given: the checkpoint's recorded recipe (with its base_dir) rebuilds the model.
    cfg, model = load_for_evaluation(smoke_run)
    assert cfg.experiment == "smoke" and cfg.base_dir
    results = evaluate_model(cfg, model, tmp_path, device="cpu", progress=False)
    assert set(results) == {"asr", "s2tt", "aac", "mc"}


def test_feature_cache_serves_frozen_encoders_in_the_model(smoke_world: Path, tmp_path: Path) -> None:
    """With data.feature_cache set, the second pass over a batch reads every frozen encoder's output
    from disk and never calls the encoder."""
    import torch

    from usam_toolkit.data.cache import CachedEncoder
    from usam_toolkit.pipeline import build_data, build_model

    cfg = load_recipe(SMOKE_RECIPE, [f"data.feature_cache={tmp_path / 'cache'}"])
    model = build_model(cfg)
    assert all(isinstance(e, CachedEncoder) for e in model.encoders)
    loader, _ = build_data(cfg, model, "valid", train=False)
    batch = next(iter(loader))
    calls = []
    for enc in model.encoders:
        enc.encoder.register_forward_hook(lambda m, i, o: calls.append(type(m).__name__))
    model.eval()
    with torch.no_grad():
        first = model.encode(batch)
        n_first = len(calls)
        second = model.encode(batch)
    assert n_first == len(model.encoders) and len(calls) == n_first  # no encoder call on the second pass
    assert torch.equal(first.lengths, second.lengths)
    assert torch.allclose(first.features, second.features, atol=1e-6)
    cache = model.encoders[0].cache  # one cache folder for all encoders, keyed by encoder fingerprint
    assert all(e.cache is cache for e in model.encoders)
    assert cache.hits == len(batch) * len(model.encoders)


def test_periodic_evaluation_scores_the_valid_split_when_asked(smoke_world: Path, tmp_path: Path) -> None:
    from usam_toolkit.pipeline import build_model, validation_fn

    cfg = load_recipe(SMOKE_RECIPE, ["train.eval_decode=true", "evaluate.max_new_tokens=3"])
    import torch

    model = build_model(cfg)
    torch.manual_seed(0)  # SACLM draws its negatives from the global RNG
    loss_only = validation_fn(cfg, model, "cpu", decode=False)(model, 0)
    assert set(loss_only) == {"valid/loss"} and loss_only["valid/loss"] > 0
    torch.manual_seed(0)
    scored = validation_fn(cfg, model, "cpu", decode=cfg.train.eval_decode, out_dir=tmp_path)(model, 7)
    assert scored["valid/loss"] == pytest.approx(loss_only["valid/loss"])
    assert "valid/asr/wer.wer" in scored and "valid/s2tt/bleu.bleu" in scored
    # What the model said at that step, one line per valid clip, scored as in the log.
    import json

    said = [
        json.loads(line) for line in (tmp_path / "valid/step-7/predictions.jsonl").read_text().splitlines()
    ]
    valid = sum(len(Path(m).read_text().splitlines()) for m in cfg.data.valid)
    assert len(said) == valid and all("hypothesis" in r for r in said)
    saved = json.loads((tmp_path / "valid/step-7/metrics.json").read_text())
    assert saved["step"] == 7 and saved["results"]["asr"]["wer"]["wer"] == scored["valid/asr/wer.wer"]
