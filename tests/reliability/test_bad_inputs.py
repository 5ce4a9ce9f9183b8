"""Broken audio and manifests through every entry point: ``usam validate-data`` (strict and lenient),
the training data path and a lenient training run, ``usam evaluate`` and ``usam infer``. Each bad input
gets a clear, located error (strict) or a reported skip (lenient), and every other sample is used."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from bad_corpus import EXPECTED, MANIFEST_ONLY, PROCESSED, TWO_HOURS, good_ids, outside_ids, write_bad_corpus

from usam_toolkit.cli import main as usam
from usam_toolkit.data.report import BadSampleReport
from usam_toolkit.errors import DataError
from usam_toolkit.mini.smoke import SMOKE_RECIPE

TASKS = "asr,s2tt,aac,mc"


@pytest.fixture(scope="module")
def corpus(rel_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bad_corpus(tmp_path_factory.mktemp("bad") / "corpus", rel_world)


@pytest.fixture(scope="module")
def lenient_run(rel_world: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two training steps in lenient mode on the broken corpus (its checkpoint serves evaluate/infer)."""
    from usam_toolkit.pipeline import train_recipe

    old = os.environ.get("USAM_SMOKE_DIR")
    os.environ["USAM_SMOKE_DIR"] = str(rel_world)
    try:
        out = tmp_path_factory.mktemp("lenient_run")
        res = train_recipe(
            SMOKE_RECIPE,
            [
                f"data.train=[{corpus}]",
                "data.valid=[]",
                "data.on_bad_sample=skip",
                "train.max_steps=2",
                "train.tensorboard=false",
            ],
            out=str(out),
            device="cpu",
            progress=False,
        )
        assert res.step == 2 and res.reason == "max_steps"
        return out
    finally:
        if old is None:
            os.environ.pop("USAM_SMOKE_DIR", None)
        else:
            os.environ["USAM_SMOKE_DIR"] = old


def _by_id(report: Path) -> dict[str, str]:
    return {b.id: b.reason for b in BadSampleReport.read(report) if b.id}


