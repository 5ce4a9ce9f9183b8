"""COCO-caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr) via pycocoevalcap.

Every score is multiplied by 100, as captioning papers print them (CIDEr-D 0.841 -> 84.1). A sub-metric that
cannot run here (no ``java``, no Stanford CoreNLP jars for SPICE) is reported as ``None`` with the reason in
``missing``; it is never a silent zero.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from usam_toolkit.errors import ConfigError
from usam_toolkit.interfaces import BuildContext

from .common import reference_lists
from .configs import SUB_METRICS, CocoCaptionConfig

#: jars that pycocoevalcap's SPICE needs next to ``spice-1.0.jar`` (its downloader would fetch them).
CORENLP_JARS: tuple[str, ...] = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


def pycocoevalcap_dir() -> Path | None:
    """Folder of the installed pycocoevalcap package (not imported), or None."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def spice_missing() -> str | None:
    """Why SPICE cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "java not found on PATH; SPICE and SPIDEr need Java 8+"
    base = pycocoevalcap_dir()
    if base is None:
        return "pycocoevalcap is not installed; SPICE and SPIDEr need it"
    lib = base / "spice" / "lib"
    absent = [j for j in CORENLP_JARS if not (lib / j).is_file()]
    if absent:
        return f"Stanford CoreNLP jars not found in {lib} ({', '.join(absent)}); SPICE and SPIDEr need them"
    return None


def _basic_tokenize(text: str) -> str:
    from usam_toolkit.text.normalize import normalize_basic

    return normalize_basic(text)


class CocoCaptionMetric:
    """Corpus captioning scores against several references per hypothesis."""

    name = "coco_caption"

    def __init__(self, cfg: CocoCaptionConfig):
        self.cfg = cfg
        self.wanted = set(cfg.metrics)
        if "spider" in self.wanted:
            self.wanted |= {"cider_d", "spice"}
        self._meteor: Any = None

    def _meteor_scorer(self) -> Any:
        # One METEOR JVM per metric object: its start-up (a few seconds) is paid once.
        if self._meteor is None:
            from pycocoevalcap.meteor.meteor import Meteor

            self._meteor = Meteor()
        return self._meteor

    def close(self) -> None:
        """Stop the METEOR Java process, if one was started."""
        if self._meteor is not None:
            with contextlib.suppress(Exception):
                self._meteor.__del__()
            self._meteor = None

    def _tokenize(self, gts: dict[str, list[str]], res: dict[str, list[str]], missing: dict[str, str]) -> str:
        """Tokenize in place; returns the tokenizer actually used."""
        if self.cfg.tokenizer == "ptb" and shutil.which("java") is not None:
            from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

            # The PTB tokenizer reads one caption per line, so newlines inside a caption would shift every
            # later caption onto the wrong id.
            tok = PTBTokenizer()
            gts_t = tok.tokenize({k: [{"caption": c.replace("\n", " ")} for c in v] for k, v in gts.items()})
            res_t = tok.tokenize({k: [{"caption": c.replace("\n", " ")} for c in v] for k, v in res.items()})
            for k, captions in gts.items():
                gts[k] = gts_t.get(k, [""] * len(captions))
                res[k] = res_t.get(k, [""])
            return "ptb"
        if self.cfg.tokenizer == "ptb":
            missing["tokenizer"] = "java not found on PATH; the PTB tokenizer needs it, used 'basic' instead"
        for k, captions in gts.items():
            gts[k] = [_basic_tokenize(c) for c in captions]
            res[k] = [_basic_tokenize(c) for c in res[k]]
        return "basic"

    def compute(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], **kw: Any
    ) -> dict[str, Any]:
        """Score the corpus.

        Returns:
            ``bleu_1`` .. ``bleu_4``, ``meteor``, ``rouge_l``, ``cider_d``, ``spice``, ``spider`` (x100; None
            when not computed here), ``missing`` (sub-metric -> reason), ``tokenizer``, ``num_items``.
        """
        refs = reference_lists(hypotheses, references, self.name)
        missing: dict[str, str] = {}
        out: dict[str, Any] = {k: None for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4")}
        out.update({k: None for k in SUB_METRICS if k != "bleu"})
        if pycocoevalcap_dir() is None:
            for k in self.wanted:
                missing[k] = "pycocoevalcap is not installed (pip install pycocoevalcap)"
            return {**out, "missing": missing, "tokenizer": None, "num_items": len(refs)}
        keys = [str(i) for i in range(len(refs))]
        gts = {k: list(r) for k, r in zip(keys, refs)}
        res = {k: [h] for k, h in zip(keys, hypotheses)}
        # pycocoevalcap prints progress to stdout; keep stdout clean for `usam score` JSON.
        with contextlib.redirect_stdout(sys.stderr):
            out["tokenizer"] = self._tokenize(gts, res, missing)
            self._score(gts, res, out, missing)
        out["missing"] = missing
        out["num_items"] = len(refs)
        return out

    def _score(self, gts: dict, res: dict, out: dict[str, Any], missing: dict[str, str]) -> None:
        if not gts:
            return
        if "bleu" in self.wanted:
            from pycocoevalcap.bleu.bleu import Bleu

            scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
            for n, s in enumerate(scores, start=1):
                out[f"bleu_{n}"] = 100.0 * float(s)
        if "meteor" in self.wanted:
            if shutil.which("java") is None:
                missing["meteor"] = "java not found on PATH; METEOR (meteor-1.5.jar) needs Java 8+"
            else:
                score, _ = self._meteor_scorer().compute_score(gts, res)
                out["meteor"] = 100.0 * float(score)
        if "rouge_l" in self.wanted:
            from pycocoevalcap.rouge.rouge import Rouge

            score, _ = Rouge().compute_score(gts, res)
            out["rouge_l"] = 100.0 * float(score)
        if "cider_d" in self.wanted:
            from pycocoevalcap.cider.cider import Cider  # CIDEr-D: clipped tf-idf, Gaussian length penalty

            score, _ = Cider().compute_score(gts, res)
            out["cider_d"] = 100.0 * float(score)
        if "spice" in self.wanted:
            why = spice_missing()
            if why is not None:
                missing["spice"] = why
            else:
                from pycocoevalcap.spice.spice import Spice

                score, _ = Spice().compute_score(gts, res)
                out["spice"] = 100.0 * float(score)
        if "spider" in self.wanted:
            if out["cider_d"] is not None and out["spice"] is not None:
                out["spider"] = (out["cider_d"] + out["spice"]) / 2.0
            else:
                missing["spider"] = "SPIDEr = (CIDEr-D + SPICE) / 2 needs SPICE: " + missing.get("spice", "")


def build_coco_caption(cfg: CocoCaptionConfig, ctx: BuildContext) -> CocoCaptionMetric:
    """COCO-caption BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (+ SPICE/SPIDEr where CoreNLP is present)."""
    unknown = [m for m in cfg.metrics if m not in SUB_METRICS]
    if unknown:
        raise ConfigError(
            f"metric 'coco_caption': unknown sub-metric(s) {unknown} in 'metrics' "
            f"(valid: {', '.join(SUB_METRICS)})"
        )
    if cfg.tokenizer not in ("ptb", "basic"):
        raise ConfigError(f"metric 'coco_caption': tokenizer is {cfg.tokenizer!r} (valid: ptb, basic)")
    return CocoCaptionMetric(cfg)


def coco_caption_example(tmp_dir: Any) -> dict[str, Any]:
    """Tiny instance for the conformance suite (pure-Python sub-metrics only: no Java start-up)."""
    return {"metrics": ["bleu", "rouge_l", "cider_d"], "tokenizer": "basic"}
