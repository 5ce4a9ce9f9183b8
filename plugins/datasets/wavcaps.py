"""WavCaps (weakly labelled audio captioning) from the Hugging Face ``cvssp/WavCaps`` layout.

Layout::

    <root>/json_files/AudioSet_SL/as_final.json        {"num_captions_per_audio": 1, "data": [
    <root>/json_files/BBC_Sound_Effects/bbc_final.json    {"id": ..., "caption": ..., "duration": ..., ...}]}
    <root>/json_files/FreeSound/fsd_final.json
    <root>/json_files/SoundBible/sb_final.json
    <root>/.../<Source>_flac/<id>.flac   as the Zip_files extract (.../data/waveforms/AudioSet_SL_flac/...)
                                          or <root>/audio/<Source>/<id>.flac (a common re-arrangement)

``<Source>`` is the json file's folder name; AudioSet ids carry a ``.wav`` suffix that the flac names do
not. One manifest per source: ``wavcaps_<source lower-case>.jsonl``.

Test leakage: WavCaps' AudioSet_SL part holds AudioCaps' test clips (both come from AudioSet) and its
FreeSound part holds Clotho's (both come from Freesound). ``exclude_audiocaps`` and ``exclude_clotho`` take
the test manifests that ``usam prepare audiocaps`` / ``usam prepare clotho`` wrote; AudioSet_SL items whose
YouTube id, and FreeSound items whose Freesound id, appear there are left out, counted in the log and
listed in ``<out>/wavcaps_excluded.jsonl``. ``exclude_ids_file`` still takes a plain list of ids.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from usam_toolkit.data.manifest import read_manifest
from usam_toolkit.data.prepare_utils import ManifestWriter, index_audio, prepare_report
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext

from .configs import WavCapsConfig

log = logging.getLogger("usam_toolkit.data.prepare")

YOUTUBE_ID_CHARS = 11
# Which test-set id each WavCaps source shares with the corpora it overlaps (json folder name, lower case).
ID_KIND_OF_SOURCE = {"audioset_sl": "youtube", "freesound": "freesound"}


def youtube_id_of(item_id: str) -> str:
    """The YouTube id in a WavCaps AudioSet id (``Yb0RFKhbpFJA.wav`` -> ``b0RFKhbpFJA``): AudioSet names
    prefix the 11-character id with ``Y`` and may append ``_<start>``."""
    stem = Path(item_id).stem if item_id.endswith((".wav", ".flac")) else item_id
    if stem.startswith("Y") and len(stem) > YOUTUBE_ID_CHARS:
        stem = stem[1:]
    return stem[:YOUTUBE_ID_CHARS]


def held_out_ids(manifests: list[Path], key: str, fallback: str | None, how: str) -> dict[str, str]:
    """``{id: manifest}`` of field ``key`` (else ``fallback``) over every line of ``manifests``.

    Raises:
        DataError: a line without the field, naming it and how to get it.
    """
    ids: dict[str, str] = {}
    for path in manifests:
        for ex in read_manifest(path):
            value = ex.get(key) or (ex.get(fallback) if fallback else None)
            if not value:
                raise DataError(f"{ex.location}: no '{key}' to match WavCaps against ({how})")
            ids.setdefault(str(value), str(path))
    return ids


class WavCapsPreparer:
    def __init__(self, cfg: WavCapsConfig, base_dir: Path | None = None):
        self.cfg = cfg
        self.base_dir = base_dir
        #: clips left out for overlapping the given test manifests, per source (after :meth:`prepare`)
        self.leaked: dict[str, int] = {}

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    def _test_ids(self) -> dict[str, dict[str, str]]:
        """``{id kind: {id: manifest}}`` of the test manifests to keep out of training."""
        return {
            "youtube": held_out_ids(
                [self._path(m) for m in self.cfg.exclude_audiocaps],
                "youtube_id",
                "group",
                "an AudioCaps manifest written by `usam prepare audiocaps` has the YouTube id as 'group'",
            ),
            "freesound": held_out_ids(
                [self._path(m) for m in self.cfg.exclude_clotho],
                "freesound_id",
                None,
                "run `usam prepare clotho` with clotho_metadata_<split>.csv beside the captions CSV",
            ),
        }

    def _audio_dirs(self, root: Path, source: str) -> list[Path]:
        names = {source.lower(), f"{source.lower()}_flac"}
        return sorted(
            d
            for d in root.rglob("*")
            if d.is_dir() and d.name.lower() in names and "json_files" not in d.parts
        )

    def _excluded(self, root: Path) -> set[str]:
        if not self.cfg.exclude_ids_file:
            return set()
        lines = (root / self.cfg.exclude_ids_file).read_text(encoding="utf-8").splitlines()
        return {ln.split(",")[0].strip() for ln in lines if ln.strip()}

    def prepare(self, root: Path, out: Path) -> list[Path]:
        """Write ``wavcaps_<source>.jsonl`` per json file; returns the manifests."""
        jsons = [
            p
            for p in sorted(root.rglob("*.json"))
            if not self.cfg.sources or p.parent.name in self.cfg.sources
        ]
        if not jsons:
            raise DataError(
                f"{root}: no WavCaps json files found (expected json_files/<Source>/*_final.json)"
            )
        excluded = self._excluded(root)
        held_out = self._test_ids()
        leaks: list[dict[str, str]] = []
        report = prepare_report(out, "wavcaps")
        written = []
        for jpath in jsons:
            try:
                meta = json.loads(jpath.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{jpath}:{exc.lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(meta, dict) or not isinstance(meta.get("data"), list):
                continue  # not a WavCaps metadata file (e.g. a blacklist)
            source = jpath.parent.name if jpath.parent.name != "json_files" else jpath.stem
            index: dict[str, Path] = {}
            for d in self._audio_dirs(root, source):
                for stem, p in index_audio(d).items():
                    index.setdefault(stem, p)
            writer = ManifestWriter(out / f"wavcaps_{source.lower()}.jsonl", report, probe=self.cfg.probe)
            kind = ID_KIND_OF_SOURCE.get(source.lower())
            test = held_out.get(kind, {}) if kind else {}
            for n, item in enumerate(meta["data"], start=1):
                stem = Path(str(item["id"])).stem if str(item["id"]).endswith(".wav") else str(item["id"])
                if stem in excluded or str(item["id"]) in excluded:
                    continue
                key = youtube_id_of(str(item["id"])) if kind == "youtube" else stem
                if key in test:
                    leaks.append({"source": source, "id": stem, "matched": key, "test_manifest": test[key]})
                    continue
                rec = {
                    "id": stem,
                    "task": "aac",
                    "target": str(item["caption"]).strip(),
                    "group": f"wavcaps_{source}",
                }
                if item.get("duration") and not self.cfg.probe:
                    rec["duration"] = float(item["duration"])
                writer.add(
                    rec,
                    index.get(stem),
                    source=f"{jpath} (data[{n - 1}])",
                    line=n,
                    expected=f"{source}_flac/{stem}.flac",
                )
            path = writer.close()
            if path:
                written.append(path)
        self._report_leaks(leaks, held_out, out)
        return written

    def _report_leaks(
        self, leaks: list[dict[str, str]], held_out: dict[str, dict[str, str]], out: Path
    ) -> None:
        self.leaked = {}
        for leak in leaks:
            self.leaked[leak["source"]] = self.leaked.get(leak["source"], 0) + 1
        if not any(held_out.values()):
            return
        listing = out / "wavcaps_excluded.jsonl"
        listing.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in leaks), encoding="utf-8")
        log.info(
            "wavcaps: left out %d clip(s) found in the test manifests (%s; %d AudioCaps YouTube ids, "
            "%d Clotho Freesound ids given), listed in %s",
            len(leaks),
            ", ".join(f"{s}: {n}" for s, n in sorted(self.leaked.items())) or "none matched",
            len(held_out["youtube"]),
            len(held_out["freesound"]),
            listing,
        )


def build_wavcaps(cfg: WavCapsConfig, ctx: BuildContext) -> WavCapsPreparer:
    """WavCaps captioning manifests from json_files/<Source>/*.json + <Source>_flac/ audio."""
    return WavCapsPreparer(cfg, getattr(ctx, "base_dir", None))


def wavcaps_example(tmp_dir: Path) -> dict[str, Any]:
    """The defaults build it (preparing needs a corpus; building does not)."""
    return {}
