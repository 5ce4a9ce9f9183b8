"""Built-in metrics: wer, bleu, chrf, coco_caption, sentence_similarity (see docs/scoring.md).

Package shape (as for every built-in kind): this file holds the hook and lazy trampolines, so listing
plugins imports no scorer; :mod:`.configs` the config dataclasses; ``<name>.py`` the metric with its
``build_<name>`` and ``<name>_example``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.hookspecs import RegisterFn, hookimpl
from usam_toolkit.interfaces import BuildContext


def build_wer(cfg: Any, ctx: BuildContext) -> Any:
    """Corpus WER/CER (percent) after Whisper-style normalisation, with S/D/I/hit counts."""
    from .wer import build_wer as build

    return build(cfg, ctx)


def wer_example(tmp_dir: Path) -> dict[str, Any]:
    from .wer import wer_example as example

    return example(tmp_dir)


def build_bleu(cfg: Any, ctx: BuildContext) -> Any:
    """Corpus sacreBLEU (zh tokenizer for Chinese, char for Japanese, 13a otherwise) with signature."""
    from .bleu import build_bleu as build

    return build(cfg, ctx)


def bleu_example(tmp_dir: Path) -> dict[str, Any]:
    from .bleu import bleu_example as example

    return example(tmp_dir)


def build_chrf(cfg: Any, ctx: BuildContext) -> Any:
    """Corpus sacreBLEU chrF (percent) with signature."""
    from .bleu import build_chrf as build

    return build(cfg, ctx)


def chrf_example(tmp_dir: Path) -> dict[str, Any]:
    from .bleu import chrf_example as example

    return example(tmp_dir)


def build_coco_caption(cfg: Any, ctx: BuildContext) -> Any:
    """COCO-caption BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (+ SPICE/SPIDEr where CoreNLP is present)."""
    from .coco_caption import build_coco_caption as build

    return build(cfg, ctx)


def coco_caption_example(tmp_dir: Path) -> dict[str, Any]:
    from .coco_caption import coco_caption_example as example

    return example(tmp_dir)


def build_sentence_similarity(cfg: Any, ctx: BuildContext) -> Any:
    """Cosine similarity of mean-pooled embeddings from a local encoder (default: all-MiniLM-L6-v2)."""
    from .sentence_similarity import build_sentence_similarity as build

    return build(cfg, ctx)


def sentence_similarity_example(tmp_dir: Path) -> dict[str, Any]:
    from .sentence_similarity import sentence_similarity_example as example

    return example(tmp_dir)


@hookimpl
def usam_register_metrics(register: RegisterFn) -> None:
    """Register the built-in metrics."""
    from . import configs as c

    register("wer", build_wer, c.WerConfig, requires=("jiwer",), example=wer_example)
    register("bleu", build_bleu, c.BleuConfig, requires=("sacrebleu",), example=bleu_example)
    register("chrf", build_chrf, c.ChrfConfig, requires=("sacrebleu",), example=chrf_example)
    register(
        "coco_caption",
        build_coco_caption,
        c.CocoCaptionConfig,
        requires=("pycocoevalcap",),
        example=coco_caption_example,
    )
    register(
        "sentence_similarity",
        build_sentence_similarity,
        c.SentenceSimilarityConfig,
        requires=("transformers", "torch"),
        example=sentence_similarity_example,
    )
