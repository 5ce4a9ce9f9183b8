"""Manifest schema: valid lines load; every bad line names path:line and what would be valid."""

from __future__ import annotations

import pytest

from usam_toolkit.data.manifest import read_manifest
from usam_toolkit.data.report import BadSampleReport
from usam_toolkit.errors import DataError

TASKS = {"asr", "s2tt", "aac", "mc"}


def test_valid_manifest(tmp_path, write_jsonl):
    m = write_jsonl(
        tmp_path / "sub" / "m.jsonl",
        [
            {"id": "a", "audio": "wav/a.wav", "task": "asr", "target": "hello", "speaker": "s1"},
            "",
            {
                "id": "b",
                "audio": "/abs/b.flac",
                "task": "aac",
                "target": ["one", "two"],
                "offset": 1,
                "duration": 2.5,
                "prompt": "What is this?",
                "custom": 7,
            },
        ],
    )
    ex = read_manifest(m, known_tasks=TASKS)
    assert [e.id for e in ex] == ["a", "b"]
    assert ex[0].audio == str(tmp_path / "sub" / "wav" / "a.wav")
    assert ex[0].line == 1 and ex[1].line == 3
    assert ex[1].audio == "/abs/b.flac"
    assert ex[1].references == ["one", "two"] and ex[1].first_target == "one"
    assert ex[1].offset == 1.0 and ex[1].duration == 2.5 and ex[1].prompt == "What is this?"
    assert ex[1].extra == {"custom": 7}
    assert ex[0].manifest == m.resolve()


BAD_LINES = [
    ('{"id": "x", "audio": "a.wav", "task": "asr", "target": "t"', "malformed_json", "malformed JSON"),
    ("[1, 2]", "schema", "valid: a JSON object"),
    ({"id": "x", "audio": "a.wav", "task": "asr"}, "schema", "missing key 'target'"),
    ({"id": "x", "audio": "a.wav", "task": "asr", "target": []}, "schema", "non-empty list of strings"),
    ({"id": "", "audio": "a.wav", "task": "asr", "target": "t"}, "schema", "'id' is ''"),
    (
        {"id": "x", "audio": "a.wav", "task": "asr", "target": "t", "offset": -1},
        "schema",
        "valid: a number of seconds >= 0",
    ),
    (
        {"id": "x", "audio": "a.wav", "task": "asr", "target": "t", "duration": "3"},
        "schema",
        "'duration' is '3'",
    ),
    ({"id": "x", "audio": "a.wav", "task": "asrr", "target": "t"}, "unknown_task", "Did you mean 'asr'?"),
]


@pytest.mark.parametrize("line,reason,text", BAD_LINES)
def test_bad_line_strict_names_location(tmp_path, write_jsonl, line, reason, text):
    good = {"id": "ok", "audio": "a.wav", "task": "asr", "target": "t"}
    m = write_jsonl(tmp_path / "m.jsonl", [good, line])
    with pytest.raises(DataError) as err:
        read_manifest(m, known_tasks=TASKS)
    msg = str(err.value)
    assert f"{m.resolve()}:2" in msg
    assert reason in msg and text in msg
    assert "valid" in msg or "Did you mean" in msg


@pytest.mark.parametrize("line,reason,text", BAD_LINES)
def test_bad_line_lenient_skips_and_reports(tmp_path, write_jsonl, line, reason, text):
    good = {"id": "ok", "audio": "a.wav", "task": "asr", "target": "t"}
    m = write_jsonl(tmp_path / "m.jsonl", [good, line, {**good, "id": "ok2"}])
    report = BadSampleReport(tmp_path / "bad.jsonl")
    ex = read_manifest(m, strict=False, known_tasks=TASKS, report=report)
    assert [e.id for e in ex] == ["ok", "ok2"]
    written = BadSampleReport.read(tmp_path / "bad.jsonl")
    assert len(written) == 1 and written[0].line == 2 and written[0].reason == reason
    assert text in written[0].detail and written[0].manifest == str(m.resolve())


def test_duplicate_id(tmp_path, write_jsonl):
    rec = {"id": "dup", "audio": "a.wav", "task": "asr", "target": "t"}
    m = write_jsonl(tmp_path / "m.jsonl", [rec, rec])
    with pytest.raises(DataError, match=r"m\.jsonl:2 \(id=dup.*already used on line 1"):
        read_manifest(m)


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_manifest(tmp_path / "none.jsonl")
