"""CoVoST 2 English -> X speech translation over Common Voice English clips.

Layout: the CoVoST 2 translation TSVs and an extracted Common Voice English release under ``<root>``
(any depth)::

    <root>/.../covost_v2.en_<lang>.tsv           released file: path, [sentence,] translation, split
    <root>/.../covost_v2.en_<lang>.<split>.tsv   or the per-split files that get_covost_splits.py writes
                                                  (path, sentence, translation, client_id)
    <root>/.../en/clips/<clip>.mp3                Common Voice clips (cv_dir points at the folder holding
    <root>/.../en/validated.tsv                   clips/ and validated.tsv when there are several)

Per-split TSVs win when both are present. When the released TSV has no ``sentence`` column, the English
transcript and speaker come from Common Voice's ``validated.tsv`` (joined on ``path``). Splits are
``train`` (with the released file's ``train_covost`` rows), ``dev`` and ``test``; a split with no TSV is
skipped with a warning. Clips are Common Voice mp3: soundfile reads them with libsndfile >= 1.1; clips
it cannot read are listed in ``<out>/covost2_skipped.jsonl``, not dropped silently. One manifest per
(language, split): ``covost2_en_<lang>_<split>.jsonl``; ``target_lang`` is the ISO 639-1 part of the
CoVoST code (``zh-CN`` -> ``zh``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from usam_toolkit.data.prepare_utils import ManifestWriter, prepare_report, read_csv
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import Covost2Config

log = logging.getLogger("usam_toolkit.data.prepare")


def _find_one(root: Path, pattern: str) -> Path | None:
    hits = sorted(root.rglob(pattern))
    return hits[0] if hits else None


class Covost2Preparer:
    def __init__(self, cfg: Covost2Config):
        self.cfg = cfg

    def _cv_dir(self, root: Path) -> Path:
        if self.cfg.cv_dir:
            d = root / self.cfg.cv_dir
            if not (d / "clips").is_dir():
                raise DataError(f"cv_dir {d} has no clips/ folder (valid: the Common Voice 'en' folder)")
            return d
        candidates = sorted(p.parent for p in root.rglob("clips") if p.is_dir())
        if not candidates:
            raise DataError(f"{root}: no Common Voice clips/ folder found (expected .../en/clips/*.mp3)")
        return candidates[0]

    def _rows(self, root: Path, cv: Path, lang: str, split: str) -> tuple[Path, list[dict[str, str]]] | None:
        per_split = _find_one(root, f"covost_v2.en_{lang}.{split}.tsv")
        if per_split is not None:
            return per_split, list(read_csv(per_split, "\t"))
        released = _find_one(root, f"covost_v2.en_{lang}.tsv")
        if released is None:
            log.warning(
                "%s: neither covost_v2.en_%s.%s.tsv nor covost_v2.en_%s.tsv found; split skipped",
                root,
                lang,
                split,
                lang,
            )
            return None
        # The released file marks extra training rows "train_covost"; CoVoST's own loaders train on both.
        accepted = {split, f"{split}_covost"} if split == "train" else {split}
        rows = [r for r in read_csv(released, "\t") if r.get("split") in accepted]
        if rows and "sentence" not in rows[0]:
            validated = cv / "validated.tsv"
            if not validated.is_file():
                raise DataError(f"{released} has no 'sentence' column and {validated} is missing to join it")
            cv_rows = {r["path"]: r for r in read_csv(validated, "\t")}
            for r in rows:
                src = cv_rows.get(r["path"], {})
                r["sentence"] = src.get("sentence", "")
                r["client_id"] = src.get("client_id", "")
        return released, rows

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``covost2_en_<lang>_<split>.jsonl`` per language and split; returns the manifests."""
        cv = self._cv_dir(root)
        report = prepare_report(out, "covost2")
        written = []
        for lang in self.cfg.target_langs:
            short = lang.split("-")[0].lower()
            for split in self.cfg.splits:
                found = self._rows(root, cv, lang, split)
                if found is None:
                    continue
                source, rows = found
                writer = ManifestWriter(
                    out / f"covost2_en_{short}_{split}.jsonl", report, probe=self.cfg.probe
                )
                for lineno, r in enumerate(rows, start=2):
                    clip = cv / "clips" / r["path"]
                    sentence = (r.get("sentence") or "").strip()
                    rec = {
                        "id": Path(r["path"]).stem,
                        "task": "s2tt",
                        "target": (r.get("translation") or "").strip(),
                        "source_text": sentence,
                        "source_lang": "en",
                        "target_lang": short,
                        "group": hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:12],
                    }
                    if r.get("client_id"):
                        rec["speaker"] = r["client_id"]
                    writer.add(
                        rec,
                        clip if clip.is_file() else None,
                        source=str(source),
                        line=lineno,
                        expected=str(clip),
                    )
                path = writer.close()
                if path:
                    written.append(path)
        if not written:
            raise DataError(
                f"{root}: no CoVoST 2 manifest could be written for "
                f"{self.cfg.target_langs} x {self.cfg.splits} "
                "(expected covost_v2.en_<lang>.tsv or covost_v2.en_<lang>.<split>.tsv and Common Voice clips)"
            )
        return written


def build_covost2(cfg: Covost2Config, ctx: BuildContext) -> Covost2Preparer:
    """CoVoST 2 en->X (default zh-CN, de) manifests from covost TSVs + Common Voice en/clips."""
    return Covost2Preparer(cfg)


def covost2_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
