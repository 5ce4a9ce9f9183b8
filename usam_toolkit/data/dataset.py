"""Map-style dataset over manifest examples, and the collator that builds a :class:`Batch`.

One decode per sample feeds every encoder: the span is read once at its native rate, downmixed, and
resampled to each rate in ``sample_rates`` (16 kHz Whisper/CED, 24 kHz MERT, ...).

Length policy (training only; evaluation never crops, skips or splits), chosen per task
(:func:`length_policies`: the task entry's ``length_policy``, else ``data.length_policy``, else the
task's ``default_length_policy``: ``skip`` for asr and s2tt, ``crop`` for aac and mc):

- ``crop``: examples longer than ``max_seconds`` are cut to a ``max_seconds`` window whose start is
  random but reproducible from (seed, epoch, id); the target is kept whole.
- ``skip``: such examples are left out of the training set.
- ``split``: such examples become ``ceil(d / max_seconds)`` consecutive segments (ids ``<id>@<k>``),
  each with the whole target; only sensible for clip-level captions (aac, mc).

What each policy did (per task: kept, cropped, skipped, split) is logged once per dataset (logger
``usam_toolkit.data``) and kept in :attr:`AudioDataset.length_report`; the trainer writes it once per run
into ``train_log.jsonl``.

Training targets: an example with several references (Clotho's five captions) trains on one per epoch,
rotating through them from a start drawn from (seed, id): every caption once in every ``n`` epochs, the
same one after a resume (:meth:`AudioDataset.training_target`).

Bad samples found while decoding (in ``__getitem__``, i.e. inside a worker): strict mode raises
:class:`~usam_toolkit.errors.DataError` naming ``manifest:line (id, audio)``; lenient mode appends the
sample to the report file from the worker (one flushed append per line, safe across processes) and
returns a :class:`SkippedSample` marker that the :class:`Collator` drops and lists in
:attr:`Batch.skipped`, so the main process can count skips without reading the file.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..audio.decode import AudioLimits, AudioProblem, audio_info, decode_audio
from ..audio.resample import resample_many
from ..errors import ConfigError, DataError
from .batch import Batch
from .config import DataConfig
from .manifest import Example
from .report import BadSample, BadSampleReport

log = logging.getLogger("usam_toolkit.data")

LENGTH_POLICIES = ("crop", "skip", "split")
BAD_SAMPLE_MODES = ("error", "skip")


@dataclass
class SkippedSample:
    """Marker returned by ``__getitem__`` in lenient mode for a sample that could not be used."""

    bad: BadSample


def limits_from_config(config: DataConfig) -> AudioLimits:
    return AudioLimits(
        min_seconds=config.min_audio_seconds,
        max_seconds=config.max_audio_seconds,
        min_sample_rate=config.min_sample_rate,
        max_sample_rate=config.max_sample_rate,
    )


def audio_hash(samples: Any, sample_rate: int) -> str:
    """Content hash of decoded mono float32 samples and their rate (32 hex chars)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(int(sample_rate)).encode())
    h.update(memoryview(samples).cast("B"))
    return h.hexdigest()


def _stable_seed(*parts: Any) -> int:
    # zlib.crc32, not hash(): str hashes differ between processes (PYTHONHASHSEED).
    return zlib.crc32(":".join(map(str, parts)).encode("utf-8"))


TRAINING_REFERENCES = ("rotate", "first")


def _check_choice(value: str, valid: Sequence[str], key: str) -> None:
    if value not in valid:
        raise ConfigError(f"data.{key}: '{value}' is not valid (valid: {', '.join(valid)})")


def length_policies(tasks: Mapping[str, Any], config: DataConfig, *, warn: bool = True) -> dict[str, str]:
    """The training length policy of each task: its entry's ``length_policy`` > ``data.length_policy`` >
    its ``default_length_policy`` (``skip`` for a task that declares none: it never trains on a target
    its audio lacks).

    Raises:
        ConfigError: a policy outside :data:`LENGTH_POLICIES`, naming the recipe key that set it.
    """
    if config.length_policy is not None:
        _check_choice(config.length_policy, LENGTH_POLICIES, "length_policy")
    out = {}
    for name, task in tasks.items():
        own = getattr(task, "length_policy", None)
        policy = own or config.length_policy or getattr(task, "default_length_policy", "skip")
        if policy not in LENGTH_POLICIES:
            key = f"tasks.{name}.length_policy" if own else f"task '{name}' default_length_policy"
            raise ConfigError(f"{key}: '{policy}' is not valid (valid: {', '.join(LENGTH_POLICIES)})")
        safe = tuple(getattr(task, "safe_length_policies", LENGTH_POLICIES))
        if warn and policy not in safe:
            log.warning(
                "length policy '%s' for task '%s' keeps the whole target of a clip it shortens: the model "
                "trains on text its audio does not hold (safe for this task: %s)",
                policy,
                name,
                ", ".join(safe),
            )
        out[name] = policy
    return out


