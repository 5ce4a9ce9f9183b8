"""Inference precision: ``Engine(precision=...)`` runs the LLM and projectors under bf16 autocast with the
frozen encoders in fp32, ``auto`` resolves as training does, and the CLIs take ``--precision``.

The smoke recipe's model with its random initial weights (no training): greedy output of a random
tiny model is not a quality signal, so fp32 and bf16 texts are compared only for being produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import usam_toolkit.precision as prec
from usam_toolkit.infer.audio_input import AudioInput
from usam_toolkit.infer.engine import Engine, Request
from usam_toolkit.mini.smoke import SMOKE_RECIPE


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    from usam_toolkit.config.loader import load_recipe
    from usam_toolkit.mini.smoke import write_smoke_world
    from usam_toolkit.pipeline import build_model

    world = write_smoke_world(tmp_path_factory.mktemp("smoke_infer"))
    mp = pytest.MonkeyPatch()
    mp.setenv("USAM_SMOKE_DIR", str(world))
    try:
        cfg = load_recipe(SMOKE_RECIPE, ["evaluate.max_new_tokens=3"])
        torch.manual_seed(0)
        model = build_model(cfg, "cpu")
    finally:
        mp.undo()
    model.encoders[0].requires_grad_(False)  # a frozen encoder, as the paper's are,
    model.encoders[1].requires_grad_(True)  # and a trained one
    return cfg, model


def _clips() -> list[AudioInput]:
    t = np.arange(16000) / 16000
    return [
        AudioInput(f"tone-{f}", (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 16000)
        for f in (300, 560)
    ]


def _dtypes(model, engine: Engine) -> tuple[list[str], dict[str, torch.dtype]]:
    seen: dict[str, torch.dtype] = {}

    def grab(name: str):
        def hook(_m, _a, out):
            feats = out.features if hasattr(out, "features") else out
            seen.setdefault(name, feats.dtype)

        return hook

    def linear(module: torch.nn.Module) -> torch.nn.Module:  # a matmul: what autocast runs in bf16
        return next(m for m in module.modules() if isinstance(m, torch.nn.Linear))

    handles = [
        linear(model.encoders[0]).register_forward_hook(grab("frozen encoder")),
        linear(model.encoders[1]).register_forward_hook(grab("trainable encoder")),
        linear(model.projectors[0]).register_forward_hook(grab("projector")),
        linear(model.llm).register_forward_hook(grab("llm")),
    ]
    try:
        results = engine.run(_clips(), Request("asr"))
    finally:
        for h in handles:
            h.remove()
    return [r.text for r in results], seen


def test_bf16_inference_autocasts_all_but_the_frozen_encoders(smoke: tuple) -> None:
    cfg, model = smoke
    fp32 = Engine(model, cfg, "cpu", precision="fp32")
    bf16 = Engine(model, cfg, "cpu", precision="bf16")
    assert (fp32.precision.name, bf16.precision.name) == ("fp32", "bf16")
    texts32, d32 = _dtypes(model, fp32)
    texts16, d16 = _dtypes(model, bf16)
    assert set(d32.values()) == {torch.float32}
    assert d16["frozen encoder"] == torch.float32  # the features the model was trained on
    assert d16["trainable encoder"] == d16["projector"] == d16["llm"] == torch.bfloat16
    assert all(isinstance(t, str) for t in texts32 + texts16) and len(texts16) == 2
    assert not torch.is_autocast_enabled("cpu")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights untouched


def test_auto_follows_the_cpu_probe(smoke: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, model = smoke
    monkeypatch.delenv(prec.AUTO_ENV, raising=False)  # the suite pins auto to fp32 (tests/conftest.py)
    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: (True, "has avx512_bf16"))
    assert (
        Engine(model, cfg, "cpu").precision.describe() == "precision: bf16 (auto: this CPU has avx512_bf16)"
    )
    monkeypatch.setattr(prec, "cpu_bf16_support", lambda: (False, "has no avx512_bf16/amx_bf16"))
    assert Engine(model, cfg, "cpu").precision.name == "fp32"


@pytest.mark.parametrize("command", ["infer", "serve"])
def test_the_clis_take_precision(command: str, tmp_path: Path) -> None:
    from usam_toolkit.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(
        [command, "--checkpoint", str(tmp_path), "--precision", "bf16"]
        + (["x.wav"] if command == "infer" else [])
    )
    assert args.precision == "bf16"
    default = parser.parse_args(
        [command, "--checkpoint", str(tmp_path)] + (["x.wav"] if command == "infer" else [])
    )
    assert default.precision == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--checkpoint", str(tmp_path), "--precision", "fp8"])
