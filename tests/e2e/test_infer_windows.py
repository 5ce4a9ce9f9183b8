"""Windowing, stitching, input handling and output formats of usam_toolkit.infer (no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from usam_toolkit.infer.audio_input import InputProblem, find_audio_files, from_array, load_bytes
from usam_toolkit.infer.engine import Result, WindowResult, clock
from usam_toolkit.infer.formats import format_results, srt_time
from usam_toolkit.infer.windows import Window, plan_windows, stitch_texts


def test_70_seconds_make_three_windows():
    sr = 100
    wins = plan_windows(70 * sr, sr, 30.0)
    assert [(w.start, w.end) for w in wins] == [(0, 3000), (3000, 6000), (6000, 7000)]
    assert [w.seconds(sr) for w in wins] == [(0.0, 30.0), (30.0, 60.0), (60.0, 70.0)]


def test_short_clip_and_no_windowing_give_one_window():
    assert plan_windows(500, 100, 30.0) == [Window(0, 0, 500)]
    assert plan_windows(10_000, 100, None) == [Window(0, 0, 10_000)]
    assert plan_windows(3000, 100, 30.0) == [Window(0, 0, 3000)]  # exactly one window long


def test_tiny_tail_joins_the_previous_window():
    # 60.5 s: the 0.5 s scrap is added to the second window instead of decoding on its own.
    wins = plan_windows(6050, 100, 30.0, min_tail_seconds=1.0)
    assert [(w.start, w.end) for w in wins] == [(0, 3000), (3000, 6050)]


def test_overlapping_windows_hop_by_window_minus_overlap():
    wins = plan_windows(7000, 100, 30.0, overlap_seconds=5.0)
    assert [(w.start, w.end) for w in wins] == [(0, 3000), (2500, 5500), (5000, 7000)]
    with pytest.raises(ValueError):
        plan_windows(7000, 100, 30.0, overlap_seconds=30.0)


def test_stitching_joins_and_drops_words_repeated_at_junctions():
    assert stitch_texts(["one two", "three", "four five"]) == "one two three four five"
    assert (
        stitch_texts(["one two three", "Three four", "four five"], overlap=True) == "one two three four five"
    )
    # Without overlap a genuine repetition is kept.
    assert stitch_texts(["one two", "two three"]) == "one two two three"


def test_find_audio_files_walks_folders_by_extension(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.wav", "a/b/y.FLAC", "a/notes.txt", "a/b/z.ogg"):
        (tmp_path / name).write_bytes(b"")
    found = find_audio_files([tmp_path / "a", tmp_path / "missing.wav"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/b/y.FLAC",
        "a/b/z.ogg",
        "a/x.wav",
        "missing.wav",
    ]


def test_arrays_are_downmixed_and_checked():
    stereo = np.stack([np.full(800, 0.2, np.float32), np.full(800, 0.4, np.float32)])
    clip = from_array(stereo, 8000, "x")
    assert clip.samples.shape == (800,) and np.allclose(clip.samples, 0.3)
    torch = pytest.importorskip("torch")
    assert np.allclose(from_array(torch.from_numpy(stereo), 8000, "t").samples, 0.3)
    with pytest.raises(InputProblem, match="no_sample_rate"):
        from_array(stereo, None, "x")
    with pytest.raises(InputProblem, match="bad_shape"):
        from_array(stereo.T, 8000, "x")
    bad = np.full(800, 0.1, np.float32)
    bad[3] = np.nan
    with pytest.raises(InputProblem, match="non_finite"):
        from_array(bad, 8000, "nan-clip")
    with pytest.raises(InputProblem, match="unsupported_type"):
        load_bytes(b"this is not audio at all", "upload.wav")


def test_formats():
    wins = [WindowResult(0.0, 30.0, "one two"), WindowResult(30.0, 61.5, "three")]
    ok = Result("a.wav", "asr", "one two three", wins, 61.5, True, [0.25, 0.75])
    bad = Result("b.wav", "asr", error=InputProblem("b.wav", "empty", "no samples"))
    assert list(format_results([ok, bad], "text")) == ["a.wav\tone two three"]
    (line,) = format_results([ok, bad], "jsonl")
    obj = json.loads(line)
    assert obj["text"] == "one two three" and obj["routing_weights"] == [0.25, 0.75]
    assert [(w["start"], w["end"]) for w in obj["windows"]] == [(0.0, 30.0), (30.0, 61.5)]
    per = [json.loads(x) for x in format_results([ok], "jsonl", per_window=True)]
    assert [(p["window"], p["text"]) for p in per] == [(0, "one two"), (1, "three")]
    assert list(format_results([ok], "srt")) == [
        "# a.wav",
        "1",
        "00:00:00,000 --> 00:00:30,000",
        "one two",
        "",
        "2",
        "00:00:30,000 --> 00:01:01,500",
        "three",
        "",
    ]
    assert srt_time(3723.25) == "01:02:03,250"
    assert clock(75) == "1:15" and clock(3725) == "1:02:05"