def _reasons(report: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in BadSampleReport.read(report):
        out[b.reason] = out.get(b.reason, 0) + 1
    return out


# --------------------------------------------------------------------------------------------------
# usam validate-data
# --------------------------------------------------------------------------------------------------
def test_validate_data_lenient_reports_every_fault_and_keeps_the_rest(
    corpus: Path, rel_world: Path, tmp_path: Path, capsys
) -> None:
    report = tmp_path / "bad.jsonl"
    rc = usam(
        ["validate-data", str(corpus), "--lenient", "--report", str(report), "--quiet", "--tasks", TASKS]
    )
    out = capsys.readouterr().out
    assert rc == 0
    by_id = _by_id(report)
    for rid, reason in EXPECTED.items():
        assert by_id.get(rid) == reason, (rid, by_id.get(rid))
    reasons = _reasons(report)
    for reason, n in MANIFEST_ONLY.items():
        assert reasons[reason] >= n
    n_ok = len(good_ids(rel_world)) + len(PROCESSED)
    assert f"TOTAL    {n_ok}" in out.replace("  ", "  ") or f" {n_ok} " in out.splitlines()[-4] + " "
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(rows) == len(EXPECTED) + sum(MANIFEST_ONLY.values())
    # Every row is located and short: the 10 MB line is named by its line number, never echoed.
    for r in rows:
        assert r["manifest"] == str(corpus.resolve()) and r["line"] >= 1 and len(json.dumps(r)) < 2000


def test_validate_data_strict_stops_at_the_first_bad_line_with_its_location(corpus: Path, capsys) -> None:
    rc = usam(["validate-data", str(corpus), "--quiet", "--tasks", TASKS])
    err = capsys.readouterr().err
    lines = corpus.read_text().splitlines()
    # In line order: the truncated wav comes before the cut JSON line further down.
    first_bad = next(i for i, x in enumerate(lines, 1) if '"trunc-wav"' in x)
    assert first_bad < next(i for i, x in enumerate(lines, 1) if '"malformed"' in x)
    assert rc == 2 and err.startswith(f"error: {corpus.resolve()}:{first_bad} (id=trunc-wav")
    assert "unreadable" in err
    assert len(err) < 2000


def test_validate_data_strict_names_the_first_bad_audio(corpus: Path, tmp_path: Path, capsys) -> None:
    only_audio = tmp_path / "audio_only.jsonl"
    text = corpus.read_text().splitlines()
    only_audio.write_text(
        "\n".join(
            x for x in text if '"malformed"' not in x and '"huge-line"' not in x and "audio/full.wav" not in x
        )
        + "\n"
    )
    # Relative paths now resolve against tmp_path: point them back at the corpus.
    only_audio.write_text(
        only_audio.read_text()
        .replace('"audio/', f'"{corpus.parent}/audio/')
        .replace('"../', f'"{corpus.parent}/../')
    )
    rc = usam(["validate-data", str(only_audio), "--quiet", "--tasks", TASKS])
    err = capsys.readouterr().err
    first = next(rid for rid in EXPECTED)
    assert rc == 2 and f"(id={first}, audio=" in err and f"{EXPECTED[first]}:" in err


def test_audio_root_refuses_dotdot_and_symlinks_out_of_the_root(corpus: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "bad.jsonl"
    rc = usam(
        [
            "validate-data",
            str(corpus),
            "--lenient",
            "--report",
            str(report),
            "--quiet",
            "--tasks",
            TASKS,
            "--audio-root",
            str(corpus.parent),
        ]
    )
    capsys.readouterr()
    assert rc == 0
    by_id = _by_id(report)
    for rid in outside_ids():
        assert by_id.get(rid) == "outside_root"
    assert "eight-channel" not in by_id  # inside the root: still used


def test_two_hour_file_is_refused_from_its_header_without_decoding(corpus: Path) -> None:
    from usam_toolkit.audio.decode import AudioProblem, audio_info, decode_audio

    path = corpus.parent / "audio" / "two-hours.wav"
    assert audio_info(path) == (16000, TWO_HOURS * 16000)
    assert os.stat(path).st_blocks * 512 < 1024 * 1024, "the test file itself is sparse"
    tracemalloc.start()
    try:
        with pytest.raises(AudioProblem) as info:
            decode_audio(path)
        # A span of it is read alone (seek), not the whole file.
        part = decode_audio(str(corpus.parent / "audio" / "eight-channel.wav"), 0.1, 0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too_long" and peak < 5 * 1024 * 1024
    assert len(part.samples) == 8000


# --------------------------------------------------------------------------------------------------
# Training data path and a lenient training run
# --------------------------------------------------------------------------------------------------
class _Task:
    """The members of usam_toolkit.interfaces.Task the data path uses."""

    num_prompt_variants = 1

    def prompt(self, ex, variant):
        return "<", ">"

    def references(self, ex):
        return list(ex.references)

    def target(self, ex):
        return ex.first_target

    def training_text(self, reference):
        return reference


def _loader(corpus: Path, report: Path | None, mode: str, **data: str):
    from usam_toolkit.data.config import DataConfig
    from usam_toolkit.data.loader import build_dataloader

    cfg = DataConfig(
        on_bad_sample=mode,
        bad_sample_report=str(report) if report else None,
        batch_seconds=4.0,
        max_batch_size=4,
        bucket_size=2,
        **data,
    )
    return build_dataloader(
        [corpus.name],
        [16000],
        {t: _Task() for t in TASKS.split(",")},
        cfg,
        train=True,
        base_dir=corpus.parent,
    )


def test_training_data_lenient_skips_each_bad_sample_and_yields_every_other(
    corpus: Path, rel_world: Path, tmp_path: Path
) -> None:
    report = tmp_path / "skips.jsonl"
    loader, sampler = _loader(corpus, report, "skip")
    sampler.set_epoch(0)
    seen, skipped = [], []
    for batch in loader:
        seen += batch.ids
        skipped += [b.id for b in batch.skipped]
    assert sorted(seen) == sorted(good_ids(rel_world) + list(PROCESSED))
    by_id = _by_id(report)
    for rid, reason in EXPECTED.items():
        assert by_id.get(rid) == reason, (rid, by_id.get(rid))
    assert set(skipped) <= set(EXPECTED)


def test_recipe_audio_root_is_relative_to_the_recipe_folder_and_refuses_outside_audio(
    corpus: Path, rel_world: Path, tmp_path: Path
) -> None:
    report = tmp_path / "skips.jsonl"
    loader, _ = _loader(corpus, report, "skip", audio_root=".")  # base_dir: the corpus folder
    outside = {b.id for b in BadSampleReport.read(report) if b.reason == "outside_root"}
    # '..', the symlink, and the good lines' absolute paths into the smoke world are all outside.
    assert outside == set(outside_ids()) | set(good_ids(rel_world))
    assert "eight-channel" in [ex.id for ex in loader.dataset.examples]


def test_training_data_strict_raises_a_located_error(corpus: Path) -> None:
    with pytest.raises(DataError, match=rf"{corpus.resolve()}:\d+"):
        _loader(corpus, None, "error")


@pytest.mark.slow  # trains a checkpoint first (~40 s CPU with evaluate and infer)
def test_lenient_training_run_completes_and_writes_the_skip_report(lenient_run: Path) -> None:
    assert (lenient_run / "checkpoint-2" / "model.safetensors").is_file()
    reports = list(lenient_run.rglob("bad_samples*.jsonl"))
    assert reports, f"no bad-sample report in {sorted(p.name for p in lenient_run.iterdir())}"
    reasons = {b.reason for r in reports for b in BadSampleReport.read(r)}
    assert {"malformed_json", "duplicate_id", "missing", "too_long"} <= reasons
    for r in reports:  # each bad line once, however many epochs the two steps spanned
        keys = [(b.manifest, b.line) for b in BadSampleReport.read(r)]
        assert len(keys) == len(set(keys))


# --------------------------------------------------------------------------------------------------
# usam evaluate and usam infer
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow  # trains a checkpoint first (~40 s CPU with evaluate and infer)
def test_evaluate_lenient_scores_every_good_sample_and_strict_names_the_bad_one(
    lenient_run: Path, corpus: Path, rel_world: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("USAM_SMOKE_DIR", str(rel_world))
    ckpt = lenient_run / "checkpoint-2"
    out = tmp_path / "eval"
    rc = usam(
        [
            "evaluate",
            str(SMOKE_RECIPE),
            "data.on_bad_sample=skip",
            "evaluate.max_new_tokens=2",
            "--checkpoint",
            str(ckpt),
            "--manifest",
            str(corpus),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    capsys.readouterr()
    assert rc == 0
    ids = [json.loads(x)["id"] for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(good_ids(rel_world) + list(PROCESSED))
    rc = usam(
        [
            "evaluate",
            str(SMOKE_RECIPE),
            "--checkpoint",
            str(ckpt),
            "--manifest",
            str(corpus),
            "--out",
            str(tmp_path / "strict"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {corpus.resolve()}:" in err and len(err) < 2000


@pytest.mark.slow  # trains a checkpoint first (~40 s CPU with evaluate and infer)
def test_infer_reports_each_bad_file_and_answers_the_others(
    lenient_run: Path, corpus: Path, rel_world: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    pytest.importorskip(
        "usam_toolkit.infer.audio_input", reason="usam infer (usam_toolkit.infer) not built yet"
    )
    monkeypatch.setenv("USAM_SMOKE_DIR", str(rel_world))
    out = tmp_path / "answers.jsonl"
    rc = usam(
        [
            "infer",
            "--checkpoint",
            str(lenient_run / "checkpoint-2"),
            str(corpus.parent / "audio"),
            "--format",
            "jsonl",
            "--no-progress",
            "--device",
            "cpu",
            "--max-new-tokens",
            "2",
            "-o",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    errors = [x for x in err.splitlines() if x.startswith("error: ")]
    bad_files = [rid for rid in EXPECTED if rid != "missing-file"]
    for rid in bad_files:
        assert any(rid in x for x in errors), (rid, errors)
    assert len(errors) == len(bad_files)
    answered = out.read_text()
    for name in ("full.wav", "full.flac", "eight-channel.wav", "symlink-out.wav"):
        assert name in answered
