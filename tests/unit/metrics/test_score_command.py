"""`usam score`: predictions JSONL + manifest -> JSON scores, id matching, language groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from usam_toolkit.cli import main
from usam_toolkit.commands.score import DEFAULT_METRICS, read_predictions, score
from usam_toolkit.errors import DataError


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def asr_files(tmp_path: Path) -> tuple[Path, Path]:
    manifest = write_jsonl(
        tmp_path / "test.jsonl",
        [
            {"id": "u1", "audio": "u1.wav", "task": "asr", "target": "The cat sat on the mat."},
            {"id": "u2", "audio": "u2.wav", "task": "asr", "target": "Hello world"},
            {"id": "c1", "audio": "c1.wav", "task": "aac", "target": ["a dog barks", "dog barking"]},
        ],
    )
    preds = write_jsonl(
        tmp_path / "pred.jsonl",
        [{"id": "u1", "hypothesis": "the cat sit on mat"}, {"id": "u2", "prediction": "hello"}],
    )
    return preds, manifest


def test_cli_prints_json_with_corpus_and_paper_wer(asr_files, capsys: pytest.CaptureFixture[str]) -> None:
    preds, manifest = asr_files
    rc = main(["score", "--task", "asr", "--hyp", str(preds), "--ref", str(manifest), "--paper-scoring"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    wer = out["metrics"]["wer"]
    # u1: 1 S + 1 D of 6; u2: 1 D of 2 -> corpus 3/8; per-sentence mean (33.3 + 50) / 2
    assert wer["wer"] == pytest.approx(37.5)
    assert wer["wer_sentence_avg"] == pytest.approx((100 * 2 / 6 + 50) / 2)
    assert out["num_scored"] == 2 and out["missing_ids"] == [] and out["extra_ids"] == []


def test_missing_and_extra_ids_are_errors(asr_files, tmp_path: Path) -> None:
    preds, manifest = asr_files
    short = write_jsonl(
        tmp_path / "short.jsonl", [{"id": "u1", "text": "the cat"}, {"id": "zz", "text": "x"}]
    )
    with pytest.raises(DataError, match=r"without a prediction.*u2.*not in .*zz"):
        score("asr", short, manifest)
    out = score("asr", short, manifest, allow_missing=True)
    assert out["num_scored"] == 1 and out["missing_ids"] == ["u2"] and out["extra_ids"] == ["zz"]
    with pytest.raises(DataError, match="no line with task 's2tt'.*aac, asr"):
        score("s2tt", preds, manifest)


def test_cli_error_exit_code(asr_files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, manifest = asr_files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "u1", "hypothesis": "a"}\n{"id": "u2", "words": "b"}\n')
    assert main(["score", "--task", "asr", "--hyp", str(bad), "--ref", str(manifest)]) == 2
    assert f"{bad}:2 (id=u2)" in capsys.readouterr().err


def test_read_predictions_rejects_duplicates(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(DataError, match="already on line 1"):
        read_predictions(p)


def test_translation_groups_by_target_language(tmp_path: Path) -> None:
    pytest.importorskip("sacrebleu", reason="sacrebleu not installed")
    manifest = write_jsonl(
        tmp_path / "st.jsonl",
        [
            {"id": "z1", "audio": "a.wav", "task": "s2tt", "target": "我爱北京", "target_lang": "zh"},
            {"id": "f1", "audio": "b.wav", "task": "s2tt", "target": "le chat est noir", "target_lang": "fr"},
        ],
    )
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "z1", "hypothesis": "我爱北京天安门"}, {"id": "f1", "hypothesis": "le chat est noir"}],
    )
    out = score("s2tt", preds, manifest, paper_scoring=True)
    groups = out["by_target_lang"]
    assert groups["zh"]["metrics"]["bleu"]["tokenize"] == "zh"
    assert groups["fr"]["metrics"]["bleu"]["tokenize"] == "13a"
    assert groups["fr"]["metrics"]["bleu"]["bleu"] == pytest.approx(100.0)
    assert set(groups["zh"]["metrics"]) == set(DEFAULT_METRICS["s2tt"])
    assert "bleu_sentence_avg" in groups["zh"]["metrics"]["bleu"]
    forced = score("s2tt", preds, manifest, ["bleu"], target_lang="zh")
    assert forced["target_lang"] == "zh" and forced["metrics"]["bleu"]["tokenize"] == "zh"


def test_captioning_uses_all_references(asr_files, tmp_path: Path) -> None:
    pytest.importorskip("pycocoevalcap", reason="pycocoevalcap not installed")
    _, manifest = asr_files
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "c1", "hypothesis": "dog barking"}])
    # Pure-Python sub-metrics only: METEOR's JVM start-up is tested (slow) in test_metric_coco_caption.
    opts = {"coco_caption": {"metrics": ["bleu", "cider_d"], "tokenizer": "basic"}}
    out = score("aac", preds, manifest, ["coco_caption"], metric_options=opts)
    # hyp equals the second reference: BLEU-1 100 % (closest reference length 2 -> BP 1)
    assert out["metrics"]["coco_caption"]["bleu_1"] == pytest.approx(100.0, rel=1e-6)


def test_metric_options(asr_files, capsys: pytest.CaptureFixture[str]) -> None:
    preds, manifest = asr_files
    argv = ["score", "--task", "asr", "--hyp", str(preds), "--ref", str(manifest)]
    assert main([*argv, "--metric-option", "wer.normalizer=none", "--metric-option", "wer.cer=false"]) == 0
    wer = json.loads(capsys.readouterr().out)["metrics"]["wer"]
    assert wer["normalizer"] == "none" and "cer" not in wer
    # Without normalisation case and punctuation count:
    # u1 "The cat sat on the mat." vs "the cat sit on mat": The->the S, sat->sit S, the D, mat.->mat S
    # u2 "Hello world" vs "hello": Hello->hello S, world D          -> 4 S + 2 D
    assert (wer["substitutions"], wer["deletions"]) == (4, 2)
    assert main([*argv, "--metric-option", "wer.colour=1"]) == 2
    assert "'colour' is not a field" in capsys.readouterr().err
    assert main([*argv, "--metric-option", "bleu.tokenize=zh"]) == 2
    assert main([*argv, "--metric-option", "oops"]) == 2


def test_default_metrics_come_from_the_task_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import dataclass

    from usam_toolkit import plugins
    from usam_toolkit.commands.score import default_metrics
    from usam_toolkit.registry import Entry, Provider, Registry

    @dataclass
    class ToyConfig:
        pass

    class ToyTask:  # the members of usam_toolkit.interfaces.Task (the registry checks them)
        name, metrics = "toy", ("chrf", "sentence_similarity")
        num_prompt_variants, timestamps = 1, False

        def prompt(self, example, variant=0):
            return "", ""

        def references(self, example):
            return []

        def target(self, example):
            return ""

        def training_text(self, reference):
            return reference

        def normalize(self, text):
            return text

    reg = Registry()
    reg.add(Entry("tasks", "toy", lambda cfg, ctx: ToyTask(), ToyConfig, Provider("t", "local", "0")))
    monkeypatch.setattr(plugins, "_registry", reg)
    assert default_metrics("toy") == ["chrf", "sentence_similarity"]
    assert default_metrics("asr") == ["wer"]  # not registered here: the built-in table
    with pytest.raises(DataError, match="--metric"):
        default_metrics("karaoke")
