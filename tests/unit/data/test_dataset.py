"""AudioDataset + Collator: one decode to every rate, length policy, bad samples in both modes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from usam_toolkit.data.config import DataConfig
from usam_toolkit.data.dataset import AudioDataset, Collator, SkippedSample
from usam_toolkit.data.manifest import read_manifest
from usam_toolkit.data.report import BadSampleReport
from usam_toolkit.errors import DataError


def _ds(examples, tasks, train=False, **cfg):
    return AudioDataset(examples, [16000, 24000], tasks, train=train, config=DataConfig(**cfg), seed=3)


def test_one_decode_feeds_two_rates(tmp_path, write_audio, write_jsonl, tasks, monkeypatch):
    write_audio(tmp_path / "a.wav", seconds=1.0, sr=44100, channels=2)
    m = write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "audio": "a.wav", "task": "asr", "target": "hi"}])
    ds = _ds(read_manifest(m), tasks)
    calls = []
    real = sf.read
    monkeypatch.setattr(sf, "read", lambda *a, **k: calls.append(a) or real(*a, **k))
    item = ds[0]
    assert len(calls) == 1
    assert item["audio"][16000].shape == (16000,) and item["audio"][24000].shape == (24000,)
    assert item["duration"] == pytest.approx(1.0)
    assert ds.durations == [pytest.approx(1.0)]  # probed from the header


def test_collate_pads_per_rate_and_fills_batch(tmp_path, write_audio, write_jsonl, tasks):
    write_audio(tmp_path / "a.wav", 0.5, 16000)
    write_audio(tmp_path / "b.flac", 0.25, 8000)
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "a", "audio": "a.wav", "task": "asr", "target": "hi"},
            {"id": "b", "audio": "b.flac", "task": "aac", "target": ["c1", "c2"]},
        ],
    )
    ds = _ds(read_manifest(m), tasks)
    batch = Collator(["asr", "s2tt", "aac", "mc"])([ds[0], ds[1]])
    assert len(batch) == 2 and batch.ids == ["a", "b"]
    assert batch.task_ids.tolist() == [0, 2]
    assert batch.audio[16000].shape == (2, 8000) and batch.audio_lengths[16000].tolist() == [8000, 4000]
    assert batch.audio[24000].shape == (2, 12000) and batch.audio_lengths[24000].tolist() == [12000, 6000]
    assert torch.all(batch.audio[16000][1, 4000:] == 0)
    assert batch.audio_seconds == pytest.approx(0.75)
    assert batch.targets == ["hi", "c1"] and batch.references == [["hi"], ["c1", "c2"]]
    assert batch.prompts_left == ["<Audio>", "<Audio>"]
    assert batch.prompts_right == [
        "</Audio> Transcribe the speech into text.",
        "</Audio> Describe the audio in a sentence.",
    ]
    assert len(set(batch.audio_hashes)) == 2
    moved = batch.to("cpu")
    assert moved.audio[16000].device.type == "cpu" and moved.ids == batch.ids


def test_hash_depends_on_content_not_name(tmp_path, write_audio, write_jsonl, tasks):
    write_audio(tmp_path / "a.wav", 0.5)
    write_audio(tmp_path / "copy.wav", 0.5)
    write_audio(tmp_path / "other.wav", 0.5, freq=300)
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [{"id": n, "audio": f"{n}.wav", "task": "asr", "target": "t"} for n in ("a", "copy", "other")],
    )
    ds = _ds(read_manifest(m), tasks)
    h = [ds[i]["hash"] for i in range(3)]
    assert h[0] == h[1] != h[2]


def _long_manifest(tmp_path, write_audio, write_jsonl):
    write_audio(tmp_path / "long.wav", 5.0, 8000)
    write_audio(tmp_path / "short.wav", 1.0, 8000)
    return write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "long", "audio": "long.wav", "task": "aac", "target": "t"},
            {"id": "short", "audio": "short.wav", "task": "aac", "target": "t"},
        ],
    )


def test_length_policy_crop_is_training_only(tmp_path, write_audio, write_jsonl, tasks):
    ex = read_manifest(_long_manifest(tmp_path, write_audio, write_jsonl))
    train = _ds(ex, tasks, train=True, max_seconds=2.0, length_policy="crop")
    assert train.durations == [2.0, 1.0] and train.length_stats == {"aac": 1}
    item = train[0]
    assert item["audio"][16000].shape[-1] == 32000
    start, dur = train.span(0)
    assert dur == 2.0 and 0.0 <= start <= 3.0
    assert train.span(0) == start_dur_again(train)  # same seed+epoch -> same window
    train.set_epoch(1)
    assert train.span(0) != (start, dur)
    evaluation = _ds(ex, tasks, train=False, max_seconds=2.0, length_policy="crop")
    assert evaluation.span(0) == (None, None)
    assert evaluation[0]["audio"][16000].shape[-1] == 80000  # never cropped at evaluation


def start_dur_again(ds):
    return ds.span(0)


def test_length_policy_skip_and_split(tmp_path, write_audio, write_jsonl, tasks):
    ex = read_manifest(_long_manifest(tmp_path, write_audio, write_jsonl))
    skip = _ds(ex, tasks, train=True, max_seconds=2.0, length_policy="skip")
    assert [e.id for e in skip.examples] == ["short"]
    split = _ds(ex, tasks, train=True, max_seconds=2.0, length_policy="split")
    assert [e.id for e in split.examples] == ["long@0", "long@1", "long@2", "short"]
    assert split.durations == pytest.approx([2.0, 2.0, 1.0, 1.0])
    assert split[2]["audio"][16000].shape[-1] == 16000  # [4 s, 5 s)


def _bad_files(tmp_path, write_audio):
    """Every bad-audio case; returns {id: (file name, expected reason)}."""
    sr = 16000
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF0000WAVEfmt garbage" * 4)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), sr)
    sf.write(tmp_path / "zeros.wav", np.zeros(sr, np.float32), sr)
    x = np.full(sr, 0.1, np.float32)
    x[5] = np.nan
    sf.write(tmp_path / "nan.wav", x, sr, subtype="FLOAT")
    y = np.full(sr, 0.1, np.float32)
    y[7] = np.inf
    sf.write(tmp_path / "inf.wav", y, sr, subtype="FLOAT")
    sf.write(tmp_path / "odd.wav", np.full(2000, 0.1, np.float32), 1000)
    write_audio(tmp_path / "good.wav", 0.5)
    return {
        "missing": ("gone.wav", "missing"),
        "corrupt": ("corrupt.wav", "unreadable"),
        "empty": ("empty.wav", "empty"),
        "zeros": ("zeros.wav", "silent"),
        "nan": ("nan.wav", "non_finite"),
        "inf": ("inf.wav", "non_finite"),
        "odd": ("odd.wav", "odd_sample_rate"),
        "absurd": ("good.wav", "too_long"),  # manifest claims 10 h
    }


def _bad_manifest(tmp_path, write_audio, write_jsonl):
    cases = _bad_files(tmp_path, write_audio)
    recs = [{"id": "good", "audio": "good.wav", "task": "asr", "target": "t", "duration": 0.5}]
    for cid, (name, _) in cases.items():
        rec = {"id": cid, "audio": name, "task": "asr", "target": "t", "duration": 0.5}
        if cid == "absurd":
            rec["duration"] = 36000.0
        recs.append(rec)
    recs.append({"id": "badtask", "audio": "good.wav", "task": "kws", "target": "t"})
    return write_jsonl(tmp_path / "m.jsonl", recs), cases


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty", "zeros", "nan", "inf", "odd", "absurd"])
def test_bad_audio_strict_names_location(tmp_path, write_audio, write_jsonl, tasks, case):
    m, cases = _bad_manifest(tmp_path, write_audio, write_jsonl)
    ex = [e for e in read_manifest(m) if e.id == case]
    with pytest.raises(DataError) as err:
        ds = _ds(ex, tasks)
        ds[0]
    msg = str(err.value)
    line = ex[0].line
    assert f"{m.resolve()}:{line}" in msg and f"id={case}" in msg
    assert f"audio={tmp_path / cases[case][0]}" in msg and cases[case][1] in msg


def test_unknown_task_strict(tmp_path, write_audio, write_jsonl, tasks):
    m, _ = _bad_manifest(tmp_path, write_audio, write_jsonl)
    with pytest.raises(DataError, match=r"m\.jsonl:10 \(id=badtask.*unknown_task.*valid: aac, asr, mc, s2tt"):
        _ds([e for e in read_manifest(m) if e.id == "badtask"], tasks)


def test_bad_audio_lenient_skips_counts_and_reports(tmp_path, write_audio, write_jsonl, tasks):
    m, cases = _bad_manifest(tmp_path, write_audio, write_jsonl)
    report = BadSampleReport(tmp_path / "skipped.jsonl")
    ds = AudioDataset(
        read_manifest(m), [16000], tasks, train=False, config=DataConfig(on_bad_sample="skip"), report=report
    )
    # unknown task and absurd length are caught up front (probe), the rest at load time
    assert {e.id for e in ds.examples} == {"good", *cases} - {"absurd"}
    items = [ds[i] for i in range(len(ds))]
    batch = Collator(["asr"])(items)
    assert batch.ids == ["good"]
    assert sorted(b.id for b in batch.skipped) == sorted(set(cases) - {"absurd"})
    written = {b.id: b for b in BadSampleReport.read(tmp_path / "skipped.jsonl")}
    assert set(written) == set(cases) | {"badtask"}
    for cid, (name, reason) in cases.items():
        assert written[cid].reason == reason and written[cid].audio == str(tmp_path / name)
        assert written[cid].manifest == str(m.resolve()) and written[cid].line > 1
    assert written["badtask"].reason == "unknown_task"
    assert isinstance(items[1], SkippedSample)


def test_dataloader_workers_write_the_report(tmp_path, write_audio, write_jsonl, tasks):
    from usam_toolkit.data.loader import build_dataloader

    m, cases = _bad_manifest(tmp_path, write_audio, write_jsonl)
    cfg = DataConfig(
        on_bad_sample="skip",
        bad_sample_report=str(tmp_path / "rep.jsonl"),
        num_workers=2,
        batch_seconds=1.0,
        max_batch_size=4,
    )
    loader, sampler = build_dataloader(
        [m.name], [16000, 24000], tasks, cfg, train=True, seed=1, base_dir=tmp_path
    )
    batches = list(loader)
    assert sum(len(b) for b in batches) == 1
    assert sum(len(b.skipped) for b in batches) == len(cases) - 1
    written = BadSampleReport.read(tmp_path / "rep.jsonl")
    assert {b.id for b in written} == set(cases) | {"badtask"}
    assert {b.stage for b in written if b.id == "nan"} == {"load"}
