"""coco_caption plugin vs pycocoevalcap called directly; hand-checked BLEU-1; missing tools reported."""

from __future__ import annotations

import math
import shutil

import pytest

pytest.importorskip("pycocoevalcap", reason="pycocoevalcap not installed (pip install pycocoevalcap)")

from usam_plugins.metrics import coco_caption as cc

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

# Already lowercase, no punctuation: the basic tokenizer leaves them unchanged, so pycocoevalcap can be fed
# the same strings directly.
HYPS = ["a dog barks loudly", "rain falls on a roof", "a man plays a guitar", "birds sing in the trees"]
REFS = [
    ["a dog is barking", "a dog barks at a stranger", "loud barking of a dog"],
    ["rain is falling on a metal roof", "heavy rain on a roof"],
    ["a man is playing the guitar", "someone strums an acoustic guitar", "guitar music"],
    ["birds are chirping in a forest", "many birds sing"],
]
NEEDS_JAVA = pytest.mark.skipif(
    shutil.which("java") is None, reason="java not on PATH (METEOR / PTB tokenizer)"
)


def _direct(scorer: object) -> float:
    gts = {str(i): r for i, r in enumerate(REFS)}
    res = {str(i): [h] for i, h in enumerate(HYPS)}
    return float(scorer.compute_score(gts, res)[0])  # type: ignore[attr-defined]


def build(**kw: object) -> cc.CocoCaptionMetric:
    return cc.build_coco_caption(cc.CocoCaptionConfig(**kw), BuildContext())


def test_hand_checked_bleu1() -> None:
    # hyp "a dog barks" vs ref "a dog barks loudly": clipped unigram precision 3/3, hyp shorter than the
    # closest ref (3 vs 4) so BP = exp(1 - 4/3). BLEU-1 = exp(-1/3) = 71.653 %.
    out = build(metrics=["bleu"], tokenizer="basic").compute(["a dog barks"], [["a dog barks loudly"]])
    assert out["bleu_1"] == pytest.approx(100 * math.exp(-1 / 3), rel=1e-6)
    assert out["meteor"] is None and out["cider_d"] is None and out["missing"] == {}


def test_cider_d_rouge_bleu_match_pycocoevalcap() -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    out = build(metrics=["bleu", "rouge_l", "cider_d"], tokenizer="basic").compute(HYPS, REFS)
    assert out["cider_d"] == pytest.approx(100 * _direct(Cider()))
    assert out["rouge_l"] == pytest.approx(100 * _direct(Rouge()))
    gts = {str(i): r for i, r in enumerate(REFS)}
    res = {str(i): [h] for i, h in enumerate(HYPS)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [out[f"bleu_{n}"] for n in range(1, 5)] == pytest.approx([100 * b for b in bleu])
    assert out["tokenizer"] == "basic" and out["num_items"] == 4


@NEEDS_JAVA
def test_ptb_tokenizer_path_matches_pycocoevalcap() -> None:
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    hyps = ["A dog barks, loudly!", "Rain falls on a roof."]
    refs = [["A dog is barking.", "The dog's barking"], ["Rain is falling on a metal roof.", "Heavy rain"]]
    tok = PTBTokenizer()
    gts = tok.tokenize({str(i): [{"caption": c} for c in r] for i, r in enumerate(refs)})
    res = tok.tokenize({str(i): [{"caption": h}] for i, h in enumerate(hyps)})
    expected = float(Cider().compute_score(gts, res)[0])
    out = build(metrics=["cider_d"], tokenizer="ptb").compute(hyps, refs)
    assert out["tokenizer"] == "ptb"
    assert out["cider_d"] == pytest.approx(100 * expected)


@pytest.fixture(scope="module")
def meteor_metric():
    metric = build(metrics=["meteor"], tokenizer="basic")
    yield metric
    metric.close()


@NEEDS_JAVA
@pytest.mark.slow  # METEOR's JVM loads a paraphrase table: ~5-20 s on a 2-core machine
def test_meteor_matches_pycocoevalcap(meteor_metric: cc.CocoCaptionMetric) -> None:
    from pycocoevalcap.meteor.meteor import Meteor

    direct = Meteor()
    try:
        expected = _direct(direct)
    finally:
        direct.__del__()
    out = meteor_metric.compute(HYPS, REFS)
    assert out["meteor"] == pytest.approx(100 * expected)
    assert 0 < out["meteor"] < 100


def test_spice_absent_is_reported_not_zero() -> None:
    reason = cc.spice_missing()
    if reason is None:
        pytest.skip("Stanford CoreNLP jars are installed here; SPICE would run")
    out = build(metrics=["cider_d", "spider"], tokenizer="basic").compute(HYPS, REFS)
    assert out["spice"] is None and out["spider"] is None
    assert out["missing"]["spice"] == reason
    assert "SPICE" in out["missing"]["spider"]
    assert out["cider_d"] is not None  # SPIDEr asked for it


def test_missing_java_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cc.shutil, "which", lambda name: None)
    out = build(metrics=["meteor", "bleu"], tokenizer="ptb").compute(["a dog"], [["a dog barks"]])
    assert out["meteor"] is None and "java not found" in out["missing"]["meteor"]
    assert out["tokenizer"] == "basic" and "java" in out["missing"]["tokenizer"]
    assert out["bleu_1"] is not None
    assert "java" in cc.spice_missing()  # type: ignore[operator]


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="cider_d"):
        build(metrics=["cider"])
    with pytest.raises(ConfigError, match="ptb, basic"):
        build(tokenizer="nltk")
