"""``usam mini pretrain``: music tags from captions, fingerprints, and a few-step run on the tiny world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.errors import DataError
from usam_toolkit.mini.music_tags import TAG_CLASSES, parse_tags


def test_parse_tags_reads_the_canonical_caption() -> None:
    tags = parse_tags("a slow organ piece in A minor with no drums")
    # worked by hand from the class tuples: sorted instruments, tempi, tonics in music.py order
    assert TAG_CLASSES["instrument"][tags["instrument"]] == "organ"
    assert tags["tempo"] == 0 and tags["mode"] == 1 and tags["drums"] == 0
    assert TAG_CLASSES["tonic"][tags["tonic"]] == "A"
    two_words = parse_tags("a fast electric guitar piece in E flat major with drums")
    assert TAG_CLASSES["instrument"][two_words["instrument"]] == "electric guitar"
    assert TAG_CLASSES["tonic"][two_words["tonic"]] == "E flat"
    assert (two_words["tempo"], two_words["mode"], two_words["drums"]) == (2, 0, 1)


@pytest.mark.parametrize(
    "caption",
    ["organ music at 75 BPM in the key of A minor", "a slow kazoo piece in A minor with no drums"],
)
def test_parse_tags_rejects_other_captions(caption: str) -> None:
    with pytest.raises(DataError, match="caption|instrument"):
        parse_tags(caption, where="x.jsonl id=1")


def test_fingerprint_follows_settings_and_manifest_bytes(tmp_path: Path) -> None:
    from usam_toolkit.mini.pretrain import LMSettings, fingerprint

    m = tmp_path / "train.jsonl"
    m.write_text('{"id": "a"}\n')
    first = fingerprint(LMSettings(), [m])
    assert fingerprint(LMSettings(), [m]) == first
    assert fingerprint(LMSettings(steps=1), [m]) != first
    m.write_text('{"id": "b"}\n')
    assert fingerprint(LMSettings(), [m]) != first


def test_generated_captions_exclude_held_out_text() -> None:
    from usam_toolkit.mini.pretrain import generated_captions

    some = generated_captions(5, seed=0, exclude=set())
    assert some and all(isinstance(c, str) and c for c in some)
    assert generated_captions(5, seed=0, exclude={some[0]}) == [c for c in some if c != some[0]]


def test_pretrain_tiny_world_writes_loadable_artefacts(tiny_world: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from usam_plugins.encoders.configs import ConvTransformerConfig
    from usam_plugins.encoders.conv_transformer import build_conv_transformer

    from usam_toolkit.interfaces import BuildContext
    from usam_toolkit.mini.pretrain import LMSettings, MusicSettings, pretrain

    enc = {"sample_rate": 24000, "n_mels": 16, "strides": [4], "dim": 16, "layers": 1, "heads": 2}
    music = MusicSettings(encoder=enc, steps=2, batch_size=2, crop_seconds=1.0)
    lm = LMSettings(
        hidden=32,
        layers=1,
        heads=2,
        intermediate=64,
        vocab_size=300,
        steps=2,
        batch_size=4,
        generated_captions=3,
    )
    out = tmp_path / "pre"
    metas = pretrain(tiny_world, out, music, lm, log=lambda _: None)

    enc_meta = json.loads((out / "music_encoder.json").read_text())
    assert set(enc_meta["dev_accuracy"]) == set(TAG_CLASSES)
    assert all(0.0 <= v <= 1.0 for v in enc_meta["dev_accuracy"].values())
    module = build_conv_transformer(
        ConvTransformerConfig(path=str(out / "music_encoder.safetensors"), **enc), BuildContext()
    )
    feats = module(torch.zeros(1, 24000), torch.tensor([24000]))
    assert feats.features.shape[-1] == 16

    model = AutoModelForCausalLM.from_pretrained(str(out / "lm"))
    tok = AutoTokenizer.from_pretrained(str(out / "lm"))
    assert model.config.hidden_size == 32 and model.config.vocab_size == len(tok)
    assert metas["lm"]["dev_perplexity"] > 1.0
    dev_tasks = {json.loads(line)["task"] for line in (tiny_world / "dev.jsonl").read_text().splitlines()}
    assert set(metas["lm"]["dev_perplexity_by_task"]) == dev_tasks
    assert all(v > 1.0 for v in metas["lm"]["dev_perplexity_by_task"].values())

    # Same inputs: both artefacts are reused, not retrained.
    stamp = (out / "lm" / "model.safetensors").stat().st_mtime_ns
    lines: list[str] = []
    again = pretrain(tiny_world, out, music, lm, log=lines.append)
    assert again == metas
    assert sum("reusing" in line for line in lines) == 2
    assert (out / "lm" / "model.safetensors").stat().st_mtime_ns == stamp
