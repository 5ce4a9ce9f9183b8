"""The demo's pieces: the text-only baselines worked out by hand, the comparison, the recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.mini.baselines import (
    baseline_predictions,
    consensus_target,
    consensus_targets,
    most_frequent_targets,
    read_records,
)

REPO = Path(__file__).resolve().parents[3]
MINI = REPO / "recipes" / "mini"


def _manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_most_frequent_target_by_hand(tmp_path: Path) -> None:
    train = _manifest(
        tmp_path / "train.jsonl",
        [
            {"id": "1", "audio": "a.wav", "task": "asr", "target": "yes"},
            {"id": "2", "audio": "a.wav", "task": "asr", "target": "no"},
            {"id": "3", "audio": "a.wav", "task": "asr", "target": "no"},
            {"id": "4", "audio": "a.wav", "task": "aac", "target": ["a bell rings", "a bell"]},
            {"id": "5", "audio": "a.wav", "task": "aac", "target": ["rain falls", "a bell rings"]},
            {"id": "6", "audio": "a.wav", "task": "s2tt", "target": "oui", "target_lang": "fr"},
        ],
    )
    # asr: "no" twice; aac: tie 1-1 on the first references -> the first seen; s2tt keyed by language
    answers = most_frequent_targets(read_records([train]))
    assert answers == {"asr": "no", "aac": "a bell rings", "s2tt:fr": "oui"}
    test = [
        {"id": "t1", "task": "asr", "target": "maybe"},
        {"id": "t2", "task": "aac", "target": ["wind", "gusts"]},
        {"id": "t3", "task": "s2tt", "target": "non", "target_lang": "fr"},
        {"id": "t4", "task": "mc", "target": ["a piano"]},
    ]
    preds = baseline_predictions(test, answers)
    assert [p["hypothesis"] for p in preds] == ["no", "a bell rings", "oui", ""]
    assert preds[1]["references"] == ["wind", "gusts"] and preds[0]["references"] == ["maybe"]


def test_consensus_target_by_hand() -> None:
    # unigrams only; 3 targets: df(a) = df(b) = 2, df(c) = 1. Unit vectors: "a b" -> (1/√2, 1/√2) on (a, b)
    # (equal idf), "c" -> 1 on c. Mean unit vector: a, b: 2/(3√2); c: 1/3. Scores: "a b" 2/3, "c" 1/3.
    assert consensus_target(["c", "a b", "a b"], n_max=1) == "a b"
    # an n-gram every target holds has idf 0 and decides nothing: "x" alone scores 0, so the tie of the
    # two zero-score targets goes to the first seen
    assert consensus_target(["x", "x"], n_max=1) == "x"
    with pytest.raises(ValueError):
        consensus_target([])


def test_consensus_is_the_central_caption_not_the_repeated_one(tmp_path: Path) -> None:
    dogs = ["a dog barks twice", "a dog barks loudly", "a small dog barks"]
    train = _manifest(
        tmp_path / "train.jsonl",
        [
            *({"id": f"d{i}", "audio": "a.wav", "task": "aac", "target": [t]} for i, t in enumerate(dogs)),
            {"id": "r1", "audio": "a.wav", "task": "aac", "target": ["rain"]},
            {"id": "r2", "audio": "a.wav", "task": "aac", "target": ["rain"]},
        ],
    )
    records = read_records([train])
    # "rain" is the only repeated caption, but three of five captions share "a dog barks"
    assert most_frequent_targets(records) == {"aac": "rain"}
    assert consensus_targets(records)["aac"] in dogs


def test_baseline_scored_by_the_shared_scorer(tmp_path: Path) -> None:
    from usam_toolkit.evaluate.runner import score

    answers = {"asr": "press one"}
    test = [
        {"id": "a", "task": "asr", "target": "press one"},
        {"id": "b", "task": "asr", "target": "press two now"},
    ]
    results = score(baseline_predictions(test, answers), {"asr": ["wer"]})
    # errors: 0 + (1 substitution + 1 deletion) over 2 + 3 reference words = 2 / 5
    assert results["asr"]["wer"]["wer"] == pytest.approx(40.0)


def test_comparison_judges_the_primary_score() -> None:
    from usam_toolkit.mini.demo import comparison

    def sys(wer: float, bleu: float, cider: float) -> dict:
        caps = {"coco_caption": {"cider_d": cider, "bleu_4": 1.0}}
        return {"asr": {"wer": {"wer": wer}}, "s2tt": {"bleu": {"bleu": bleu}}, "aac": caps, "mc": caps}

    table = comparison(
        {
            "model": sys(50, 10, 30),
            "untrained": sys(120, 1, 5),
            "most_frequent": sys(99, 12, 3),
            "consensus": sys(101, 2, 31),
        }
    )
    assert table["asr"]["beats_baselines"] is True  # lower WER wins
    assert table["s2tt"]["beats_baselines"] is False  # 10 < 12
    assert table["aac"]["primary"] == "CIDEr-D"
    assert table["mc"]["beats_baselines"] is False  # 30 < the consensus caption's 31
    assert table["aac"]["scores"]["METEOR"] == {
        "model": None,
        "untrained": None,
        "most_frequent": None,
        "consensus": None,
    }


def test_comparison_reports_only_the_tasks_the_model_was_scored_on() -> None:
    from usam_toolkit.mini.demo import comparison, report_markdown

    caps = {"aac": {"coco_caption": {"cider_d": 40.0}}, "mc": {"coco_caption": {"cider_d": 60.0}}}
    base = {"aac": {"coco_caption": {"cider_d": 30.0}}, "mc": {"coco_caption": {"cider_d": 50.0}}}
    table = comparison({"model": caps, "untrained": base, "most_frequent": base, "consensus": base})
    assert list(table) == ["aac", "mc"]
    assert table["aac"]["beats_baselines"] is True and table["mc"]["beats_baselines"] is True
    timing = {"stages": {}, "total": {"wall_s": 1.0, "cpu_s": 1.0}}
    report = report_markdown(table, timing, {"recipe": "r.yaml", "world": "w", "test_examples": 2})
    assert "Not in this recipe, so not reported: asr, s2tt." in report
    assert "recipes/mini/speech-stack.yaml" in report


def _recipes() -> list[Path]:
    return sorted(MINI.glob("*.yaml")) + sorted((MINI / "ablations").glob("*.yaml"))


@pytest.mark.parametrize("path", _recipes(), ids=lambda p: p.name)
def test_mini_recipes_validate_and_name_their_command(path: Path) -> None:
    from usam_toolkit.config.loader import load_recipe

    first = path.read_text().splitlines()[0]
    assert first.startswith("# usam "), f"{path}: first line must give its command"
    load_recipe(path)


def test_ablations_change_one_slot_each() -> None:
    from omegaconf import OmegaConf

    from usam_toolkit.config.loader import load_recipe

    full = OmegaConf.to_container(load_recipe(MINI / "usam.yaml"), resolve=True)
    encoders = lambda cfg: [e["name"] for e in cfg["encoders"]]  # noqa: E731
    no_whisper = OmegaConf.to_container(load_recipe(MINI / "ablations" / "no_whisper.yaml"), resolve=True)
    assert encoders(full) == ["whisper", "sound_cnn", "conv_transformer"]
    assert encoders(no_whisper) == ["sound_cnn", "conv_transformer"]
    assert no_whisper["projectors"] == full["projectors"] and no_whisper["llm"] == full["llm"]
    no_tapm = OmegaConf.to_container(load_recipe(MINI / "ablations" / "no_tapm.yaml"), resolve=True)
    # w/o TAPM keeps TAPM's experts and drops only the routing: the one key that differs is routing
    assert [p["name"] for p in no_tapm["projectors"]] == ["window_qformer", "tapm"]
    assert no_tapm["projectors"][1] == {**full["projectors"][1], "routing": False}
    assert no_tapm["projectors"][0] == full["projectors"][0]
    assert no_tapm["encoders"] == full["encoders"] and no_tapm["losses"] == full["losses"]


def test_ablation_table_points_at_existing_recipes() -> None:
    from usam_toolkit.evaluate.tables import load_table

    spec, folder = load_table(MINI / "tables" / "ablation.yaml")
    assert len(spec.rows) == 7
    assert all((folder / r.recipe).is_file() for r in spec.rows)


def test_pretrain_and_demo_subverbs_parse() -> None:
    from usam_toolkit.cli import build_parser

    pre = build_parser().parse_args(["mini", "pretrain", "--world", "w", "--lm-steps", "5"])
    assert (pre.mini_command, pre.world, pre.out, pre.lm_steps, pre.music_steps) == (
        "pretrain",
        "w",
        None,
        5,
        None,
    )
    demo = build_parser().parse_args(["mini", "demo", "--out", "o", "train.max_steps=3"])
    assert (demo.mini_command, demo.out, demo.world, demo.overrides) == (
        "demo",
        "o",
        "data/mini-small",
        ["train.max_steps=3"],
    )
