"""A 40 s clip of real speech through the real evaluation loop: one answer, the whole clip heard.

Whisper's positional table stops at 30 s; the encoder reads a longer clip in consecutive 30 s windows and
joins their frames, so the LLM gets every window's audio tokens at once and gives one hypothesis, scored
as one. Tiny random Whisper (a real CTranslate2 model.bin) and a tiny random LM keep it to seconds; the
speech is human (asterisk-core-sounds-en prompts, one speaker) laid end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
sf = pytest.importorskip("soundfile")
yaml = pytest.importorskip("yaml")

RATE = 16000
LONG = 40 * RATE  # two Whisper windows: [0, 30 s) and [30 s, 40 s)
SHORT = 3 * RATE
TOKEN_RATE = 5.0  # fusion.frame_rate: 10 Whisper frames (50 Hz) per audio token
TEXT_PACKAGE, WAV_PACKAGE = "asterisk-core-sounds-en", "asterisk-core-sounds-en-wav"


def _speech(n_samples: int, skip: int = 0) -> tuple[torch.Tensor, str]:
    """Whole prompts end to end (0.2 s apart) while they fit in ``n_samples`` at 16 kHz, then silence."""
    from usam_toolkit.audio.decode import decode_audio
    from usam_toolkit.audio.resample import resample
    from usam_toolkit.mini.debian import package_files
    from usam_toolkit.mini.speech import asterisk_utterances

    for package in (TEXT_PACKAGE, WAV_PACKAGE):
        if not package_files(package):
            pytest.skip(f"needs the Debian package {package} (`make test` installs it)")
    utts = sorted(
        asterisk_utterances(package_files(TEXT_PACKAGE), package_files(WAV_PACKAGE)), key=lambda u: u.uid
    )
    out, texts, pos = torch.zeros(n_samples), [], 0
    for u in utts[skip:]:
        decoded = decode_audio(u.path)
        wave = resample(torch.from_numpy(decoded.samples), decoded.sample_rate, RATE)
        if pos + wave.numel() > n_samples:
            break
        out[pos : pos + wave.numel()] = wave
        texts.append(u.text)
        pos += wave.numel() + RATE // 5
    assert pos > n_samples - 6 * RATE, "the clip should be speech up to its last seconds"
    return out, " ".join(texts)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from usam_plugins.encoders.ct2_fixtures import write_tiny_whisper_ct2
    from usam_plugins.llms.tiny import DEFAULT_TEXTS, write_tiny_causal_lm

    from usam_toolkit.config.loader import load_recipe
    from usam_toolkit.pipeline import build_model

    root = tmp_path_factory.mktemp("long_clip")
    long_audio, long_text = _speech(LONG)
    short_audio, short_text = _speech(SHORT, skip=200)
    records = []
    for name, audio, text in (("long", long_audio, long_text), ("short", short_audio, short_text)):
        sf.write(root / f"{name}.wav", audio.numpy(), RATE, subtype="FLOAT")
        records.append(
            {
                "id": name,
                "audio": f"{name}.wav",
                "duration": audio.numel() / RATE,
                "task": "asr",
                "target": text,
            }
        )
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_tiny_whisper_ct2(root / "whisper")
    lm = write_tiny_causal_lm(root / "lm", vocab_texts=DEFAULT_TEXTS, hidden=32)
    recipe = {
        "experiment": "long_clip",
        "seed": 0,
        "encoders": [{"name": "whisper", "ct2_path": str(root / "whisper")}],
        "fusion": {"frame_rate": TOKEN_RATE},
        "projectors": [{"name": "linear"}],
        "llm": {"name": "hf_causal_lm", "path": str(lm), "mode": "frozen"},
        "losses": [{"name": "cross_entropy"}],
        "tasks": [{"name": "asr"}],
        "data": {"test": [str(root / "test.jsonl")]},
        "evaluate": {"max_new_tokens": 3, "batch_size": 2},
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    cfg = load_recipe(root / "recipe.yaml")
    return {
        "root": root,
        "cfg": cfg,
        "model": build_model(cfg),
        "long": long_audio,
        "texts": (long_text, short_text),
    }


def test_a_40_s_clip_gets_one_answer_from_all_its_audio(setup: dict, tmp_path: Path) -> None:
    from usam_toolkit.pipeline import evaluate_model

    model, whisper = setup["model"], setup["model"].encoders[0]
    assert whisper.max_samples == 30 * RATE  # the tiny Whisper has the real 1500-position table
    seen: dict[str, list] = {"encoded": [], "audio_tokens": []}
    encode, generate = whisper.forward, model.llm.generate_packed

    def spy_encode(audio, lengths):  # type: ignore[no-untyped-def]
        out = encode(audio, lengths)
        seen["encoded"].append(out)
        return out

    def spy_generate(left, feats, lengths, right, config):  # type: ignore[no-untyped-def]
        seen["audio_tokens"].append(lengths.tolist())
        return generate(left, feats, lengths, right, config)

    whisper.forward, model.llm.generate_packed = spy_encode, spy_generate
    try:
        results = evaluate_model(setup["cfg"], model, tmp_path, device="cpu", progress=False)
    finally:
        del whisper.forward, model.llm.generate_packed

    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["id"] for p in preds) == ["long", "short"]  # one answer per clip, not per window
    by_id = {p["id"]: p for p in preds}
    assert by_id["long"]["seconds"] == 40.0 and by_id["long"]["references"] == [setup["texts"][0]]
    assert results["asr"]["n"] == 2 and "wer" in results["asr"]
    # Both clips in one batch; 40 s = 4000 mel frames -> 2000 Whisper frames -> 200 tokens at 5 Hz;
    # 3 s -> 150 frames -> 15 tokens. A clip cut at 30 s would give 150.
    assert sorted(n for call in seen["audio_tokens"] for n in call) == [15, 200]
    (out,) = seen["encoded"]
    row = int(out.lengths.argmax())
    assert out.lengths.tolist()[row] == 2000
    # The frames from 30 s on are the encoding of the last 10 s of speech itself.
    with torch.no_grad():
        tail = whisper(setup["long"][None, 30 * RATE :], torch.tensor([10 * RATE]))
        head = whisper(setup["long"][None, : 30 * RATE], torch.tensor([30 * RATE]))
    torch.testing.assert_close(out.features[row, 1500:2000], tail.features[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.features[row, :1500], head.features[0], atol=1e-5, rtol=1e-5)
    assert float(tail.features.abs().mean()) > 0
