"""The paper recipe's trainable parameters, counted on the meta device at the paper's widths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
# One layer per encoder: the trainable parts see only the encoders' widths (1280 + 768 + 1024); the LLM keeps
# its 32 layers, each of which carries LoRA.
EXPERT = 768 * 384 + 384 + 384 * 4096 + 4096  # Q-Former width -> 384 -> Llama width, with biases
ROUTER = 4096 * 3 + 3  # W_r of Eq. 3 on the pooled prompt embedding
LORA = 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024))  # r=8 on q (4096->4096) and v (4096->1024)


def _trainable(recipe: Path, tmp_path: Path) -> dict[str, int]:
    from usam_toolkit.bench.paper import PaperShapes, build_paper_model

    shapes = PaperShapes(whisper_layers=1, ced_layers=1, mert_layers=1)
    model = build_paper_model("meta", torch.bfloat16, shapes, tmp_path, recipe=recipe)
    return {r["component"]: r["trainable"] for r in model.parameter_summary()}


def test_paper_recipe_is_within_ten_percent_of_41m_and_no_tapm_drops_only_the_router(tmp_path):
    paper = _trainable(ROOT / "recipes/usam/paper.yaml", tmp_path)
    assert paper["projectors[1]"] == 3 * EXPERT + ROUTER
    assert paper["llm"] == LORA
    full_depth = paper["all"] - 2 + 25  # MERT's layer weights: 25 at 24 layers, 2 at the one built here
    assert full_depth == pytest.approx(41e6, rel=0.10)
    no_tapm = _trainable(ROOT / "recipes/usam/ablations/no_tapm.yaml", tmp_path)
    assert no_tapm["projectors[1]"] == 3 * EXPERT
    assert paper["all"] - no_tapm["all"] == ROUTER
