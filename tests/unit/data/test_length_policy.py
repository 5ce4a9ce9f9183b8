"""Length policy per task (task default < data.length_policy < task entry) and its per-task report."""

from __future__ import annotations

import logging

import pytest

from usam_toolkit.data.config import DataConfig
from usam_toolkit.data.dataset import AudioDataset, length_policies
from usam_toolkit.data.manifest import read_manifest
from usam_toolkit.errors import ConfigError


def _task(name, **fields):
    from usam_toolkit.interfaces import BuildContext
    from usam_toolkit.plugins import load_registry

    slot = {"name": name, **fields}
    return load_registry(entry_points=False).build("tasks", slot, BuildContext(), f"tasks.{name}")


@pytest.fixture
def mixed(tmp_path, write_audio, write_jsonl):
    """Per task: one 5 s clip and one 1 s clip; max_seconds 2 makes the 5 s ones long."""
    write_audio(tmp_path / "long.wav", 5.0, 8000)
    write_audio(tmp_path / "short.wav", 1.0, 8000)
    rows = []
    for task, target in (
        ("asr", "hello there"),
        ("s2tt", "你好"),
        ("aac", ["a dog", "a cat"]),
        ("mc", "a song"),
    ):
        for length in ("long", "short"):
            row = {"id": f"{task}-{length}", "audio": f"{length}.wav", "task": task, "target": target}
            rows.append({**row, "target_lang": "zh"} if task == "s2tt" else row)
    return read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))


def _ds(examples, tasks, **cfg):
    return AudioDataset(
        examples, [16000], tasks, train=True, config=DataConfig(max_seconds=2.0, **cfg), seed=3
    )


def test_task_defaults_skip_speech_and_crop_captions(mixed, tasks):
    ds = _ds(mixed, tasks)
    assert ds.policies == {"asr": "skip", "s2tt": "skip", "aac": "crop", "mc": "crop"}
    assert [e.id for e in ds.examples] == [
        "asr-short",
        "s2tt-short",
        "aac-long",
        "aac-short",
        "mc-long",
        "mc-short",
    ]
    assert ds.durations == [1.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    assert ds.length_report["asr"] == {"policy": "skip", "kept": 1, "cropped": 0, "skipped": 1, "split": 0}
    assert ds.length_report["aac"] == {"policy": "crop", "kept": 1, "cropped": 1, "skipped": 0, "split": 0}
    assert ds.span(2)[1] == 2.0  # aac-long is read as a 2 s window


def test_data_length_policy_overrides_every_task_and_a_task_entry_wins(mixed, tasks, caplog):
    every = {**tasks, "aac": _task("aac", length_policy="skip")}
    with caplog.at_level(logging.WARNING, logger="usam_toolkit.data"):
        ds = _ds(mixed, every, length_policy="split")
    assert ds.policies == {"asr": "split", "s2tt": "split", "aac": "skip", "mc": "split"}
    # 5 s at 2 s: segments [0, 2), [2, 4), [4, 5)
    assert [e.id for e in ds.examples if e.task == "mc"] == [
        "mc-long@0",
        "mc-long@1",
        "mc-long@2",
        "mc-short",
    ]
    assert ds.length_report["aac"]["skipped"] == 1 and ds.length_report["mc"]["split"] == 1
    unsafe = sorted(r.getMessage().split("task '")[1].split("'")[0] for r in caplog.records)
    assert unsafe == ["asr", "s2tt"]  # splitting a transcript without alignments is flagged, captions are not


def test_evaluation_keeps_everything_whole(mixed, tasks):
    ds = AudioDataset(mixed, [16000], tasks, train=False, config=DataConfig(max_seconds=2.0), seed=3)
    assert len(ds) == 8 and ds.length_report == {}
    assert ds.span(0) == (None, None)


def test_bad_policy_names_its_key():
    with pytest.raises(
        ConfigError, match=r"tasks\[0\] \(task 'asr'\): length_policy: 'chop' is not valid.*crop, skip, split"
    ):
        _task_at0("asr", length_policy="chop")
    with pytest.raises(
        ConfigError, match=r"data.length_policy: 'chop' is not valid \(valid: crop, skip, split\)"
    ):
        length_policies({}, DataConfig(length_policy="chop"))


def _task_at0(name, **fields):
    from usam_toolkit.plugins import load_registry

    return load_registry(entry_points=False).make_config("tasks", {"name": name, **fields}, "tasks[0]")


def test_a_task_without_a_declared_default_is_skipped_not_cropped():
    class Plain:
        name = "plain"

    assert length_policies({"plain": Plain()}, DataConfig()) == {"plain": "skip"}


def test_recipe_override_of_a_task_entry(tmp_path):
    from usam_toolkit.config.loader import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "encoders: [{name: conv_transformer}]\nllm: {name: hf_causal_lm, path: lm}\n"
        "tasks: [{name: asr, length_policy: crop}, {name: aac}]\n"
    )
    cfg = load_recipe(recipe)
    assert cfg.tasks[0].length_policy == "crop" and cfg.data.length_policy is None


def test_each_epoch_trains_on_the_next_caption(tmp_path, write_audio, write_jsonl, tasks):
    write_audio(tmp_path / "a.wav", 1.0, 8000)
    caps = ["c0", "c1", "c2"]
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [{"id": f"clip{i}", "audio": "a.wav", "task": "aac", "target": caps} for i in range(8)],
    )
    train = _ds(read_manifest(m), tasks)
    seen = []
    for epoch in range(4):
        train.set_epoch(epoch)
        seen.append([train[i]["target"] for i in range(8)])
    for i in range(8):
        first = caps.index(seen[0][i])
        assert [s[i] for s in seen] == [
            caps[(first + e) % 3] for e in range(4)
        ]  # every caption once per 3 epochs
    assert len({s[0] for s in zip(*seen)}) > 1  # the starting caption differs between clips
    again = _ds(read_manifest(m), tasks)
    again.set_epoch(2)
    assert [again[i]["target"] for i in range(8)] == seen[2]  # a resumed run draws the same
    assert all(train[i]["references"] == caps for i in range(8))
    evaluation = AudioDataset(read_manifest(m), [16000], tasks, train=False, config=DataConfig(), seed=3)
    evaluation.set_epoch(1)
    assert {evaluation[i]["target"] for i in range(8)} == {"c0"}  # validation loss: the first caption


def test_training_references_first_always_trains_on_the_first_caption(
    tmp_path, write_audio, write_jsonl, tasks
):
    write_audio(tmp_path / "a.wav", 1.0, 8000)
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [{"id": f"clip{i}", "audio": "a.wav", "task": "aac", "target": ["c0", "c1", "c2"]} for i in range(8)],
    )
    train = _ds(read_manifest(m), tasks, training_references="first")
    for epoch in range(3):
        train.set_epoch(epoch)
        assert {train[i]["target"] for i in range(8)} == {"c0"}
        assert train[0]["references"] == ["c0", "c1", "c2"]  # scoring still sees every caption
    with pytest.raises(
        ConfigError, match=r"data.training_references: 'all' is not valid \(valid: rotate, first\)"
    ):
        _ds(read_manifest(m), tasks, training_references="all")
