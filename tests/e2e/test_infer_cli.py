"""``usam infer`` end to end on a 3-step smoke checkpoint: short and long files, formats, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from usam_toolkit.cli import main


def _tones(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    freq = 300 + 400 * (np.floor(t / 0.25) % 5) / 4  # a new "word" every 250 ms
    mono = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    return np.stack([mono, 0.5 * mono], axis=1)[:, :channels].astype(np.float32)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    d = tmp_path_factory.mktemp("infer_audio")
    (d / "sub").mkdir()
    sf.write(d / "short.wav", _tones(1.5, 16000), 16000, subtype="PCM_16")
    sf.write(d / "sub" / "other.flac", _tones(2.0, 22050, channels=2, seed=1), 22050)
    # "Long" relative to the 3 s windows the tests use (30 s windows work the same, 10x slower).
    sf.write(d / "long.wav", _tones(7.0, 8000, seed=2), 8000, subtype="PCM_16")
    bad = d / "bad"
    bad.mkdir()
    (bad / "garbage.wav").write_bytes(b"RIFF....this is not a wav file at all")
    sf.write(bad / "empty.wav", np.zeros((0, 1), np.float32), 16000)
    nan = _tones(1.0, 16000)
    nan[100:200] = np.nan
    sf.write(bad / "nan.wav", nan, 16000, subtype="FLOAT")
    return d


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(["infer", "--no-progress", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_text_output_walks_folders_and_reports_bad_files(infer_checkpoint, audio_dir, capsys):
    rc, out, err = _run(
        capsys,
        "--checkpoint",
        str(infer_checkpoint.parent),
        "--task",
        "asr",
        str(audio_dir / "short.wav"),
        str(audio_dir / "sub"),
        str(audio_dir / "bad"),
        str(audio_dir / "missing.wav"),
    )
    assert rc == 1
    lines = out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [
        str(audio_dir / "short.wav"),
        str(audio_dir / "sub" / "other.flac"),
    ]
    assert all(len(ln.split("\t")) == 2 for ln in lines)
    for name, reason in [
        ("garbage.wav", "unreadable"),
        ("empty.wav", "empty"),
        ("nan.wav", "non_finite"),
        ("missing.wav", "missing"),
    ]:
        assert any(name in e and reason in e and e.startswith("error:") for e in err.splitlines()), (
            name,
            err,
        )
    assert "4 of 6 file(s) failed" in err


def test_long_file_is_windowed_and_stitched_jsonl(infer_checkpoint, audio_dir, capsys, tmp_path):
    out_file = tmp_path / "out.jsonl"
    rc, _, err = _run(
        capsys,
        "--checkpoint",
        str(infer_checkpoint),
        "--task",
        "asr",
        "--format",
        "jsonl",
        "--window-seconds",
        "3",
        "--batch-size",
        "2",
        "-o",
        str(out_file),
        str(audio_dir / "long.wav"),
        str(audio_dir / "short.wav"),
    )
    assert rc == 0, err
    long, short = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert long["file"].endswith("long.wav") and long["duration"] == pytest.approx(7.0)
    assert [(w["start"], w["end"]) for w in long["windows"]] == [(0.0, 3.0), (3.0, 6.0), (6.0, 7.0)]
    assert long["text"] == " ".join(" ".join(w["text"].split()) for w in long["windows"]).strip()
    assert len(long["routing_weights"]) == 3 and sum(long["routing_weights"]) == pytest.approx(1.0, abs=1e-3)
    assert len(short["windows"]) == 1


def test_srt_for_translation_and_caption_per_window(infer_checkpoint, audio_dir, capsys):
    rc, out, err = _run(
        capsys,
        "--checkpoint",
        str(infer_checkpoint),
        "--task",
        "s2tt",
        "--target-lang",
        "fr",
        "--format",
        "srt",
        "--window-seconds",
        "3",
        str(audio_dir / "long.wav"),
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"# {audio_dir / 'long.wav'}"
    assert [lines[i] for i in (1, 5, 9)] == ["1", "2", "3"]
    assert [lines[i] for i in (2, 6, 10)] == [
        "00:00:00,000 --> 00:00:03,000",
        "00:00:03,000 --> 00:00:06,000",
        "00:00:06,000 --> 00:00:07,000",
    ]
    # Captions have no time stamps: srt is refused; text gives one caption per window.
    rc, _, err = _run(
        capsys,
        "--checkpoint",
        str(infer_checkpoint),
        "--task",
        "aac",
        "--format",
        "srt",
        str(audio_dir / "long.wav"),
    )
    assert rc == 2 and "srt" in err and "aac" in err
    rc, out, err = _run(
        capsys,
        "--checkpoint",
        str(infer_checkpoint),
        "--task",
        "mc",
        "--max-new-tokens",
        "3",
        "--window-seconds",
        "3",
        str(audio_dir / "long.wav"),
    )
    assert rc == 0, err
    text = out.split("\t", 1)[1]
    assert text.startswith("[0:00-0:03] ") and " | [0:03-0:06] " in text and " | [0:06-0:07] " in text


def test_unknown_task_lists_the_models_tasks(infer_checkpoint, audio_dir, capsys):
    rc, _, err = _run(
        capsys, "--checkpoint", str(infer_checkpoint), "--task", "qa", str(audio_dir / "short.wav")
    )
    assert rc == 2 and "'qa'" in err and "asr, s2tt, aac, mc" in err
