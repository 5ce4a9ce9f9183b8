"""MusicCaps (music captioning) from ``musiccaps-public.csv`` and downloaded clips.

Metadata (Kaggle/Hugging Face ``google/MusicCaps``): ``musiccaps-public.csv`` with columns
``ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,author_id,is_balanced_subset,
is_audioset_eval``. Audio is not distributed; the 10-s clips (already cut) are looked up under
``<root>`` (any depth) as, in this order:

- ``<ytid>.<ext>``                  (the common download scripts)
- ``[<ytid>]-[<start_s>-<end_s>].<ext>`` (yt-dlp templates used by several downloaders)
- ``<ytid>_<start_s>-<end_s>.<ext>``, ``<ytid>_<start_s>_<end_s>.<ext>``, ``<ytid>_<start_s>.<ext>``
- ``Y<ytid>.<ext>``

Split: ``is_audioset_eval == True`` -> ``test`` (the usual evaluation set of 2,858 clips), else
``train``. With ``full_length_audio: true`` the files are whole videos read at ``[start_s, end_s)``.
Manifests: ``musiccaps_train.jsonl``, ``musiccaps_test.jsonl``; ``aspect_list`` goes to an extra field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.data.prepare_utils import ManifestWriter, index_audio, prepare_report, read_csv
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import MusicCapsConfig


def candidate_stems(row: dict[str, str]) -> list[str]:
    yt, s, e = row["ytid"], row["start_s"], row["end_s"]
    return [yt, f"[{yt}]-[{s}-{e}]", f"{yt}_{s}-{e}", f"{yt}_{s}_{e}", f"{yt}_{s}", f"Y{yt}"]


class MusicCapsPreparer:
    def __init__(self, cfg: MusicCapsConfig):
        self.cfg = cfg

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``musiccaps_{train,test}.jsonl``; returns the manifests."""
        found = sorted(root.rglob("musiccaps-public.csv"))
        if not found:
            raise DataError(f"{root}: musiccaps-public.csv not found (download the MusicCaps metadata)")
        index = index_audio(root)
        report = prepare_report(out, "musiccaps")
        writers = {
            s: ManifestWriter(out / f"musiccaps_{s}.jsonl", report, probe=self.cfg.probe)
            for s in ("train", "test")
        }
        for lineno, row in enumerate(read_csv(found[0]), start=2):
            split = "test" if row.get("is_audioset_eval", "").strip().lower() == "true" else "train"
            stems = candidate_stems(row)
            audio = next((index[s] for s in stems if s in index), None)
            rec = {"id": row["ytid"], "task": "mc", "target": row["caption"].strip(), "group": row["ytid"]}
            if row.get("aspect_list"):
                rec["aspect_list"] = row["aspect_list"]
            if self.cfg.full_length_audio:
                rec["offset"] = float(row["start_s"])
                rec["duration"] = float(row["end_s"]) - float(row["start_s"])
            writers[split].add(
                rec,
                audio,
                source=str(found[0]),
                line=lineno,
                expected=" or ".join(f"{s}.<ext>" for s in stems),
            )
        return [p for p in (w.close() for w in writers.values()) if p]


def build_musiccaps(cfg: MusicCapsConfig, ctx: BuildContext) -> MusicCapsPreparer:
    """MusicCaps music-captioning manifests from musiccaps-public.csv + <ytid>.wav clips."""
    return MusicCapsPreparer(cfg)


def musiccaps_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
