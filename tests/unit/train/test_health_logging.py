"""Projector health where a person sees it: the training log (only on logging steps), the plot, and
``usam health``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

from usam_toolkit.interfaces import StepOutput
from usam_toolkit.train.trainer import Trainer


def _rows(out_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out_dir / "train_log.jsonl").read_text().splitlines()]
    return [r for r in rows if r["type"] == "train"]


class _FakeLLM(nn.Module):
    def embedding_rms(self) -> float:
        return 2.0


class ProbeModel(TinyModel):
    """TinyModel that also records one stage: every clip is two tokens (c, c, c, c) with c = 3."""

    def __init__(self) -> None:
        super().__init__(dropout=0.0)
        self.llm = _FakeLLM()

    def forward(self, batch) -> StepOutput:
        out = super().forward(batch)
        b = len(batch)
        out.extras["stage/probe"] = torch.full((b, 3, 4), 3.0)
        out.extras["stage/probe"][:, 2] = float("nan")  # padding
        out.extras["stage_len/probe"] = torch.full((b,), 2)
        return out


def test_health_is_computed_on_logging_steps_only(tmp_path, fast_cfg, monkeypatch):
    from usam_toolkit.model import health

    calls = []
    real = health.health_logs
    monkeypatch.setattr(health, "health_logs", lambda extras, rms: calls.append(rms) or real(extras, rms))
    cfg = fast_cfg(max_steps=5, log_every=2, grad_accum=2)
    Trainer(ProbeModel(), FakeDataset(16), FakeSampler(16, 4), cfg, tmp_path, collate_fn=collate).fit()
    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == [2, 4, 5]
    assert calls == [2.0] * 6  # 3 logging steps x 2 micro-batches, text RMS read once from llm.embedding_rms
    for r in rows:
        assert r["logs"]["health/probe/rms_ratio"] == pytest.approx(1.5)  # RMS 3 / text RMS 2
        assert r["logs"]["health/probe/between_clip"] == pytest.approx(0.0)  # identical clips
        assert r["logs"]["health/probe/within_clip"] == pytest.approx(0.0)  # constant tokens


def test_a_model_without_stages_logs_no_health(tmp_path, fast_cfg):
    Trainer(
        TinyModel(dropout=0.0),
        FakeDataset(8),
        FakeSampler(8, 4),
        fast_cfg(max_steps=2),
        tmp_path,
        collate_fn=collate,
    ).fit()
    assert not any(k.startswith("health/") for r in _rows(tmp_path) for k in r["logs"])


# ---------------------------------------------------------------------------------------------------
# The smoke recipe (tiny random components on the generated smoke world)
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory: pytest.TempPathFactory):
    from usam_toolkit.mini.smoke import write_smoke_world

    world = write_smoke_world(tmp_path_factory.mktemp("smoke"))
    old = os.environ.get("USAM_SMOKE_DIR")
    os.environ["USAM_SMOKE_DIR"] = str(world)
    yield world
    if old is None:
        os.environ.pop("USAM_SMOKE_DIR", None)
    else:
        os.environ["USAM_SMOKE_DIR"] = old


def test_smoke_training_logs_health_and_plots_it(smoke_world, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="plots need matplotlib")
    from usam_toolkit.mini.smoke import SMOKE_RECIPE
    from usam_toolkit.pipeline import train_recipe

    overrides = [
        "train.max_steps=3",
        "train.log_every=1",
        "train.tensorboard=false",
        "train.plots=true",
        "data.valid=[]",
    ]
    result = train_recipe(SMOKE_RECIPE, overrides, out=str(tmp_path), device="cpu", progress=False)
    assert result.step == 3
    assert "step/s" not in capsys.readouterr().err  # progress=False hides the bar the recipe would show
    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        keys = {k for k in r["logs"] if k.startswith("health/")}
        for stage in ("fusion", "projectors[0]:window_qformer", "projectors[1]:tapm"):
            assert f"health/{stage}/rms_ratio" in keys
        assert all(math.isfinite(r["logs"][k]) for k in keys)
    # every batch of >= 2 clips gets a between-clip figure, in [0, 1]
    between = [r["logs"][k] for r in rows for k in r["logs"] if k.endswith("/between_clip")]
    assert between and all(0.0 <= v <= 1.0 for v in between)
    assert (tmp_path / "plots" / "projector_health.png").stat().st_size > 1000


def test_usam_health_command_on_the_smoke_recipe(smoke_world, capsys):
    from usam_toolkit.cli import main
    from usam_toolkit.mini.smoke import SMOKE_RECIPE

    assert (
        main(
            [
                "health",
                str(SMOKE_RECIPE),
                "audio_norm.kind=layer_norm",
                "--batches",
                "1",
                "--split",
                "valid",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["batches"] == 1 and result["split"] == "valid" and result["clips"] >= 2
    assert [s["stage"] for s in result["stages"]] == [
        "fusion",
        "projectors[0]:window_qformer",
        "projectors[1]:tapm",
        "audio_norm",
    ]
    by = {s["stage"]: s for s in result["stages"]}
    assert by["fusion"]["width"] == 16 + 8 and by["audio_norm"]["width"] == by["projectors[1]:tapm"]["width"]
    # the normaliser's gain starts at the text RMS and LayerNorm makes every token's RMS 1: ratio ~ 1
    assert by["audio_norm"]["rms_ratio"] == pytest.approx(1.0, abs=1e-2)
    assert by["projectors[0]:window_qformer"]["tokens_per_s"] == pytest.approx(
        by["audio_norm"]["tokens_per_s"]
    )
    for s in result["stages"]:
        assert 0.0 <= s["between_clip"] <= 1.0 and 0.0 <= s["within_clip"] <= 1.0

    assert main(["health", str(SMOKE_RECIPE), "--batches", "1", "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    assert "between_clip" in table and "projectors[1]:tapm" in table and "audio_norm" not in table
