"""WER/CER plugin: hand-aligned examples, corpus vs per-sentence average, empty references."""

from __future__ import annotations

import pytest
from usam_plugins.metrics.wer import WerConfig, build_wer

from usam_toolkit.errors import ConfigError, DataError
from usam_toolkit.interfaces import BuildContext, Metric


def wer(normalizer: str = "basic", **kw: object):
    return build_wer(WerConfig(normalizer=normalizer, **kw), BuildContext())


def test_hand_aligned_example() -> None:
    # ref: the cat sat on the mat
    # hyp: the cat sit on  *  mat
    #       H   H   S   H  D   H   -> 1 S + 1 D over 6 reference words = 33.33 %
    out = wer().compute(["the cat sit on mat"], [["the cat sat on the mat"]])
    assert isinstance(wer(), Metric)
    assert out["wer"] == pytest.approx(100 * 2 / 6)
    assert (out["substitutions"], out["deletions"], out["insertions"], out["hits"]) == (1, 1, 0, 4)
    assert out["ref_words"] == 6 and out["hyp_words"] == 5


def test_corpus_wer_differs_from_sentence_average() -> None:
    # sentence 1: 2 errors / 6 words = 33.33 %; sentence 2: ref "hello world", hyp "hello" -> 1 D / 2 = 50 %
    # corpus: 3 / 8 = 37.5 %; paper-style average: (33.33 + 50) / 2 = 41.67 %
    hyps, refs = ["the cat sit on mat", "hello"], [["the cat sat on the mat"], ["hello world"]]
    out = wer(paper_scoring=True).compute(hyps, refs)
    assert out["wer"] == pytest.approx(37.5)
    assert out["wer_sentence_avg"] == pytest.approx((100 * 2 / 6 + 50) / 2)
    assert "wer_sentence_avg" not in wer().compute(hyps, refs)
    assert wer().compute(hyps, refs, paper_scoring=True)["wer_sentence_avg"] == pytest.approx(41.6666667)


def test_insertions_and_cer() -> None:
    # ref "ab c", hyp "ab d": one character substituted out of 4 (space counts) = 25 % CER;
    # words: "c" -> "d" is 1 S of 2 = 50 % WER. Second item: hyp "x y z" vs ref "x": 2 insertions.
    out = wer().compute(["ab d", "x y z"], [["ab c"], ["x"]])
    assert out["insertions"] == 2 and out["substitutions"] == 1
    assert out["wer"] == pytest.approx(100 * 3 / 3)
    single = wer().compute(["ab d"], [["ab c"]])
    assert single["cer"] == pytest.approx(25.0)
    assert single["wer"] == pytest.approx(50.0)


def test_english_normalisation_is_applied() -> None:
    out = wer("english").compute(
        ["mister smith will not pay $25"], [["Mr. Smith won't pay twenty-five dollars!"]]
    )
    assert out["wer"] == 0.0
    raw = wer("none").compute(
        ["mister smith will not pay $25"], [["Mr. Smith won't pay twenty-five dollars!"]]
    )
    assert raw["wer"] > 50


def test_empty_references_are_explicit() -> None:
    # An empty reference adds its hypothesis words as insertions and no reference words.
    out = wer().compute(["a b", "x y"], [["a b"], [""]])
    assert out["num_empty_references"] == 1
    assert out["insertions"] == 2 and out["ref_words"] == 2
    assert out["wer"] == pytest.approx(100.0)
    only_empty = wer(paper_scoring=True).compute(["x"], [["  "]])
    assert only_empty["wer"] is None and only_empty["cer"] is None and only_empty["wer_sentence_avg"] is None


def test_empty_hypothesis_is_all_deletions() -> None:
    out = wer().compute([""], [["one two three"]])
    assert out["deletions"] == 3 and out["wer"] == pytest.approx(100.0) and out["cer"] == pytest.approx(100.0)


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="2 hypotheses but 1"):
        wer().compute(["a", "b"], [["a"]])
    with pytest.raises(ConfigError, match="english, basic, none"):
        wer("french")
    # a bare string is taken as one reference
    assert wer().compute(["a b"], ["a b"])["wer"] == 0.0
