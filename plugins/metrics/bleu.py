"""Corpus sacreBLEU and chrF with the tokenizer chosen from the target language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

from .common import reference_lists
from .configs import BleuConfig, ChrfConfig

#: sacreBLEU tokenizer per target language (primary subtag, lowercase). Japanese uses ``char`` because
#: ``ja-mecab`` needs MeCab + a dictionary that is not installed here; ``char`` splits every character like
#: the ``zh`` tokenizer does for CJK, so scores are comparable across machines. Everything else: ``13a``.
TOKENIZER_BY_LANG: dict[str, str] = {"zh": "zh", "ja": "char"}
DEFAULT_TOKENIZER = "13a"


def tokenizer_for(target_lang: str | None) -> str:
    """sacreBLEU tokenizer for ``target_lang`` (``zh-CN``, ``zh_tw`` and ``zh`` all give ``zh``)."""
    if not target_lang:
        return DEFAULT_TOKENIZER
    primary = target_lang.replace("_", "-").split("-")[0].lower()
    return TOKENIZER_BY_LANG.get(primary, DEFAULT_TOKENIZER)


def _padded_streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacreBLEU's layout: one stream per reference position, ``None`` where an item has fewer references."""
    width = max(len(r) for r in refs) if refs else 1
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


class BleuMetric:
    """Corpus BLEU-4 from sacreBLEU (percent) with its signature."""

    name = "bleu"

    def __init__(self, cfg: BleuConfig):
        self.cfg = cfg

    def _tokenizer(self, target_lang: str | None) -> tuple[str, str | None]:
        lang = target_lang if target_lang is not None else self.cfg.target_lang
        return (self.cfg.tokenize or tokenizer_for(lang)), lang

    def compute(
        self,
        hypotheses: Sequence[str],
        references: Sequence[Sequence[str]],
        *,
        target_lang: str | None = None,
        paper_scoring: bool | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Score the corpus.

        Returns:
            ``bleu`` (percent), ``precisions`` (1..4-gram, percent), ``bp``, ``sys_len``, ``ref_len``,
            ``tokenize``, ``target_lang``, ``signature`` and, with paper scoring, ``bleu_sentence_avg``.
        """
        from sacrebleu.metrics import BLEU

        refs = reference_lists(hypotheses, references, self.name)
        tokenize, lang = self._tokenizer(target_lang)
        bleu = BLEU(tokenize=tokenize, lowercase=self.cfg.lowercase)
        score = bleu.corpus_score(list(hypotheses), _padded_streams(refs))
        result: dict[str, Any] = {
            "bleu": score.score,
            "precisions": list(score.precisions),
            "bp": score.bp,
            "sys_len": score.sys_len,
            "ref_len": score.ref_len,
            "tokenize": tokenize,
            "target_lang": lang,
            "num_sentences": len(refs),
            "signature": str(bleu.get_signature()),
        }
        paper = self.cfg.paper_scoring if paper_scoring is None else paper_scoring
        if paper:
            # sentence_score uses effective order (exp smoothing), as sacrebleu.sentence_bleu does.
            sent = BLEU(tokenize=tokenize, lowercase=self.cfg.lowercase, effective_order=True)
            values = [sent.sentence_score(h, r).score for h, r in zip(hypotheses, refs)]
            result["bleu_sentence_avg"] = sum(values) / len(values) if values else None
        return result


class ChrfMetric:
    """Corpus chrF from sacreBLEU (percent) with its signature; no tokenizer involved."""

    name = "chrf"

    def __init__(self, cfg: ChrfConfig):
        self.cfg = cfg

    def compute(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], **kw: Any
    ) -> dict[str, Any]:
        """Returns ``chrf`` (percent), ``num_sentences``, ``target_lang`` (when given) and ``signature``."""
        from sacrebleu.metrics import CHRF

        refs = reference_lists(hypotheses, references, self.name)
        chrf = CHRF(
            char_order=self.cfg.char_order,
            word_order=self.cfg.word_order,
            beta=self.cfg.beta,
            lowercase=self.cfg.lowercase,
            whitespace=self.cfg.whitespace,
        )
        score = chrf.corpus_score(list(hypotheses), _padded_streams(refs))
        return {
            "chrf": score.score,
            "num_sentences": len(refs),
            "target_lang": kw.get("target_lang"),
            "signature": str(chrf.get_signature()),
        }


def build_bleu(cfg: BleuConfig, ctx: BuildContext) -> BleuMetric:
    """Corpus sacreBLEU (zh tokenizer for Chinese, char for Japanese, 13a otherwise) with signature."""
    if cfg.tokenize is not None:
        from sacrebleu.metrics.bleu import _TOKENIZERS

        if cfg.tokenize not in _TOKENIZERS:
            raise ConfigError(
                f"metric 'bleu': tokenize is {cfg.tokenize!r} (valid: {', '.join(sorted(_TOKENIZERS))})"
            )
    return BleuMetric(cfg)


def build_chrf(cfg: ChrfConfig, ctx: BuildContext) -> ChrfMetric:
    """Corpus sacreBLEU chrF (percent) with signature."""
    return ChrfMetric(cfg)


def bleu_example(tmp_dir: Any) -> dict[str, Any]:
    """Tiny instance for the conformance suite."""
    return {"target_lang": "zh"}


def chrf_example(tmp_dir: Any) -> dict[str, Any]:
    """Tiny instance for the conformance suite."""
    return {}
