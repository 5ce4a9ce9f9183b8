"""End-to-end checks of the tiny mini world: schema, determinism, reuse, disjoint splits, human test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from usam_toolkit.mini.build import SCALES, TASKS
from usam_toolkit.mini.speech import sentence_group

SPLITS = ("train", "dev", "test")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _validate(path: Path) -> list[dict]:
    """Validate with the data layer's reader when it exists, else check the schema fields here."""
    records = _records(path)
    try:
        from usam_toolkit.data.manifest import read_manifest
    except ImportError:
        read_manifest = None
    if read_manifest is not None:
        examples = read_manifest(path, strict=True, known_tasks=TASKS)
        assert [e.id for e in examples] == [r["id"] for r in records]
    allowed = {
        "id",
        "audio",
        "duration",
        "task",
        "target",
        "source_text",
        "source_lang",
        "target_lang",
        "speaker",
        "group",
    }
    for rec in records:
        assert set(rec) <= allowed, rec
        assert isinstance(rec["id"], str) and rec["id"]
        assert not Path(rec["audio"]).is_absolute()
        assert rec["task"] in TASKS
        assert isinstance(rec["duration"], float) and rec["duration"] > 0
        assert isinstance(rec["group"], str) and rec["group"]
        if rec["task"] in ("aac", "mc"):
            assert isinstance(rec["target"], list) and 3 <= len(rec["target"]) <= 5
            assert len(set(rec["target"])) == len(rec["target"])
        else:
            assert isinstance(rec["target"], str) and rec["target"].strip()
            assert rec["source_lang"] == "en" and rec["speaker"]
        if rec["task"] == "s2tt":
            assert rec["target_lang"] == "fr" and rec["source_text"]
    return records


def _world(out: Path) -> dict[str, list[dict]]:
    return {split: _validate(out / f"{split}.jsonl") for split in SPLITS}


def test_manifests_validate_and_match_world_json(tiny_world: Path) -> None:
    world = _world(tiny_world)
    summary = json.loads((tiny_world / "world.json").read_text())
    assert summary["scale"] == "tiny" and summary["seed"] == 0
    assert all(summary["sources"][p]["version"] for p in summary["sources"])
    for split in SPLITS:
        per_task = {t: [r for r in world[split] if r["task"] == t] for t in TASKS}
        for task in TASKS:
            assert per_task[task], f"no {task} example in {split}"
            assert summary["counts"][task][split] == len(per_task[task])
            assert _records(tiny_world / f"{split}_{task}.jsonl") == per_task[task]
    spec = SCALES["tiny"]
    assert summary["counts"]["mc"] == spec.mc and summary["counts"]["aac"] == spec.aac
    ids = [r["id"] for split in SPLITS for r in world[split]]
    assert len(ids) == len(set(ids))


