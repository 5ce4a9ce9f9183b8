"""Task plugins: default prompts, paraphrases, free-form prompts, targets, metrics, normalisation."""

from __future__ import annotations

import pytest

from usam_toolkit.data.manifest import Example
from usam_toolkit.errors import DataError
from usam_toolkit.interfaces import BuildContext, Task


def test_defaults(tasks):
    ex = {"id": "x", "target": "Hello, World!", "target_lang": "zh-CN"}
    assert tasks["asr"].prompt(ex) == ("<Audio>", "</Audio> Transcribe the speech into text.")
    assert tasks["s2tt"].prompt(ex) == ("<Audio>", "</Audio> Translate the English speech into Chinese.")
    assert tasks["s2tt"].prompt({**ex, "target_lang": "de"})[1].endswith("into German.")
    assert tasks["aac"].prompt(ex)[1] == "</Audio> Describe the audio in a sentence."
    assert tasks["mc"].prompt(ex)[1] == "</Audio> Describe the music in detail."
    assert {n: list(t.metrics) for n, t in tasks.items()} == {
        "asr": ["wer"],
        "s2tt": ["bleu", "chrf"],
        "aac": ["coco_caption"],
        "mc": ["coco_caption"],
    }
    for name, t in tasks.items():
        assert isinstance(t, Task) and t.name == name


def test_variants_free_form_and_targets(tasks):
    aac = tasks["aac"]
    texts = {aac.prompt({"target": "t"}, v)[1] for v in range(aac.num_prompt_variants)}
    assert len(texts) == aac.num_prompt_variants >= 3
    assert aac.prompt({"target": "t"}, aac.num_prompt_variants) == aac.prompt({"target": "t"}, 0)
    ex = Example(id="e", audio="/a.wav", task="aac", target=["first", "second"], prompt="Is there a dog?")
    assert aac.prompt(ex, 2) == ("<Audio>", "</Audio> Is there a dog?")
    assert aac.target(ex) == "first" and aac.references(ex) == ["first", "second"]


def test_normalize(tasks):
    assert tasks["asr"].normalize("Hello, World!") == "hello world"
    assert tasks["aac"].normalize("A dog  barks.") == "a dog barks"
    assert tasks["s2tt"].normalize(" 你好，  世界 ") == "你好, 世界"  # NFKC full-width comma, spaces only


def test_s2tt_language_from_config_or_error():
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)
    de = reg.build("tasks", {"name": "s2tt", "target_lang": "de"}, BuildContext(), "tasks[0]")
    assert de.prompt({"target": "x"})[1].endswith("into German.")
    plain = reg.build("tasks", {"name": "s2tt"}, BuildContext(), "tasks[0]")
    ex = Example(id="e", audio="/a.wav", task="s2tt", target="x", manifest="m.jsonl", line=4)
    with pytest.raises(DataError, match=r"m\.jsonl:4 \(id=e.*no 'target_lang'"):
        plain.prompt(ex)
    custom = reg.build(
        "tasks", {"name": "asr", "prompts": ["Say it."], "metrics": ["cer"]}, BuildContext(), "t"
    )
    assert custom.prompt({"target": "x"}, 3)[1] == "</Audio> Say it." and custom.metrics == ["cer"]


def test_random_prompt_variant_is_seeded(tmp_path, write_audio, write_jsonl, tasks):
    from usam_toolkit.data.config import DataConfig
    from usam_toolkit.data.dataset import AudioDataset
    from usam_toolkit.data.manifest import read_manifest

    write_audio(tmp_path / "a.wav", 0.2)
    m = write_jsonl(
        tmp_path / "m.jsonl",
        [{"id": f"e{i}", "audio": "a.wav", "task": "asr", "target": "t"} for i in range(12)],
    )
    ex = read_manifest(m)
    cfg = DataConfig(prompt_variant="random")
    a = AudioDataset(ex, [16000], tasks, train=True, config=cfg, seed=1)
    b = AudioDataset(ex, [16000], tasks, train=True, config=cfg, seed=1)
    va = [a._variant(i) for i in range(12)]
    assert va == [b._variant(i) for i in range(12)] and len(set(va)) > 1
    ev = AudioDataset(ex, [16000], tasks, train=False, config=cfg, seed=1)
    assert {ev._variant(i) for i in range(12)} == {0}


def test_instruction_first_layout_with_answer_cue():
    """The probe's layout: instruction, audio, a cue, then the space-led answer; the default is unchanged."""
    from usam_toolkit.plugins import load_registry

    reg = load_registry(entry_points=False)
    spec = {
        "name": "asr",
        "prompts": ["Transcribe the audio:"],
        "instruction_first": True,
        "answer_prefix": "\nText:",
        "target_prefix": " ",
    }
    asr = reg.build("tasks", spec, BuildContext(), "tasks[0]")
    ex = {"id": "x", "target": "press 0"}
    assert asr.prompt(ex) == ("Transcribe the audio: <Audio>", "</Audio>\nText:")
    assert asr.target(ex) == " press 0" and asr.references(ex) == ["press 0"]
    cued = reg.build("tasks", {"name": "aac", "answer_prefix": " Caption:"}, BuildContext(), "tasks[0]")
    assert cued.prompt({"target": "t"})[1] == "</Audio> Describe the audio in a sentence. Caption:"
