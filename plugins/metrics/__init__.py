"""Built-in metrics: wer, bleu, chrf, coco_caption, sentence_similarity (see docs/scoring.md)."""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


@hookimpl
def usam_register_metrics(register: RegisterFn) -> None:
    """Register the built-in metrics."""
    from .bleu import BleuConfig, ChrfConfig, bleu_example, build_bleu, build_chrf, chrf_example
    from .coco_caption import CocoCaptionConfig, build_coco_caption, coco_caption_example
    from .sentence_similarity import (
        SentenceSimilarityConfig,
        build_sentence_similarity,
        sentence_similarity_example,
    )
    from .wer import WerConfig, build_wer, wer_example

    register("wer", build_wer, WerConfig, requires=("jiwer",), example=wer_example)
    register("bleu", build_bleu, BleuConfig, requires=("sacrebleu",), example=bleu_example)
    register("chrf", build_chrf, ChrfConfig, requires=("sacrebleu",), example=chrf_example)
    register(
        "coco_caption",
        build_coco_caption,
        CocoCaptionConfig,
        requires=("pycocoevalcap",),
        example=coco_caption_example,
    )
    register(
        "sentence_similarity",
        build_sentence_similarity,
        SentenceSimilarityConfig,
        requires=("transformers", "torch"),
        example=sentence_similarity_example,
    )
