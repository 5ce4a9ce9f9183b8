"""Conformance checks that every component, ours or a third party's, can run in its own tests.

Usage in a plugin's test suite::

    from usam_toolkit.testing import build_example, check_component

    def test_my_encoder(tmp_path):
        check_component("encoders", "my_encoder", tmp_path)

Each ``check_*`` asserts the contract of :mod:`usam_toolkit.interfaces`: declared dims equal produced
dims, lengths are consistent with shapes, padding never changes valid outputs, configs round-trip.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from .interfaces import BuildContext, LLMOutput, LossInputs, ProjectorContext
from .registry import Entry, Registry

#: The build context used for conformance builds (tiny widths; the chain's LLM width is 24).
CONFORMANCE_CTX = dict(
    input_dim=16,
    frame_rate=50.0,
    output_dim=24,
    llm_dim=24,
    prompt_dim=24,
    task_names=("asr", "aac"),
    is_last=True,
)


def _registry(registry: Registry | None) -> Registry:
    from .plugins import get_registry

    return registry or get_registry()


def check_config_roundtrip(entry: Entry) -> None:
    """The config dataclass survives OmegaConf structured → YAML → dataclass unchanged."""
    from omegaconf import OmegaConf

    base = OmegaConf.structured(entry.config_cls)
    text = OmegaConf.to_yaml(base)
    again = OmegaConf.merge(OmegaConf.structured(entry.config_cls), OmegaConf.create(text))
    assert OmegaConf.to_container(again) == OmegaConf.to_container(base), (
        f"{entry.name}: config round-trip differs"
    )
    for f in dataclasses.fields(entry.config_cls):
        assert not f.name.startswith("_"), f"{entry.name}: config field '{f.name}' must not start with '_'"


def build_example(
    kind: str, name: str, tmp_dir: Path, registry: Registry | None = None, **ctx_kw: Any
) -> Any:
    """Build component ``name`` of ``kind`` from its registered ``example`` config."""
    reg = _registry(registry)
    entry = reg.get(kind, name)
    assert entry.example is not None, (
        f"{kind[:-1]} '{name}' registers no example(tmp_dir) for conformance tests"
    )
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    overrides = entry.example(tmp_dir)
    ctx = BuildContext(**{**CONFORMANCE_CTX, "base_dir": tmp_dir, "cache_dir": tmp_dir / "cache", **ctx_kw})
    return reg.build(kind, {"name": name, **overrides}, ctx, where=f"{kind}:{name}")


def _audio_batch(sample_rate: int, seconds: tuple[float, ...], seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    n = [max(1, int(round(s * sample_rate))) for s in seconds]
    audio = torch.zeros(len(n), max(n))
    for i, k in enumerate(n):
        audio[i, :k] = 0.1 * torch.randn(k, generator=g)
    return audio, torch.tensor(n)


def check_encoder(encoder: Any, atol: float = 1e-4) -> None:
    """Shapes, declared dims and rates, length bookkeeping, padding invariance, fingerprint."""
    import torch

    for attr in ("output_dim", "frame_rate", "sample_rate"):
        assert hasattr(encoder, attr), f"encoder lacks '{attr}'"
    assert callable(getattr(encoder, "fingerprint", None)), "encoder lacks fingerprint()"
    fp = encoder.fingerprint()
    assert isinstance(fp, str) and fp and fp == encoder.fingerprint(), "fingerprint must be a stable string"
    encoder.eval()
    audio, lens = _audio_batch(int(encoder.sample_rate), (1.0, 2.0))
    with torch.no_grad():
        out = encoder(audio, lens)
        alone = encoder(audio[:1, : int(lens[0])], lens[:1])
    feats, olens = out.features, out.lengths
    assert feats.ndim == 3 and feats.shape[0] == 2, f"features must be [B, T, D], got {tuple(feats.shape)}"
    assert feats.shape[2] == encoder.output_dim, (
        f"declared output_dim {encoder.output_dim} != {feats.shape[2]}"
    )
    assert olens.shape == (2,) and int(olens.max()) == feats.shape[1], "max(lengths) must equal T"
    assert int(olens[0]) < int(olens[1]), "a shorter clip must give fewer frames"
    assert math.isclose(out.frame_rate, float(encoder.frame_rate)), "EncoderOutput.frame_rate != declared"
    for i, sec in enumerate((1.0, 2.0)):
        expected = sec * float(encoder.frame_rate)
        assert abs(int(olens[i]) - expected) <= max(2.0, 0.1 * expected), (
            f"{sec} s gave {int(olens[i])} frames; {expected:.1f} expected at {encoder.frame_rate} frames/s"
        )
    assert torch.isfinite(feats).all(), "non-finite features"
    n0 = int(olens[0])
    assert int(alone.lengths[0]) == n0, "padding changed the length of a clip"
    diff = (alone.features[0, :n0] - feats[0, :n0]).abs().max().item()
    assert diff <= atol, f"padding leaked into valid frames (max diff {diff:.2e})"
    limit = getattr(encoder, "max_samples", None)
    if limit:  # an encoder with a longest input still takes a clip past it, whole
        seconds = (int(limit) + encoder.sample_rate) / encoder.sample_rate
        audio, lens = _audio_batch(int(encoder.sample_rate), (seconds,))
        with torch.no_grad():
            long = encoder(audio, lens)
        expected = seconds * float(encoder.frame_rate)
        assert abs(int(long.lengths[0]) - expected) <= max(2.0, 0.01 * expected), (
            f"a {seconds:.1f} s clip (past max_samples={limit}) gave {int(long.lengths[0])} frames; "
            f"{expected:.1f} expected"
        )


def check_projector(
    projector: Any, input_dim: int, frame_rate: float, prompt_dim: int, atol: float = 1e-4
) -> None:
    """Output width, length bookkeeping and padding invariance of one projector."""
    import torch

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 40, input_dim, generator=g)
    lens = torch.tensor([17, 40])
    ctx = ProjectorContext(
        prompt_embedding=torch.randn(2, prompt_dim, generator=g), task_ids=torch.tensor([0, 1])
    )
    projector.eval()
    with torch.no_grad():
        out = projector(feats, lens, frame_rate, ctx)
        alone = projector(
            feats[:1, :17], lens[:1], frame_rate, ProjectorContext(ctx.prompt_embedding[:1], ctx.task_ids[:1])
        )
    assert out.features.ndim == 3 and out.features.shape[2] == projector.output_dim, (
        "declared output_dim differs"
    )
    assert int(out.lengths.max()) == out.features.shape[1], "max(lengths) must equal T'"
    assert int(out.lengths[0]) <= int(out.lengths[1]), "a shorter input must not give more tokens"
    assert out.frame_rate > 0
    n0 = int(out.lengths[0])
    assert int(alone.lengths[0]) == n0, "padding changed the token count"
    diff = (alone.features[0, :n0] - out.features[0, :n0]).abs().max().item()
    assert diff <= atol, f"padding leaked into valid tokens (max diff {diff:.2e})"


def fake_loss_inputs(dim: int = 24, vocab: int = 11, batch: int = 3, seed: int = 0) -> LossInputs:
    """A small random :class:`LossInputs` with grads enabled on the audio and logits."""
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, 9, vocab, generator=g, requires_grad=True)
    labels = torch.full((batch, 9), -100)
    labels[:, 5:] = torch.randint(0, vocab, (batch, 4), generator=g)
    audio = torch.randn(batch, 6, dim, generator=g, requires_grad=True)
    text = torch.randn(batch, 4, dim, generator=g)
    llm = LLMOutput(
        logits=logits,
        labels=labels,
        audio_embeds=audio,
        audio_lengths=torch.tensor([6, 4, 5][:batch] + [6] * max(0, batch - 3)),
        text_embeds=text,
        text_lengths=torch.tensor([4, 3, 2][:batch] + [4] * max(0, batch - 3)),
    )
    aux = {"tapm_balance": (audio.pow(2).mean() * 0 + 1.5)}
    return LossInputs(llm=llm, aux_losses=aux, task_ids=torch.arange(batch) % 2)


def check_loss(loss: Any, dim: int = 24) -> None:
    """A finite scalar, plain-float logs, and a backward pass that reaches the inputs."""
    import torch

    inputs = fake_loss_inputs(dim)
    out = loss(inputs)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss), "loss must be a finite scalar"
    json.dumps(out.logs)  # logs must be plain numbers
    if out.loss.requires_grad:
        out.loss.backward()


def check_llm(llm: Any) -> None:
    """Packed forward shapes and label masking, prompt embedding width, batched generation."""
    import torch

    from .interfaces import GenerationConfig

    d = llm.hidden_size
    g = torch.Generator().manual_seed(0)
    audio = 0.02 * torch.randn(2, 5, d, generator=g)
    lens = torch.tensor([3, 5])
    out = llm.forward_packed(["<a>", "<a> x"], audio, lens, ["</a> say", "</a>"], ["hello", "hi there"])
    assert out.logits.shape[:2] == out.labels.shape, "logits and labels must align on [B, L]"
    assert (out.labels != -100).any(dim=1).all(), "every sample needs target labels"
    assert out.text_embeds.shape[0] == 2 and out.text_embeds.shape[2] == d
    emb = llm.prompt_embedding(["transcribe", "describe the sound"])
    assert tuple(emb.shape) == (2, d), "prompt_embedding must be [B, D]"
    texts = llm.generate_packed(
        ["<a>", "<a>"], audio, lens, ["</a>", "</a>"], GenerationConfig(max_new_tokens=3)
    )
    assert isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, str) for t in texts)


def check_metric(metric: Any) -> None:
    """Deterministic, JSON-serialisable scores on a tiny corpus."""
    hyps = ["the cat sat on the mat", "a dog barks"]
    refs = [["the cat sat on the mat"], ["a dog is barking", "the dog barks"]]
    first = metric.compute(hyps, refs)
    assert isinstance(first, dict) and first, "compute must return a non-empty dict"
    json.dumps(first)
    assert metric.compute(hyps, refs) == first, "scores must be deterministic"


def check_task(task: Any, registry: Registry | None = None) -> None:
    """Prompts are two strings; default metrics are registered; normalisation is idempotent."""
    reg = _registry(registry)
    left, right = task.prompt({"id": "x", "task": task.name, "target": "hello", "target_lang": "fr"})
    assert isinstance(left, str) and isinstance(right, str) and (left or right), "prompt must give text"
    for m in task.metrics:
        reg.get("metrics", m)
    once = task.normalize("Hello, World!  It's 2 o'clock.")
    assert task.normalize(once) == once, "normalize must be idempotent"


_CHECKS: dict[str, Any] = {
    "encoders": lambda comp, reg: check_encoder(comp),
    "projectors": lambda comp, reg: check_projector(
        comp,
        int(CONFORMANCE_CTX["input_dim"]),
        float(CONFORMANCE_CTX["frame_rate"]),
        int(CONFORMANCE_CTX["prompt_dim"]),
    ),
    "losses": lambda comp, reg: check_loss(comp, int(CONFORMANCE_CTX["llm_dim"])),
    "llms": lambda comp, reg: check_llm(comp),
    "metrics": lambda comp, reg: check_metric(comp),
    "tasks": lambda comp, reg: check_task(comp, reg),
}


def check_component(kind: str, name: str, tmp_dir: Path, registry: Registry | None = None) -> Any:
    """Build ``name`` from its example and run the checks of its kind; returns the component.

    Dataset preparers have no runtime contract beyond their config; they are checked by their own
    fixture-tree tests.
    """
    reg = _registry(registry)
    check_config_roundtrip(reg.get(kind, name))
    comp = build_example(kind, name, tmp_dir, reg)
    if kind in _CHECKS:
        _CHECKS[kind](comp, reg)
    return comp


def sine_wav_bytes(seconds: float, freq: float, sr: int = 16000) -> bytes:
    """A mono float32 WAV of a 0.3-amplitude sine, in memory: a clip any decoder must accept."""
    import io

    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def silent_flac_bytes(seconds: int, channels: int = 8, sr: int = 192_000) -> bytes:
    """A silent 16-bit FLAC, in memory: small on disk (it compresses to almost nothing) but
    ``seconds * sr * channels`` samples once decoded, the upload a decoded-size admission must refuse."""
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros((sr, channels), dtype=np.int16)
        for _ in range(seconds):
            f.write(block)
    return buf.getvalue()
