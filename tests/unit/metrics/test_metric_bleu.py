"""BLEU / chrF plugins against sacreBLEU's own API and hand-worked values."""

from __future__ import annotations

import math

import pytest

sacrebleu = pytest.importorskip("sacrebleu", reason="sacrebleu not installed")

from usam_plugins.metrics.bleu import (
    BleuConfig,
    ChrfConfig,
    build_bleu,
    build_chrf,
    tokenizer_for,
)

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

HYPS = ["the cat is on the mat", "there is a dog in the garden today", "hello world"]
REFS = [
    ["the cat sat on the mat", "a cat is on the mat"],
    ["a dog is in the garden"],
    ["hello there world", "hello world !"],
]


def bleu(**kw: object):
    return build_bleu(BleuConfig(**kw), BuildContext())


def test_hand_worked_bleu() -> None:
    # 5 tokens each, last one wrong: p1..p4 = 4/5, 3/4, 2/3, 1/2; equal lengths so BP = 1.
    # BLEU = (4/5 * 3/4 * 2/3 * 1/2) ** (1/4) = 0.2 ** 0.25 = 66.874 %
    out = bleu().compute(["a b c d e"], [["a b c d f"]])
    assert out["bleu"] == pytest.approx(100 * 0.2**0.25, abs=1e-9)
    assert out["bp"] == 1.0 and out["tokenize"] == "13a"


def test_hand_worked_chinese_bleu_uses_zh_tokenizer() -> None:
    # zh tokenizer splits each Han character: hyp 7 tokens, ref 4 tokens (all 4 in hyp, in order).
    # p1..p4 = 4/7, 3/6, 2/5, 1/4; hyp longer than ref so BP = 1.
    out = bleu().compute(["我爱北京天安门"], [["我爱北京"]], target_lang="zh")
    expected = 100 * math.exp(sum(math.log(p) for p in (4 / 7, 3 / 6, 2 / 5, 1 / 4)) / 4)
    assert out["bleu"] == pytest.approx(expected)
    assert out["tokenize"] == "zh" and "tok:zh" in out["signature"]
    # With 13a the whole string is one token: no match at all.
    assert bleu(tokenize="13a").compute(["我爱北京天安门"], [["我爱北京"]], target_lang="zh")["bleu"] == 0.0


def test_matches_sacrebleu_corpus_bleu_with_variable_references() -> None:
    out = bleu().compute(HYPS, REFS)
    streams = [[r[0] for r in REFS], [r[1] if len(r) > 1 else None for r in REFS]]
    ref = sacrebleu.corpus_bleu(HYPS, streams)
    assert out["bleu"] == pytest.approx(ref.score)
    assert out["precisions"] == pytest.approx(ref.precisions)
    assert out["signature"].startswith("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp")


def test_paper_variant_is_mean_of_sentence_bleu() -> None:
    out = bleu(paper_scoring=True).compute(HYPS, REFS)
    expected = sum(sacrebleu.sentence_bleu(h, r).score for h, r in zip(HYPS, REFS)) / len(HYPS)
    assert out["bleu_sentence_avg"] == pytest.approx(expected)
    assert out["bleu_sentence_avg"] != pytest.approx(out["bleu"])


@pytest.mark.parametrize(
    "lang,tok", [("zh", "zh"), ("zh-CN", "zh"), ("zh_TW", "zh"), ("ja", "char"), ("fr", "13a"), (None, "13a")]
)
def test_tokenizer_per_language(lang: str | None, tok: str) -> None:
    assert tokenizer_for(lang) == tok


def test_language_from_config_and_call() -> None:
    m = bleu(target_lang="zh")
    assert m.compute(["我爱"], [["我爱"]])["tokenize"] == "zh"
    assert m.compute(["a b"], [["a b"]], target_lang="de")["tokenize"] == "13a"
    with pytest.raises(ConfigError, match="valid"):
        bleu(tokenize="ja-nothing")


def test_chrf_matches_sacrebleu() -> None:
    out = build_chrf(ChrfConfig(), BuildContext()).compute(HYPS, REFS)
    streams = [[r[0] for r in REFS], [r[1] if len(r) > 1 else None for r in REFS]]
    assert out["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, streams).score)
    assert "nc:6|nw:0" in out["signature"]
    assert build_chrf(ChrfConfig(), BuildContext()).compute(["abc def"], [["abc def"]])[
        "chrf"
    ] == pytest.approx(100)
