"""One call from manifests to a DataLoader of :class:`~usam_toolkit.data.batch.Batch`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import DataConfig
from .dataset import AudioDataset, Collator
from .manifest import read_manifests
from .report import BadSampleReport
from .sampler import DynamicBatchSampler


def build_dataloader(
    manifests: Sequence[str | Path],
    sample_rates: Sequence[int],
    tasks: Mapping[str, Any],
    config: DataConfig,
    *,
    train: bool,
    seed: int = 0,
    base_dir: str | Path | None = None,
    report: BadSampleReport | None = None,
    task_names: Sequence[str] | None = None,
):
    """Read manifests, build the dataset, the dynamic batch sampler and the DataLoader.

    Args:
        manifests: JSONL files; relative paths are resolved against ``base_dir`` (the recipe's folder).
        sample_rates: the encoders' rates.
        tasks: task objects by name; manifests may only use these.
        config: the ``data`` section (batching, length policy, bad-sample mode, workers).
        train: shuffled, task-mixed, length policy applied; otherwise length-sorted, whole audio.
        seed: seeds the sampler plan, crops and random prompt variants.
        base_dir: folder for relative manifest paths.
        report: bad-sample report (lenient mode); one writing ``config.bad_sample_report`` if None.
        task_names: order of ``Batch.task_ids`` (the recipe's task list); ``list(tasks)`` if None.

    Returns:
        ``(DataLoader, DynamicBatchSampler)``; call ``sampler.set_epoch(e)`` each epoch (it also sets
        the dataset's epoch) and ``sampler.set_start(k)`` to resume mid-epoch.
    """
    from torch.utils.data import DataLoader

    base = Path(base_dir) if base_dir is not None else None
    paths = [
        Path(m).expanduser() if base is None or Path(m).expanduser().is_absolute() else base / m
        for m in manifests
    ]
    strict = config.on_bad_sample == "error"
    report = report if report is not None else BadSampleReport(config.bad_sample_report)
    root = Path(config.audio_root).expanduser() if config.audio_root else None
    if root is not None and base is not None and not root.is_absolute():
        root = base / root
    examples = read_manifests(paths, strict=strict, known_tasks=set(tasks), report=report, audio_root=root)
    dataset = AudioDataset(
        examples, sample_rates, tasks, train=train, config=config, report=report, seed=seed
    )
    sampler = DynamicBatchSampler(
        dataset.durations,
        [ex.task for ex in dataset.examples],
        batch_seconds=config.batch_seconds,
        max_batch_size=config.max_batch_size,
        bucket_size=config.bucket_size,
        task_weights=config.task_weights,
        temperature=config.task_temperature,
        seed=seed,
        shuffle=train,
        on_set_epoch=dataset.set_epoch,
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=Collator(list(task_names) if task_names is not None else list(tasks)),
        num_workers=config.num_workers,
    )
    return loader, sampler