class AudioDataset:
    """Examples to decoded, resampled samples.

    Args:
        examples: validated manifest examples.
        sample_rates: every rate an encoder needs; each sample is resampled to all of them.
        tasks: task objects by name (prompts, targets).
        train: training (length policy applies, random prompt variants allowed) or evaluation.
        config: the recipe's ``data`` section.
        prompt_variant: overrides ``config.prompt_variant`` (an int, or "random").
        report: where lenient mode records bad samples (a new one writing
            ``config.bad_sample_report`` if None).
        seed: seeds crops and random prompt variants.

    Raises:
        DataError: in strict mode, for an unknown task or an unreadable header while probing
            durations, naming ``manifest:line (id, audio)``.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        sample_rates: Sequence[int],
        tasks: Mapping[str, Any],
        *,
        train: bool,
        config: DataConfig,
        prompt_variant: int | str | None = None,
        report: BadSampleReport | None = None,
        seed: int = 0,
    ):
        _check_choice(config.on_bad_sample, BAD_SAMPLE_MODES, "on_bad_sample")
        _check_choice(config.training_references, TRAINING_REFERENCES, "training_references")
        self.policies = length_policies(tasks, config, warn=train)
        if not sample_rates:
            raise ConfigError("AudioDataset needs at least one sample rate (one per encoder)")
        self.sample_rates = [int(r) for r in dict.fromkeys(sample_rates)]
        self.tasks = dict(tasks)
        self.train = train
        self.config = config
        self.strict = config.on_bad_sample == "error"
        self.limits = limits_from_config(config)
        self.report = report if report is not None else BadSampleReport(config.bad_sample_report)
        self.seed = seed
        self.epoch = 0
        variant = config.prompt_variant if prompt_variant is None else prompt_variant
        self.prompt_variant: int | str = "random" if str(variant) == "random" else int(variant)
        self.examples, self.durations = self._probe(list(examples))
        self.full_durations = list(self.durations)
        self.length_stats: Counter[str] = Counter()
        self.length_report: dict[str, dict[str, Any]] = {}
        if train:
            self._apply_length_policy()

    # ------------------------------------------------------------------ construction
    def _bad(self, ex: Example, reason: str, detail: str, stage: str) -> None:
        bad = BadSample(ex.id, str(ex.manifest), ex.line, ex.audio, reason, detail, stage)
        if self.strict:
            raise DataError(bad.message())
        self.report.add(bad)
        log.warning("skipping %s", bad.message())

    def _probe(self, examples: list[Example]) -> tuple[list[Example], list[float]]:
        """Check tasks and find every duration (header read where the manifest has none)."""
        kept: list[Example] = []
        durations: list[float] = []
        for ex in examples:
            if ex.task not in self.tasks:
                self._bad(
                    ex,
                    "unknown_task",
                    f"task '{ex.task}' is not among this run's tasks "
                    f"(valid: {', '.join(sorted(self.tasks))})",
                    "probe",
                )
                continue
            dur = ex.duration
            if dur is None:
                try:
                    sr, frames = audio_info(ex.audio)
                except AudioProblem as p:
                    self._bad(ex, p.reason, p.detail, "probe")
                    continue
                dur = frames / sr - (ex.offset or 0.0)
                if dur <= 0:
                    self._bad(
                        ex, "bad_span", f"offset {ex.offset} s is past the end ({frames / sr:.3f} s)", "probe"
                    )
                    continue
            if dur > self.limits.max_seconds:
                self._bad(
                    ex,
                    "too_long",
                    f"duration {dur:.1f} s (valid: at most {self.limits.max_seconds:g} s)",
                    "probe",
                )
                continue
            kept.append(ex)
            durations.append(float(dur))
        return kept, durations

    def _apply_length_policy(self) -> None:
        limit = self.config.max_seconds
        done = {"crop": "cropped", "skip": "skipped", "split": "split"}
        report = {
            t: {"policy": self.policies[t], "kept": 0, "cropped": 0, "skipped": 0, "split": 0}
            for t in sorted({ex.task for ex in self.examples})
        }
        examples, durations, full = [], [], []
        for ex, d in zip(self.examples, self.durations):
            policy = self.policies[ex.task]
            if d <= limit:
                report[ex.task]["kept"] += 1
                examples.append(ex)
                durations.append(d)
                full.append(d)
                continue
            self.length_stats[ex.task] += 1
            report[ex.task][done[policy]] += 1
            if policy == "crop":
                examples.append(ex)
                durations.append(limit)
                full.append(d)
            elif policy == "split":
                for k in range(math.ceil(d / limit)):
                    seg = min(limit, d - k * limit)
                    examples.append(
                        replace(ex, id=f"{ex.id}@{k}", offset=(ex.offset or 0.0) + k * limit, duration=seg)
                    )
                    durations.append(seg)
                    full.append(seg)
        self.examples, self.durations, self.full_durations = examples, durations, full
        self.length_report = report
        log.info(
            "length policy (data.max_seconds=%g) over %d training examples: %s",
            limit,
            sum(sum(v for k, v in r.items() if k != "policy") for r in report.values()),
            "; ".join(
                f"{t} ({r['policy']}): {r['kept']} kept, {r['cropped']} cropped, {r['skipped']} skipped, "
                f"{r['split']} split"
                for t, r in report.items()
            ),
        )

    # ------------------------------------------------------------------ access
    def set_epoch(self, epoch: int) -> None:
        """Crops and random prompt variants depend on the epoch (workers see it at iterator creation)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.examples)

    def span(self, index: int) -> tuple[float | None, float | None]:
        """``(offset, duration)`` actually read for ``index`` (a training crop picks its window here)."""
        ex = self.examples[index]
        limit = self.config.max_seconds
        full = self.full_durations[index]
        if not self.train or self.policies[ex.task] != "crop" or full <= limit:
            return ex.offset, ex.duration
        rng = random.Random(_stable_seed(self.seed, self.epoch, ex.id, "crop"))
        return (ex.offset or 0.0) + rng.uniform(0.0, full - limit), limit

    def training_target(self, index: int, references: Sequence[str]) -> str:
        """The reference example ``index`` trains on in this epoch.

        One per epoch, not one example per reference: five copies of each Clotho clip would give Clotho five
        times its share of the task mixture and put the same audio five times into an epoch. The rotation
        starts at a caption drawn from (seed, id), so every caption comes once in every ``n`` epochs and a
        resumed run picks what the uninterrupted one would have.
        """
        n = len(references)
        start = random.Random(_stable_seed(self.seed, self.examples[index].id, "caption")).randrange(n)
        return references[(start + self.epoch) % n]

    def _variant(self, index: int) -> int:
        if self.prompt_variant != "random":
            return int(self.prompt_variant)
        if not self.train:
            return 0
        task = self.tasks[self.examples[index].task]
        n = max(1, int(task.num_prompt_variants))
        return random.Random(
            _stable_seed(self.seed, self.epoch, self.examples[index].id, "prompt")
        ).randrange(n)

    def __getitem__(self, index: int) -> dict[str, Any] | SkippedSample:
        import torch

        ex = self.examples[index]
        try:
            offset, duration = self.span(index)
            decoded = decode_audio(ex.audio, offset, duration, limits=self.limits)
        except AudioProblem as p:
            bad = BadSample(ex.id, str(ex.manifest), ex.line, ex.audio, p.reason, p.detail, "load")
            if self.strict:
                raise DataError(bad.message()) from None
            self.report.add(bad)
            return SkippedSample(bad)
        wave = torch.from_numpy(decoded.samples)
        audio = resample_many(wave, decoded.sample_rate, self.sample_rates)
        task = self.tasks[ex.task]
        left, right = task.prompt(ex, self._variant(index))
        refs = task.references(ex)
        if self.train and len(refs) > 1 and self.config.training_references == "rotate":
            target = task.training_text(self.training_target(index, refs))
        else:
            target = task.target(ex)
        return {
            "example": ex,
            "audio": audio,
            "hash": audio_hash(decoded.samples, decoded.sample_rate),
            "duration": decoded.seconds,
            "prompt_left": left,
            "prompt_right": right,
            "target": target,
            "references": refs,
        }


