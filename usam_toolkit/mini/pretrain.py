"""``usam mini pretrain``: the two components of the mini world that no offline package provides.

- a music encoder (the MERT stand-in): a ``conv_transformer`` at 24 kHz trained on the music corpus's train
  split to tag instrument, tempo, tonic, mode and drums (labels from :mod:`usam_toolkit.mini.music_tags`),
  saved as ``music_encoder.safetensors`` (load it with ``conv_transformer`` ``path:`` and
  :data:`MUSIC_ENCODER` as the rest of the config);
- a small causal LM (Llama architecture) with its own BPE tokenizer, trained on the world's train text
  (targets, source texts and the task prompts in front of them) plus captions generated from fresh music
  and event recipes, saved as an HF folder ``lm/`` (load it with ``hf_causal_lm`` ``path:``).

Each artefact has a ``<name>.json`` beside it with its fingerprint (settings, code version and the sha256 of
the manifests it read) and its dev scores; a later call with the same fingerprint reuses it. Dev and test
text never reaches the LM: generated captions equal to a dev/test reference are dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data.manifest import references_of
from ..errors import DataError

#: bump when the training code changes what it produces.
PRETRAIN_VERSION = 1

#: the music encoder's conv_transformer config (recipes repeat it next to ``path:``).
MUSIC_ENCODER: dict[str, Any] = {
    "sample_rate": 24000,
    "n_mels": 64,
    "win_ms": 25.0,
    "hop_ms": 10.0,
    "strides": [2, 2],
    "dim": 128,
    "layers": 2,
    "heads": 4,
}


@dataclass
class MusicSettings:
    """Music tagger training.

    Attributes:
        encoder: conv_transformer config fields.
        steps: optimiser steps.
        batch_size: clips per step.
        crop_seconds: random crop per training clip (whole clips at dev time).
        lr: AdamW peak learning rate (cosine decay after 10% warm-up).
        seed: init and sampling seed.
    """

    encoder: dict[str, Any] = field(default_factory=lambda: dict(MUSIC_ENCODER))
    steps: int = 150
    batch_size: int = 16
    crop_seconds: float = 4.0
    lr: float = 2e-3
    seed: int = 0


@dataclass
class LMSettings:
    """Small causal LM training.

    Attributes:
        hidden, layers, heads, intermediate: Llama sizes.
        vocab_size: BPE vocabulary learnt on the training text.
        steps, batch_size, lr: AdamW with cosine decay after 5% warm-up.
        max_tokens: longest training sequence.
        generated_captions: fresh music and event recipes whose captions are added (each kind).
        seed: init and sampling seed.
    """

    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 512
    vocab_size: int = 2000
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    max_tokens: int = 64
    generated_captions: int = 600
    seed: int = 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(settings: Any, manifests: Sequence[Path]) -> str:
    """sha256 over the settings, :data:`PRETRAIN_VERSION` and the bytes of ``manifests``."""
    payload = {
        "version": PRETRAIN_VERSION,
        "settings": asdict(settings),
        "manifests": {p.name: _sha256(p) for p in manifests},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cached(meta_path: Path, artefact: Path, fp: str) -> dict[str, Any] | None:
    if not (meta_path.is_file() and artefact.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    return meta if meta.get("fingerprint") == fp else None


def _manifest(world: Path, name: str) -> Path:
    path = world / name
    if not path.is_file():
        raise DataError(f"{path}: missing (build the world first: usam mini build --out {world})")
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- music


def _load_clips(path: Path, sample_rate: int) -> tuple[list[Any], list[dict[str, int]]]:
    """Waveforms (float tensors at ``sample_rate``) and tags of every clip in a music manifest."""
    import torch

    from ..audio.decode import decode_audio
    from ..audio.resample import resample
    from .music_tags import tags_of_targets

    waves, tags = [], []
    for rec in _records(path):
        audio = Path(rec["audio"])
        audio = audio if audio.is_absolute() else path.parent / audio
        dec = decode_audio(audio, rec.get("offset"), rec.get("duration"))
        wave = resample(torch.from_numpy(dec.samples), dec.sample_rate, sample_rate)
        waves.append(wave.float())
        tags.append(tags_of_targets(rec["target"], where=f"{path} id={rec['id']}"))
    if not waves:
        raise DataError(f"{path}: no music clips")
    return waves, tags


class MusicTagger:
    """A conv_transformer and one linear head per tag over its masked mean-pooled features."""

    def __init__(self, encoder_cfg: dict[str, Any], seed: int):
        import torch
        from torch import nn
        from usam_plugins.encoders.configs import ConvTransformerConfig
        from usam_plugins.encoders.conv_transformer import ConvTransformerEncoder

        from .music_tags import TAG_CLASSES

        torch.manual_seed(seed)
        self.encoder = ConvTransformerEncoder(ConvTransformerConfig(mode="trainable", **encoder_cfg))
        self.heads = nn.ModuleDict(
            {name: nn.Linear(self.encoder.output_dim, len(classes)) for name, classes in TAG_CLASSES.items()}
        )

    def parameters(self) -> list[Any]:
        return list(self.encoder.parameters()) + list(self.heads.parameters())

    def train(self, on: bool) -> None:
        self.encoder.train(on)
        self.heads.train(on)

    def logits(self, waves: list[Any]) -> dict[str, Any]:
        """Per-tag logits ``[B, classes]`` for a list of 1-D waveforms."""
        import torch

        from ..masks import masked_mean

        lengths = torch.tensor([len(w) for w in waves])
        audio = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            audio[i, : len(w)] = w
        out = self.encoder(audio, lengths)
        pooled = masked_mean(out.features, out.lengths)
        return {name: head(pooled) for name, head in self.heads.items()}


def _accuracy(
    tagger: MusicTagger, waves: list[Any], tags: list[dict[str, int]], batch: int = 8
) -> dict[str, float]:
    import torch

    tagger.train(False)
    correct: dict[str, int] = {}
    with torch.no_grad():
        for start in range(0, len(waves), batch):
            logits = tagger.logits(waves[start : start + batch])
            for name, lg in logits.items():
                pred = lg.argmax(-1).tolist()
                gold = [t[name] for t in tags[start : start + batch]]
                correct[name] = correct.get(name, 0) + sum(int(p == g) for p, g in zip(pred, gold))
    return {name: round(c / len(waves), 4) for name, c in correct.items()}


def pretrain_music_encoder(
    world: Path, out: Path, settings: MusicSettings | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train (or reuse) the music tagger; write ``music_encoder.safetensors`` + ``music_encoder.json``.

    Returns:
        The metadata: fingerprint, encoder config, dev accuracy per tag, seconds (wall and CPU).
    """
    import torch
    import torch.nn.functional as F
    from usam_plugins.encoders.conv_transformer import save_conv_transformer

    settings = settings or MusicSettings()
    train_m, dev_m = _manifest(world, "train_mc.jsonl"), _manifest(world, "dev_mc.jsonl")
    fp = fingerprint(settings, [train_m, dev_m])
    weights, meta_path = out / "music_encoder.safetensors", out / "music_encoder.json"
    cached = _cached(meta_path, weights, fp)
    if cached:
        log(f"music encoder: reusing {weights} (fingerprint {fp[:12]})")
        return cached
    wall, cpu = time.perf_counter(), time.process_time()
    sr = int(settings.encoder["sample_rate"])
    train_w, train_t = _load_clips(train_m, sr)
    dev_w, dev_t = _load_clips(dev_m, sr)
    tagger = MusicTagger(settings.encoder, settings.seed)
    opt = torch.optim.AdamW(tagger.parameters(), lr=settings.lr, weight_decay=0.01)
    from ..train.optim import warmup_cosine

    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(settings.steps, settings.steps // 10))
    rng = random.Random(settings.seed)
    crop = int(settings.crop_seconds * sr)
    tagger.train(True)
    for step in range(settings.steps):
        idx = [rng.randrange(len(train_w)) for _ in range(min(settings.batch_size, len(train_w)))]
        batch = []
        for i in idx:
            w = train_w[i]
            start = rng.randrange(max(1, len(w) - crop + 1))
            batch.append(w[start : start + crop] * (10 ** (rng.uniform(-6, 6) / 20)))
        logits = tagger.logits(batch)
        loss = sum(
            F.cross_entropy(lg, torch.tensor([train_t[i][name] for i in idx])) for name, lg in logits.items()
        )
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        torch.nn.utils.clip_grad_norm_(tagger.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == settings.steps - 1:
            log(f"music encoder: step {step + 1}/{settings.steps} loss {loss.item():.3f}")
    dev_acc = _accuracy(tagger, dev_w, dev_t)
    train_acc = _accuracy(tagger, train_w[: len(dev_w) * 2], train_t[: len(dev_w) * 2])
    out.mkdir(parents=True, exist_ok=True)
    save_conv_transformer(tagger.encoder, weights)
    meta = {
        "fingerprint": fp,
        "encoder": settings.encoder,
        "settings": asdict(settings),
        "dev_accuracy": dev_acc,
        "train_accuracy_sample": train_acc,
        "dev_clips": len(dev_w),
        "train_clips": len(train_w),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    log(f"music encoder: dev accuracy {dev_acc} -> {weights}")
    return meta


# ------------------------------------------------------------------------------------------------ LM


def _task_prompts() -> dict[str, tuple[str, ...]]:
    from usam_plugins.tasks.asr import ASR_PROMPTS
    from usam_plugins.tasks.captioning import AAC_PROMPTS, MC_PROMPTS

    return {"asr": ASR_PROMPTS, "aac": AAC_PROMPTS, "mc": MC_PROMPTS}


def _s2tt_prompts(lang: str) -> tuple[str, ...]:
    from usam_plugins.tasks.s2tt import S2TT_PROMPTS, language_name

    return tuple(p.format(language=language_name(lang)) for p in S2TT_PROMPTS)


def _texts_of(records: list[dict[str, Any]], rng: random.Random) -> list[str]:
    """Prompted targets and plain texts of manifest records (every reference of captioning clips)."""
    prompts = _task_prompts()
    texts: list[str] = []
    for rec in records:
        task = rec.get("task")
        refs = references_of(rec["target"])
        if task == "s2tt":
            choices = _s2tt_prompts(rec.get("target_lang") or "fr")
        else:
            choices = prompts.get(task, ("",))
        for ref in refs:
            texts.append(f"{rng.choice(choices)} {ref}".strip())
            texts.append(ref)
        if rec.get("source_text"):
            texts.append(str(rec["source_text"]))
    return texts


def generated_captions(count: int, seed: int, exclude: set[str]) -> list[str]:
    """Captions of ``count`` fresh music and ``count`` fresh event recipes, minus any in ``exclude``."""
    import numpy as np

    from . import events, music
    from .captions import event_captions, music_captions

    rng = np.random.default_rng(seed + 7919)
    out: list[str] = []
    for _ in range(count):
        out += music_captions(music.sample_recipe(rng), rng)
        out += event_captions(events.sample_recipe(rng), rng)
    return [c for c in out if c not in exclude]


def _references(records: list[dict[str, Any]]) -> set[str]:
    refs: set[str] = set()
    for rec in records:
        refs.update(references_of(rec["target"]))
        if rec.get("source_text"):
            refs.add(rec["source_text"])
    return refs


def lm_corpus(world: Path, settings: LMSettings) -> tuple[list[str], list[str]]:
    """(train texts, dev texts): train from ``train.jsonl`` plus generated captions; dev from ``dev.jsonl``.

    Generated captions equal to any dev or test reference are dropped, so no held-out sentence is seen.
    """
    rng = random.Random(settings.seed)
    train = _records(_manifest(world, "train.jsonl"))
    dev = _records(_manifest(world, "dev.jsonl"))
    held_out = _references(dev)
    test_path = world / "test.jsonl"
    if test_path.is_file():
        held_out |= _references(_records(test_path))
    train_texts = _texts_of(train, rng) + generated_captions(
        settings.generated_captions, settings.seed, held_out
    )
    dev_texts = [t for t in _texts_of(dev, random.Random(settings.seed + 1)) if t]
    return train_texts, dev_texts


def dev_targets_by_task(world: Path) -> dict[str, list[str]]:
    """Every reference of ``dev.jsonl``, plain (no prompt), per task."""
    out: dict[str, list[str]] = {}
    for rec in _records(_manifest(world, "dev.jsonl")):
        refs = references_of(rec["target"])
        out.setdefault(str(rec.get("task")), []).extend(r for r in refs if r)
    return out


def _encode(tok: Any, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    eos = tok.eos_token_id
    return [(tok(t)["input_ids"] + [eos])[:max_tokens] for t in texts]


def _batch(seqs: list[list[int]], pad: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def perplexity(model: Any, seqs: list[list[int]], pad: int, batch_size: int = 64) -> float:
    """exp of the mean next-token loss over every predicted token of ``seqs``."""
    import torch
    import torch.nn.functional as F

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(seqs), batch_size):
            ids, mask, labels = _batch(seqs[start : start + batch_size], pad)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            gold = labels[:, 1:]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), reduction="sum")
            total += float(loss)
            count += int((gold != -100).sum())
    return math.exp(total / max(1, count))


def pretrain_lm(
    world: Path, out: Path, settings: LMSettings | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train (or reuse) the small causal LM; write the HF folder ``lm/`` and ``lm.json``.

    Returns:
        The metadata: fingerprint, sizes, dev perplexity (and at init), corpus sizes, seconds.
    """
    import os

    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from usam_plugins.llms.tiny import write_tiny_tokenizer

    settings = settings or LMSettings()
    manifests = [_manifest(world, "train.jsonl"), _manifest(world, "dev.jsonl")]
    if (world / "test.jsonl").is_file():
        manifests.append(world / "test.jsonl")
    fp = fingerprint(settings, manifests)
    folder, meta_path = out / "lm", out / "lm.json"
    cached = _cached(meta_path, folder / "config.json", fp)
    if cached:
        log(f"LM: reusing {folder} (fingerprint {fp[:12]})")
        return cached
    wall, cpu = time.perf_counter(), time.process_time()
    train_texts, dev_texts = lm_corpus(world, settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_tiny_tokenizer(folder, train_texts, vocab_size=settings.vocab_size)
    tok = AutoTokenizer.from_pretrained(str(folder))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=settings.hidden,
        intermediate_size=settings.intermediate,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        num_key_value_heads=settings.heads,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(settings.seed)
    model = LlamaForCausalLM(config)
    train_seqs = _encode(tok, train_texts, settings.max_tokens)
    dev_seqs = _encode(tok, dev_texts, settings.max_tokens)
    ppl_init = perplexity(model, dev_seqs, tok.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01, betas=(0.9, 0.98))
    from ..train.optim import warmup_cosine

    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(settings.steps, settings.steps // 20, 0.05))
    rng = random.Random(settings.seed)
    model.train()
    for step in range(settings.steps):
        ids, mask, labels = _batch(
            [rng.choice(train_seqs) for _ in range(settings.batch_size)], tok.pad_token_id
        )
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == settings.steps - 1:
            log(f"LM: step {step + 1}/{settings.steps} loss {loss.item():.3f}")
    ppl = perplexity(model, dev_seqs, tok.pad_token_id)
    # Per task, because the mixture hides what matters downstream: templated captions are easy, while
    # held-out sentences (ASR, translation) show how much language the LM knows beyond its training text.
    by_task = {
        task: round(perplexity(model, _encode(tok, texts, settings.max_tokens), tok.pad_token_id), 2)
        for task, texts in sorted(dev_targets_by_task(world).items())
    }
    model.save_pretrained(str(folder), safe_serialization=True)
    meta = {
        "fingerprint": fp,
        "settings": asdict(settings),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tok),
        "train_texts": len(train_texts),
        "dev_texts": len(dev_texts),
        "dev_perplexity": round(ppl, 3),
        "dev_perplexity_at_init": round(ppl_init, 3),
        "dev_perplexity_by_task": by_task,
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    log(
        f"LM: dev perplexity {ppl:.2f} (at init {ppl_init:.1f}); per task on plain references: "
        + ", ".join(f"{t} {v}" for t, v in by_task.items())
        + f" -> {folder}"
    )
    return meta


def default_pretrained_dir(world: Path) -> Path:
    """``<world>/pretrained``: where the recipes look for the pretrained components."""
    return Path(world) / "pretrained"


def pretrain(
    world: Path,
    out: Path | None = None,
    music: MusicSettings | None = None,
    lm: LMSettings | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Pretrain (or reuse) both components of ``world`` into ``out`` (default ``<world>/pretrained``).

    Returns:
        ``{"music_encoder": meta, "lm": meta}``.
    """
    world = Path(world)
    out = Path(out) if out else default_pretrained_dir(world)
    return {
        "music_encoder": pretrain_music_encoder(world, out, music, log),
        "lm": pretrain_lm(world, out, lm, log),
    }