def test_audio_files_exist_with_manifest_durations(tiny_world: Path) -> None:
    for records in _world(tiny_world).values():
        for rec in records:
            info = sf.info(str(tiny_world / rec["audio"]))
            assert info.channels == 1
            assert rec["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)
            assert 0.3 <= rec["duration"] <= 8.5, rec


def test_same_seed_gives_identical_manifests_and_audio(tiny_world: Path, tiny_world_again: Path) -> None:
    names = sorted(p.name for p in tiny_world.glob("*.json*"))
    assert names == sorted(p.name for p in tiny_world_again.glob("*.json*"))
    assert len(names) == 1 + 3 + 3 * 4
    for name in names:
        assert (tiny_world / name).read_bytes() == (tiny_world_again / name).read_bytes(), name
    for rec in _records(tiny_world / "train.jsonl")[::3]:
        assert (tiny_world / rec["audio"]).read_bytes() == (tiny_world_again / rec["audio"]).read_bytes()


def test_second_run_reuses_audio(tiny_world: Path) -> None:
    from usam_toolkit.cli import main

    stamps = {p: p.stat().st_mtime_ns for p in (tiny_world / "audio").rglob("*.wav")}
    before = (tiny_world / "train.jsonl").read_bytes()
    assert main(["mini", "build", "--scale", "tiny", "--out", str(tiny_world), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (tiny_world / "audio").rglob("*.wav")} == stamps
    assert (tiny_world / "train.jsonl").read_bytes() == before


def _sentences(rec: dict) -> set[str]:
    if rec["task"] == "asr":
        return {sentence_group(rec["target"])}
    if rec["task"] == "s2tt":
        return {sentence_group(rec["source_text"])}
    return set()


def test_train_dev_test_share_no_group_sentence_prompt_or_voice(tiny_world: Path) -> None:
    world = _world(tiny_world)
    human_prompt_audio = {
        s: {r["audio"] for r in world[s] if r["audio"].startswith("audio/speech/")} for s in SPLITS
    }
    for a, b in (("train", "test"), ("train", "dev"), ("dev", "test")):
        assert not {r["group"] for r in world[a]} & {r["group"] for r in world[b]}
        assert not set().union(*map(_sentences, world[a])) & set().union(*map(_sentences, world[b]))
        assert not human_prompt_audio[a] & human_prompt_audio[b]
    # Synthetic voices are for training only.
    for split in ("dev", "test"):
        assert not [r for r in world[split] if str(r.get("speaker", "")).startswith("espeak-ng:")]
    assert [r for r in world["train"] if str(r.get("speaker", "")).startswith("espeak-ng:")]


def test_speech_test_split_is_human_only(tiny_world: Path) -> None:
    test = [r for r in _records(tiny_world / "test.jsonl") if r["task"] in ("asr", "s2tt")]
    assert {r["task"] for r in test} == {"asr", "s2tt"}
    for rec in test:
        assert rec["audio"].startswith("audio/speech/"), rec
        assert not rec["speaker"].startswith("espeak-ng:")
    # The LibriVox reader is held out: heard in test, never in training.
    assert any(r["speaker"].startswith("librivox") for r in test)
    train_speakers = {r.get("speaker") for r in _records(tiny_world / "train.jsonl")}
    assert not any(str(s).startswith("librivox") for s in train_speakers)


def test_another_seed_plans_another_world(tiny_world: Path) -> None:
    from usam_toolkit.mini.build import load_sources, plan_events, plan_music, plan_speech

    src, spec = load_sources(), SCALES["tiny"]
    for plan in (plan_speech, plan_events):
        assert [c.entry["id"] for c in plan(src, spec, 0)] != [c.entry["id"] for c in plan(src, spec, 1)]
    ids = [c.entry["id"] for c in plan_music(src, spec, 0, tiny_world)]
    assert ids == [c.entry["id"] for c in plan_music(src, spec, 0, tiny_world)]
    assert ids != [c.entry["id"] for c in plan_music(src, spec, 1, tiny_world)]


def test_folder_of_another_builder_version_is_refused(tmp_path: Path) -> None:
    from usam_toolkit.errors import DataError
    from usam_toolkit.mini.build import build_world

    (tmp_path / "world.json").write_text(json.dumps({"builder_version": -1}))
    with pytest.raises(DataError, match="builder version -1"):
        build_world(tmp_path, scale="tiny", progress=False)
    with pytest.raises(DataError, match="unknown mini-world scale 'huge'.*tiny, small"):
        build_world(tmp_path / "x", scale="huge", progress=False)


def test_text_tts_world_writes_the_espeak_only_asr_manifest(tmp_path: Path, monkeypatch) -> None:
    import dataclasses

    from usam_toolkit.mini import build, debian

    missing = debian.missing_packages([*debian.PACKAGES, *debian.SPEECH_PACKAGES])
    if missing:
        pytest.skip(f"the speech world needs the Debian packages: {', '.join(missing)}")
    # The tiny world plus 4 synthetic sentences: espeak-ng and flite alternate, so 2 of each.
    monkeypatch.setitem(build.SCALES, "tiny", dataclasses.replace(SCALES["tiny"], asr_text_tts=4))
    summary = build.build_world(tmp_path / "w", scale="tiny", seed=0, progress=False)
    train = _records(tmp_path / "w" / "train_asr.jsonl")
    espeak = _records(tmp_path / "w" / "train_asr_espeak.jsonl")
    flite = [r for r in train if r["speaker"].startswith("flite:")]
    assert len(flite) == 2
    assert espeak == [r for r in train if not r["speaker"].startswith("flite:")]
    assert sum(r["id"].startswith("asr-text-") for r in espeak) == 2
    assert summary["manifests"]["train_asr_espeak"] == "train_asr_espeak.jsonl"
