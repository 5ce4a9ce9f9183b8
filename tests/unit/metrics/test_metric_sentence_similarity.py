"""sentence_similarity plugin on a tiny random BERT written by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="transformers not installed")
torch = pytest.importorskip("torch", reason="torch not installed")

from usam_plugins.metrics.sentence_similarity import (
    SentenceSimilarityConfig,
    build_sentence_similarity,
    write_tiny_encoder,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext


@pytest.fixture(scope="module")
def metric(tmp_path_factory: pytest.TempPathFactory):
    folder = write_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")
    return build_sentence_similarity(SentenceSimilarityConfig(model_dir=str(folder)), BuildContext())


@pytest.mark.slow  # importing transformers' BERT costs ~10 s of CPU
def test_identical_sentence_scores_one(metric) -> None:
    out = metric.compute(["a dog barks"], [["a dog barks"]])
    assert out["sentence_similarity"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_matches_manual_mean_pooling(metric) -> None:
    from transformers import AutoModel, AutoTokenizer

    hyp, refs = "a dog barks .", ["the cat sits", "a cat"]
    tok = AutoTokenizer.from_pretrained(str(metric.model_dir))
    model = AutoModel.from_pretrained(str(metric.model_dir)).eval()

    def emb(text: str) -> torch.Tensor:
        batch = tok([text], return_tensors="pt")
        with torch.no_grad():
            h = model(**batch).last_hidden_state[0]  # [T, D], no padding: plain mean
        v = h.mean(0)
        return v / v.norm()

    sims = [float(emb(hyp) @ emb(r)) for r in refs]
    assert metric.compute([hyp], [refs])["sentence_similarity"] == pytest.approx(max(sims), abs=1e-5)
    mean_metric = build_sentence_similarity(
        SentenceSimilarityConfig(model_dir=str(metric.model_dir), reduce="mean"), BuildContext()
    )
    assert mean_metric.compute([hyp], [refs])["sentence_similarity"] == pytest.approx(sum(sims) / 2, abs=1e-5)


def test_relative_model_dir_resolves_against_recipe_folder(tmp_path: Path) -> None:
    write_tiny_encoder(tmp_path / "enc")
    m = build_sentence_similarity(SentenceSimilarityConfig(model_dir="enc"), BuildContext(base_dir=tmp_path))
    assert m.model_dir == tmp_path / "enc"
    with pytest.raises(ConfigError, match="config.json"):
        build_sentence_similarity(
            SentenceSimilarityConfig(model_dir="nowhere"), BuildContext(base_dir=tmp_path)
        )
