"""Property-based tests: the manifest reader never fails with anything but a located DataError, and
the collator's shapes, lengths and padding agree for any mix of lengths and sample rates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usam_toolkit.data.dataset import Collator, SkippedSample
from usam_toolkit.data.manifest import Example, read_manifest
from usam_toolkit.data.report import BadSample, BadSampleReport
from usam_toolkit.errors import DataError

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Records that are close to the schema, so the checks past "is it an object" get exercised too.
keys = st.sampled_from(["id", "audio", "task", "target", "offset", "duration", "source_lang", "group", "x"])
near_records = st.dictionaries(keys, json_values, max_size=8)
LOCATED = re.compile(r":(\d+)")


def _write(tmp: Path, lines: list[bytes]) -> Path:
    path = tmp / "m.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _check(path: Path, n_lines: int, strict: bool) -> None:
    report = BadSampleReport()
    try:
        examples = read_manifest(path, strict=strict, report=report)
    except DataError as exc:
        assert strict, "lenient mode never raises for a bad line"
        m = re.match(rf"{re.escape(str(path.resolve()))}:(\d+)", str(exc))
        assert m and 1 <= int(m.group(1)) <= n_lines, str(exc)[:300]
        return
    for bad in report.samples:
        assert bad.manifest == str(path.resolve()) and 1 <= bad.line <= n_lines and bad.reason
    for ex in examples:
        assert isinstance(ex.id, str) and isinstance(ex.audio, str) and ex.references
        assert all(isinstance(r, str) for r in ex.references)
        for v in (ex.offset, ex.duration):
            assert v is None or (isinstance(v, float) and v >= 0)


@SETTINGS
@given(values=st.lists(json_values | near_records, min_size=1, max_size=6), strict=st.booleans())
def test_any_json_values_give_examples_or_a_located_data_error(tmp_path: Path, values, strict: bool) -> None:
    lines = [json.dumps(v, allow_nan=True).encode() for v in values]
    _check(_write(tmp_path, lines), len(lines), strict)


@SETTINGS
@given(
    lines=st.lists(
        st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
        min_size=1,
        max_size=6,
    ),
    strict=st.booleans(),
)
def test_any_bytes_give_examples_or_a_located_data_error(
    tmp_path: Path, lines: list[bytes], strict: bool
) -> None:
    _check(_write(tmp_path, lines), len(lines), strict)


@pytest.mark.parametrize(
    "line",
    [
        b'\xff\xfe{"id": 1}',  # not UTF-8
        b"[" * 100000 + b"]" * 100000,  # deeper than the parser's recursion limit
        b'{"id": "a", "audio": "a.wav", "task": "asr", "target": "x", "duration": ' + b"9" * 5000 + b"}",
        b'{"id": "a", "audio": "a.wav", "task": "asr", "target": "x", "duration": 1' + b"0" * 400 + b"}",
        b'{"id": "a", "audio": "a.wav", "task": "asr", "target": "x", "offset": NaN}',
        b'{"id": "a", "audio": "a.wav", "task": "asr", "target": "x", "duration": Infinity}',
    ],
)
def test_parser_edge_cases_are_located_data_errors(tmp_path: Path, line: bytes) -> None:
    path = _write(tmp_path, [b'{"id": "ok", "audio": "a.wav", "task": "asr", "target": "x"}', line])
    with pytest.raises(DataError, match=rf"{re.escape(str(path.resolve()))}:2"):
        read_manifest(path, strict=True)
    report = BadSampleReport()
    assert [e.id for e in read_manifest(path, strict=False, report=report)] == ["ok"]
    assert [b.line for b in report.samples] == [2]


# --------------------------------------------------------------------------------------------------
# Collator
# --------------------------------------------------------------------------------------------------
RATES = (8000, 16000, 24000)


def _sample(i: int, seconds: float, rates: tuple[int, ...], task: str) -> dict:
    ex = Example(
        id=f"s{i}", audio=f"/x/{i}.wav", task=task, target=f"t{i}", manifest=Path("m.jsonl"), line=i + 1
    )
    audio = {sr: torch.rand(max(1, int(seconds * sr))) + 0.1 for sr in rates}
    return {
        "example": ex,
        "audio": audio,
        "hash": f"h{i}",
        "duration": seconds,
        "prompt_left": "<",
        "prompt_right": ">",
        "target": ex.target,
        "references": [ex.target],
    }


@settings(max_examples=30, deadline=None)
@given(
    seconds=st.lists(st.floats(min_value=0.001, max_value=0.5) | st.none(), min_size=1, max_size=6),
    rates=st.sets(st.sampled_from(RATES), min_size=1).map(lambda s: tuple(sorted(s))),
    tasks=st.lists(st.sampled_from(["asr", "aac"]), min_size=6, max_size=6),
)
def test_collator_shapes_lengths_and_padding_agree(seconds, rates, tasks) -> None:
    samples = []
    for i, s in enumerate(seconds):
        if s is None:  # a sample that lenient mode skipped
            samples.append(SkippedSample(BadSample(f"s{i}", "m.jsonl", i + 1, "", "unreadable", "x")))
        else:
            samples.append(_sample(i, s, rates, tasks[i]))
    batch = Collator(["asr", "aac"])(samples)
    good = [s for s in samples if isinstance(s, dict)]
    assert len(batch) == len(good) and len(batch.skipped) == len(samples) - len(good)
    assert batch.ids == [s["example"].id for s in good]
    assert batch.task_ids.tolist() == [["asr", "aac"].index(s["example"].task) for s in good]
    assert batch.durations.shape == (len(good),)
    assert sorted(batch.audio) == (sorted(rates) if good else [])
    for sr in batch.audio:
        lengths = [s["audio"][sr].shape[-1] for s in good]
        assert batch.audio[sr].shape == (len(good), max(lengths)) and batch.audio[sr].dtype == torch.float32
        assert batch.audio_lengths[sr].tolist() == lengths
        for row, n, s in zip(batch.audio[sr], lengths, good):
            assert torch.equal(row[:n], s["audio"][sr]) and not row[n:].any()
