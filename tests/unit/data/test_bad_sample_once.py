"""Bad-sample reporting: each manifest line once per report (across epochs and worker processes), a
console summary, problems met in line order, and messages that say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.data.report import BadSample, BadSampleReport
from usam_toolkit.errors import DataError


def _bad(line: int, reason: str = "missing") -> BadSample:
    return BadSample(f"id{line}", "/m.jsonl", line, f"/a{line}.wav", reason, "why", "load")


def test_a_line_is_written_once_however_many_reports_meet_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    first, second = BadSampleReport(path), BadSampleReport(path)  # e.g. two DataLoader workers
    assert first.add(_bad(3)) is True
    assert first.add(_bad(3)) is False  # the same report, the next epoch
    assert second.add(_bad(3)) is False  # another process: found in the file
    assert second.add(_bad(4, "unreadable")) is True
    assert [(b.line, b.reason) for b in BadSampleReport.read(path)] == [(3, "missing"), (4, "unreadable")]
    assert len(first) == 1 and len(second) == 1


def test_a_report_without_a_file_counts_each_line_once() -> None:
    report = BadSampleReport()
    for _ in range(3):
        report.add(_bad(7))
    assert len(report) == 1 and report.counts == {"missing": 1}


def test_summary_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    assert BadSampleReport.summary(path) is None
    report = BadSampleReport(path)
    for line, reason in ((2, "missing"), (5, "unreadable"), (9, "missing")):
        report.add(_bad(line, reason))
    assert BadSampleReport.summary(path) == (
        f"skipped 3 manifest lines (missing=2, unreadable=1); each is listed in {path}"
    )


def test_training_reports_each_bad_line_once_over_epochs_and_workers(
    tmp_path, write_audio, write_jsonl, tasks
) -> None:
    from usam_toolkit.data.config import DataConfig
    from usam_toolkit.data.loader import build_dataloader

    for k in range(3):
        write_audio(tmp_path / f"good{k}.wav", 0.3)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "good0.wav").read_bytes()[:30])
    records = [
        {"id": f"good{k}", "audio": f"good{k}.wav", "task": "asr", "target": "x", "duration": 0.3}
        for k in range(3)
    ]
    # Durations are given, so nothing is probed: both fail when loaded, in every epoch.
    records += [
        {"id": "gone", "audio": "gone.wav", "task": "asr", "target": "x", "duration": 0.3},
        {"id": "cut", "audio": "cut.wav", "task": "asr", "target": "x", "duration": 0.3},
    ]
    m = write_jsonl(tmp_path / "m.jsonl", records)
    report = tmp_path / "bad_samples.jsonl"
    cfg = DataConfig(
        on_bad_sample="skip",
        bad_sample_report=str(report),
        num_workers=2,
        batch_seconds=1.0,
        max_batch_size=2,
    )
    loader, sampler = build_dataloader([m.name], [16000], tasks, cfg, train=True, seed=1, base_dir=tmp_path)
    skipped_per_epoch = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        skipped_per_epoch.append(sorted(b.id for batch in loader for b in batch.skipped))
    assert skipped_per_epoch == [["cut", "gone"]] * 3  # the batches still say what they dropped
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert sorted((r["id"], r["line"], r["reason"]) for r in rows) == [
        ("cut", 5, "unreadable"),
        ("gone", 4, "missing"),
    ]


def test_train_prints_how_many_lines_were_skipped_and_where(tmp_path: Path, capsys) -> None:
    from omegaconf import OmegaConf

    from usam_toolkit.pipeline import _print_skips

    path = tmp_path / "bad_samples.jsonl"
    cfg = OmegaConf.create({"data": {"bad_sample_report": str(path)}})
    _print_skips(cfg, "run ended")
    assert capsys.readouterr().err == ""  # nothing skipped, nothing said
    BadSampleReport(path).add(_bad(2))
    _print_skips(cfg, "run ended")
    assert capsys.readouterr().err == (
        f"[train] run ended: skipped 1 manifest line (missing=1); each is listed in {path}\n"
    )


def test_a_directory_given_as_audio_is_called_one(tmp_path: Path, write_jsonl) -> None:
    from usam_toolkit.data.validate import validate_manifests

    (tmp_path / "clips").mkdir()
    m = write_jsonl(tmp_path / "m.jsonl", [{"id": "d", "audio": "clips", "task": "asr", "target": "x"}])
    with pytest.raises(DataError) as err:
        validate_manifests([m], progress=False)
    expected = f"not_a_file: audio path {tmp_path / 'clips'} is a directory (valid: an audio file)"
    assert expected in str(err.value)
    assert "does not exist" not in str(err.value)


def test_malformed_json_message_reads_once(tmp_path: Path) -> None:
    from usam_toolkit.data.manifest import read_manifest

    m = tmp_path / "m.jsonl"
    m.write_text('{"id": "x", "audio": "a.wav')  # a manifest cut in its last line
    with pytest.raises(DataError) as err:
        read_manifest(m)
    # The string left open starts at the quote in column 22.
    assert "malformed JSON (Unterminated string starting at column 22)" in str(err.value)
    assert "at at" not in str(err.value)


def test_strict_validate_data_meets_problems_in_line_order(tmp_path: Path, write_audio, write_jsonl) -> None:
    from usam_toolkit.data.validate import validate_manifests

    write_audio(tmp_path / "ok.wav", 0.3)
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "a", "audio": "ok.wav", "task": "asr", "target": "x"},
            {"id": "b", "audio": "gone.wav", "task": "asr", "target": "x"},
            {"id": "c", "audio": "ok.wav", "task": "asr", "target": "x"},
            '{"id": "d", "audio": ',
        ],
    )
    with pytest.raises(DataError, match=r"m\.jsonl:2 \(id=b, audio=.*gone\.wav\): missing"):
        validate_manifests([m], progress=False)
    report = BadSampleReport()
    summary = validate_manifests([m], strict=False, report=report, progress=False)[0]
    assert [(b.line, b.reason) for b in report.samples] == [(2, "missing"), (4, "malformed_json")]
    assert (summary.audio_ok, summary.bad) == (2, 2)
