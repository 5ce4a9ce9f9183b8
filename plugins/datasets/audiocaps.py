"""AudioCaps (audio captioning) from its CSVs and a downloaded clip folder.

Metadata (github.com/cdjkim/audiocaps, ``dataset/``): ``train.csv``, ``val.csv``, ``test.csv`` with
columns ``audiocap_id,youtube_id,start_time,caption``; val/test have five rows (captions) per clip.

Audio is not distributed; community downloads store the 10-s clips (already cut at ``start_time``)
under ``<root>`` (any depth), named in one of these ways, tried in this order:

- ``<youtube_id>_<start_time>.<ext>``        (aac-datasets: ``AUDIOCAPS/audio_32000Hz/<split>/``)
- ``Y<youtube_id>.<ext>``                     (AudioSet-style names)
- ``<youtube_id>.<ext>``                      (audiocaps-download and most scripts)
- ``<audiocap_id>.<ext>``                     (one file per caption row)
- ``Y<youtube_id>_<start>.000_<end>.000.<ext>`` (AudioSet segment names)

with ``<ext>`` any libsndfile format. A file found in a folder named after the split (``train``, ``val``,
``test``) wins over one elsewhere. With ``full_length_audio: true`` the files are whole YouTube videos and
the manifest reads ``[start_time, start_time + 10)``. One manifest per split: ``audiocaps_<split>.jsonl``,
``target`` = all captions of the clip (the first is the training target).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usam_toolkit.data.prepare_utils import AUDIO_SUFFIXES, ManifestWriter, prepare_report, read_csv
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import AudioCapsConfig


def candidate_stems(row: dict[str, str]) -> list[str]:
    yt, start, cap = row["youtube_id"], row["start_time"], row["audiocap_id"]
    s = int(float(start))
    return [f"{yt}_{start}", f"{yt}_{s}", f"Y{yt}", yt, cap, f"Y{yt}_{s}.000_{s + 10}.000"]


def _index_by_split(root: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file():
            index.setdefault(p.stem, []).append(p)
    return index


def pick(paths: list[Path] | None, split: str) -> Path | None:
    if not paths:
        return None
    for p in paths:
        if split in p.parts[:-1]:
            return p
    return paths[0]


class AudioCapsPreparer:
    def __init__(self, cfg: AudioCapsConfig):
        self.cfg = cfg

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``audiocaps_<split>.jsonl`` per split CSV found; returns the manifests."""
        csvs = {s: sorted(root.rglob(f"{s}.csv")) for s in self.cfg.splits}
        if not any(csvs.values()):
            raise DataError(
                f"{root}: no AudioCaps CSV ({', '.join(s + '.csv' for s in self.cfg.splits)}) found"
            )
        index = _index_by_split(root)
        report = prepare_report(out, "audiocaps")
        written = []
        for split, found in csvs.items():
            if not found:
                continue
            clips: dict[str, dict] = {}
            for lineno, row in enumerate(read_csv(found[0]), start=2):
                key = f"{row['youtube_id']}_{row['start_time']}"
                clip = clips.setdefault(key, {"row": row, "line": lineno, "captions": []})
                clip["captions"].append(row["caption"].strip())
            writer = ManifestWriter(out / f"audiocaps_{split}.jsonl", report, probe=self.cfg.probe)
            for key, clip in clips.items():
                row = clip["row"]
                stems = candidate_stems(row)
                audio = next((pick(index.get(s), split) for s in stems if index.get(s)), None)
                caps = clip["captions"]
                rec = {
                    "id": key,
                    "task": "aac",
                    "target": caps if len(caps) > 1 else caps[0],
                    "group": row["youtube_id"],
                }
                if self.cfg.full_length_audio:
                    rec["offset"] = float(row["start_time"])
                    rec["duration"] = float(self.cfg.clip_seconds)
                writer.add(
                    rec,
                    audio,
                    source=str(found[0]),
                    line=clip["line"],
                    expected=" or ".join(f"{s}.<ext>" for s in stems),
                )
            path = writer.close()
            if path:
                written.append(path)
        return written


def build_audiocaps(cfg: AudioCapsConfig, ctx: BuildContext) -> AudioCapsPreparer:
    """AudioCaps captioning manifests from train/val/test.csv + downloaded clips."""
    return AudioCapsPreparer(cfg)


def audiocaps_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
