"""Recipe section ``data``: manifests, length policy, batching and bad-sample handling."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    """Where examples come from and how they are batched.

    Relative manifest paths are resolved against the recipe's folder.
    """

    train: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    # Dynamic batching: a batch holds at most this many seconds of audio (sum over samples) ...
    batch_seconds: float = 240.0
    # ... and at most this many samples.
    max_batch_size: int = 64
    # Examples are grouped by length into buckets of this many batches before shuffling.
    bucket_size: int = 100
    # Training length policy for clips longer than max_seconds (evaluation never crops): crop | skip |
    # split for every task, or None for each task's own: a task entry's length_policy, else the task's safe
    # default (asr, s2tt: skip; aac, mc: crop). A task entry's length_policy wins over this one.
    max_seconds: float = 30.0
    length_policy: str | None = None
    on_bad_sample: str = "error"  # error | skip (skips are counted and written to a report)
    # JSONL file listing every skipped id and reason (lenient mode); None = "<output_dir>/bad_samples.jsonl"
    # chosen by the trainer, or no file when nobody gives one.
    bad_sample_report: str | None = None
    # When set, every manifest's audio must resolve ('..' collapsed, symlinks followed) to a file under
    # this folder (relative: to the recipe's folder); others are bad samples (reason outside_root).
    # None: no limit (docs/reliability.md explains why that is the default).
    audio_root: str | None = None
    # Bounds beyond which audio is bad input (absurd lengths, odd sample rates), in both modes.
    min_audio_seconds: float = 0.05
    max_audio_seconds: float = 3600.0
    min_sample_rate: int = 4000
    max_sample_rate: int = 192000
    # Prompt paraphrase: an integer index, or "random" (a seeded random paraphrase per training sample;
    # evaluation then uses variant 0).
    prompt_variant: str = "0"
    # Examples with several references (Clotho's five captions) in training: "rotate" trains on one per
    # epoch, cycling through all of them; "first" always on the first (the mini demo: measured better
    # there, docs/mini-world.md). Evaluation scores against all references either way.
    training_references: str = "rotate"
    # Multi-task sampling: weight per task name (missing tasks weigh 1) and temperature.
    task_weights: dict[str, float] = field(default_factory=dict)
    task_temperature: float = 1.0
    num_workers: int = 0
    # Folder of the on-disk cache of frozen encoder outputs; None disables it.
    feature_cache: str | None = None
    # What the frozen encoders run in when they fill that cache: fp32 | bf16. Part of the cache key; bf16
    # is refused for an encoder whose bf16 features are below cosine 0.999 to fp32 (checked on its first
    # batch). docs/benchmarks.md ("Precision") has the measurements.
    feature_cache_precision: str = "fp32"