class Collator:
    """Pads per-rate audio and gathers texts into a :class:`Batch`; drops :class:`SkippedSample` markers.

    Args:
        task_names: the run's task names; ``Batch.task_ids`` index this list.
    """

    def __init__(self, task_names: Sequence[str]):
        self.task_names = list(task_names)
        self._index = {t: i for i, t in enumerate(self.task_names)}

    def __call__(self, samples: Sequence[dict[str, Any] | SkippedSample | None]) -> Batch:
        import torch

        skipped = [s.bad for s in samples if isinstance(s, SkippedSample)]
        good = [s for s in samples if isinstance(s, dict)]
        rates = sorted(good[0]["audio"]) if good else []
        audio, lengths = {}, {}
        for sr in rates:
            waves = [s["audio"][sr] for s in good]
            n = torch.tensor([w.shape[-1] for w in waves], dtype=torch.long)
            audio[sr] = torch.nn.utils.rnn.pad_sequence([w.float() for w in waves], batch_first=True)
            lengths[sr] = n
        tasks = [s["example"].task for s in good]
        for s in good:
            if s["example"].task not in self._index:
                ex = s["example"]
                raise DataError(
                    f"{ex.location}: task '{ex.task}' is not in the collator's task list "
                    f"(valid: {', '.join(self.task_names)})"
                )
        return Batch(
            ids=[s["example"].id for s in good],
            tasks=tasks,
            task_ids=torch.tensor([self._index[t] for t in tasks], dtype=torch.long),
            audio=audio,
            audio_lengths=lengths,
            audio_hashes=[s["hash"] for s in good],
            durations=torch.tensor([s["duration"] for s in good], dtype=torch.float32),
            targets=[s["target"] for s in good],
            references=[list(s["references"]) for s in good],
            prompts_left=[s["prompt_left"] for s in good],
            prompts_right=[s["prompt_right"] for s in good],
            examples=[s["example"] for s in good],
            skipped=skipped,
        )
