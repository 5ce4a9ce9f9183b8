"""Word and character error rate (corpus level), jiwer alignment after text normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from usam_toolkit.interfaces import BuildContext

from .common import reference_lists
from .configs import WerConfig


def _percent(errors: int, total: int) -> float | None:
    return None if total == 0 else 100.0 * errors / total


class WerMetric:
    """Corpus WER/CER: sum of errors over all sentences divided by the number of reference words.

    Only the first reference of each item is used (ASR has one). References that are empty after
    normalisation contribute their hypothesis words as insertions and 0 reference words; when the whole
    corpus has no reference words, ``wer`` is ``None`` rather than a made-up number.
    """

    name = "wer"

    def __init__(self, cfg: WerConfig):
        from usam_toolkit.text.normalize import get_normalizer

        self.cfg = cfg
        self.normalize = get_normalizer(cfg.normalizer)

    def compute(
        self,
        hypotheses: Sequence[str],
        references: Sequence[Sequence[str]],
        *,
        paper_scoring: bool | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """Score ``hypotheses`` against the first reference of each item.

        Returns:
            ``wer`` / ``cer`` (percent, None without reference words), ``substitutions``, ``deletions``,
            ``insertions``, ``hits``, ``ref_words``, ``hyp_words``, ``num_sentences``,
            ``num_empty_references``, ``normalizer`` and, with paper scoring, ``wer_sentence_avg`` (percent,
            mean over sentences with a non-empty reference).
        """
        import jiwer

        refs = [r[0] for r in reference_lists(hypotheses, references, self.name)]
        paper = self.cfg.paper_scoring if paper_scoring is None else paper_scoring
        counts = {"substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0}
        ref_words = hyp_words = empty = 0
        char_errors = ref_chars = 0
        sentence_wers: list[float] = []
        for hyp_raw, ref_raw in zip(hypotheses, refs):
            hyp, ref = self.normalize(hyp_raw), self.normalize(ref_raw)
            n_hyp, n_ref = len(hyp.split()), len(ref.split())
            hyp_words += n_hyp
            if n_ref == 0:
                # Undefined sentence WER: every hypothesis word is an insertion.
                empty += 1
                counts["insertions"] += n_hyp
                char_errors += len(hyp)
                continue
            out = jiwer.process_words(ref, hyp) if n_hyp else None
            if out is None:  # empty hypothesis: everything deleted
                s, d, i, h = 0, n_ref, 0, 0
            else:
                s, d, i, h = out.substitutions, out.deletions, out.insertions, out.hits
            counts["substitutions"] += s
            counts["deletions"] += d
            counts["insertions"] += i
            counts["hits"] += h
            ref_words += n_ref
            sentence_wers.append(100.0 * (s + d + i) / n_ref)
            if self.cfg.cer:
                ref_chars += len(ref)
                if hyp:
                    c = jiwer.process_characters(ref, hyp)
                    char_errors += c.substitutions + c.deletions + c.insertions
                else:
                    char_errors += len(ref)
        errors = counts["substitutions"] + counts["deletions"] + counts["insertions"]
        result: dict[str, Any] = {"wer": _percent(errors, ref_words)}
        if self.cfg.cer:
            result["cer"] = _percent(char_errors, ref_chars)
        result.update(counts)
        result.update(
            ref_words=ref_words,
            hyp_words=hyp_words,
            num_sentences=len(refs),
            num_empty_references=empty,
            normalizer=self.cfg.normalizer,
        )
        if paper:
            result["wer_sentence_avg"] = sum(sentence_wers) / len(sentence_wers) if sentence_wers else None
        return result


def build_wer(cfg: WerConfig, ctx: BuildContext) -> WerMetric:
    """Corpus WER/CER (percent) after Whisper-style normalisation, with S/D/I/hit counts."""
    if cfg.normalizer not in ("english", "basic", "none"):
        from usam_toolkit.errors import ConfigError

        raise ConfigError(f"metric 'wer': normalizer is {cfg.normalizer!r} (valid: english, basic, none)")
    return WerMetric(cfg)


def wer_example(tmp_dir: Any) -> dict[str, Any]:
    """Tiny instance for the conformance suite (no files needed)."""
    return {"normalizer": "basic"}
