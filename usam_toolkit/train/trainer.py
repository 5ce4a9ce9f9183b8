"""The one training loop: any ``nn.Module`` whose ``forward(batch)`` returns a :class:`StepOutput`.

Loss averaging (identical for 1 process, DDP and FSDP2, with or without accumulation):
one optimizer step consumes ``grad_accum`` global batches. Each rank back-propagates
``loss_i * B_i`` for each of its micro-batches (``loss_i`` is the model's mean over its ``B_i``
samples), the data-parallel reduction averages gradients over the ``W`` ranks, and the trainer then
multiplies the gradients by ``W / N`` where ``N`` is the all-reduced number of samples in the step.
The step's gradient is therefore the gradient of ``sum_i B_i * loss_i / N``: the sample-weighted
mean over every sample of the step, whatever the split across ranks and micro-batches. The logged
``loss`` is that same quantity.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, UsamError
from . import checkpoint as ckpt_io
from .config import TrainConfig
from .distributed import (
    ShardedBatchSampler,
    all_reduce_sum,
    barrier,
    broadcast_object,
    gather_objects,
    gather_trainable_state,
    init_distributed,
    unwrap,
    wrap_model,
)
from .optim import (
    build_optimizer,
    build_scheduler,
    load_optimizer_state_by_name,
    optimizer_state_by_name,
    resolve_precision,
)
from .rng import capture_rng, preserved_rng, restore_rng, seed_everything
from .run_log import RunLog, make_progress

EvaluateFn = Callable[[nn.Module, int], Mapping[str, float]]
_LOWER_SUFFIXES = ("loss", "wer", "cer", "ter", "error", "perplexity")


class TrainingStopped(UsamError):
    """The run stopped on its own (e.g. too many consecutive non-finite losses)."""


@dataclass
class TrainResult:
    """How a run ended.

    Attributes:
        step: optimizer steps done.
        reason: ``max_steps``, ``signal SIGTERM``/``signal SIGINT``, or ``stop requested``.
        last_checkpoint: folder of the last checkpoint written (None if none).
        best_checkpoint: folder of the best checkpoint (None without ``best_metric``).
        best_value: the best metric value.
        bad_steps: steps skipped for a non-finite loss or gradient.
    """

    step: int
    reason: str
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_value: float | None
    bad_steps: int


def metric_direction(name: str) -> tuple[str, bool]:
    """``(key, lower_is_better)`` for a ``best_metric`` setting (see :class:`TrainConfig`)."""
    if name.startswith("-"):
        return name[1:], True
    if name.startswith("+"):
        return name[1:], False
    return name, name.lower().rstrip("%").endswith(_LOWER_SUFFIXES)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the DataLoader generator (worker seeds) for an epoch; independent of the global RNG."""
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63)


class Trainer:
    """Trains ``model`` on batches from ``batch_sampler`` over ``dataset``.

    Args:
        model: unwrapped ``nn.Module``; ``forward(batch) -> StepOutput``. Trainable = ``requires_grad``.
        dataset: map-style dataset the sampler indexes.
        batch_sampler: yields lists of indices (global batches); ``set_epoch``, ``set_start``, ``__len__``.
        config: the recipe's ``train`` section.
        out_dir: run folder (checkpoints, ``train_log.jsonl``, ``tensorboard/``, ``plots/``). When the
            model's ``StepOutput.extras`` carry ``stage/<label>`` tensors (AudioLLM does), every logged
            record's ``logs`` also holds the projector-health figures ``health/<label>/<figure>`` of
            that step (:mod:`usam_toolkit.model.health`).
        collate_fn: turns a list of dataset items into a batch with ``.to(device)`` and ``len()``.
        num_workers: DataLoader workers.
        evaluate_fn: ``(model, step) -> {name: value}``; runs on EVERY rank (rank 0's dict is used).
            It may switch the model to eval mode; the trainer switches it back and keeps the training
            RNG streams untouched by it.
        seed: the recipe seed; rank r seeds its generators with ``seed + r`` on a fresh start.
        recipe: resolved recipe (YAML string, DictConfig or mapping) saved in every checkpoint.
        provenance: component -> {distribution, version}, saved in every checkpoint.
        recipe_check: ``(saved_recipe, current_recipe) -> reasons`` run before resuming.
        resume: False, True (latest checkpoint of ``out_dir`` if any), or a checkpoint/run folder.
        task_names: labels of ``task_ids`` for the routing-weights figure.
        device: force a device; default CUDA ``LOCAL_RANK`` when available, else CPU.
        on_step: ``(trainer, record)`` after every optimizer step on every rank (tests, callbacks).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Any,
        batch_sampler: Any,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        collate_fn: Callable[[list], Any] | None = None,
        num_workers: int = 0,
        evaluate_fn: EvaluateFn | None = None,
        seed: int = 0,
        recipe: Any = None,
        provenance: Mapping[str, Any] | None = None,
        recipe_check: ckpt_io.RecipeCheck | None = None,
        resume: bool | str | Path = False,
        task_names: Sequence[str] = (),
        device: str | torch.device | None = None,
        on_step: Callable[[Trainer, dict], None] | None = None,
    ) -> None:
        if config.max_steps <= 0:
            raise ConfigError(f"train.max_steps: must be > 0, got {config.max_steps}")
        if config.grad_accum <= 0:
            raise ConfigError(f"train.grad_accum: must be >= 1, got {config.grad_accum}")
        self.raw_model = model
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.cfg = config
        self.out_dir = Path(out_dir)
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.evaluate_fn = evaluate_fn
        self.seed = seed
        self.recipe = recipe
        self.provenance = dict(provenance or {})
        self.recipe_check = recipe_check
        self.resume = resume
        self.task_names = list(task_names)
        self.device_request = device
        self.on_step = on_step
        self._stop_reason: str | None = None
        # loop state (what trainer_state.json holds)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.consumed_samples = 0
        self.bad_steps = 0
        self.bad_in_a_row = 0
        self.best_value: float | None = None
        self.best_checkpoint: str | None = None
        self.last_checkpoint: Path | None = None
        self._routing_sum: np.ndarray | None = None  # [T, N]
        self._routing_count: np.ndarray | None = None  # [T]
        self._text_rms: float | None = None  # the LLM's input-embedding RMS, for the health figures

    # ----------------------------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to checkpoint and return after the current optimizer step."""
        self._stop_reason = reason

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._stop_reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: leave now
        self._stop_reason = f"signal {name}"
        print(f"\n[train] {name}: writing a checkpoint after this step, then stopping", file=sys.stderr)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, self._on_signal)
        return old

    # ----------------------------------------------------------------------------------------------
    def _resume_checkpoint(self) -> Path | None:
        if self.resume is False or self.resume is None:
            return None
        if self.resume is True:
            found = ckpt_io.find_latest(self.out_dir)
            if found is None and self.env.is_main:
                print(
                    f"[train] resume: no checkpoint in {self.out_dir}; starting from step 0", file=sys.stderr
                )
            return found
        return ckpt_io.resolve_checkpoint(self.resume)

    def _state_dict(self, rng_states: list[dict]) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "consumed_samples": self.consumed_samples,
            "max_steps": self.cfg.max_steps,
            "best_metric": self.cfg.best_metric,
            "best_value": self.best_value,
            "best_checkpoint": self.best_checkpoint,
            "bad_steps": self.bad_steps,
            "bad_steps_in_a_row": self.bad_in_a_row,
            "world_size": self.env.world_size,
            "grad_scaler": self.scaler.state_dict() if self.precision.use_scaler else {},
            "routing_sum": None if self._routing_sum is None else self._routing_sum.tolist(),
            "routing_count": None if self._routing_count is None else self._routing_count.tolist(),
            "time": time.time(),
            "rng": rng_states,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.consumed_samples = int(state["consumed_samples"])
        self.bad_steps = int(state.get("bad_steps", 0))
        self.bad_in_a_row = int(state.get("bad_steps_in_a_row", 0))
        if state.get("best_metric") == self.cfg.best_metric:
            self.best_value = state.get("best_value")
            self.best_checkpoint = state.get("best_checkpoint")
        if state.get("routing_sum") is not None and self.env.is_main:
            self._routing_sum = np.asarray(state["routing_sum"], dtype=np.float64)
            self._routing_count = np.asarray(state["routing_count"], dtype=np.float64)

    def _restore_rng(self, state: Mapping[str, Any]) -> None:
        """Last thing before the loop: nothing after it may draw random numbers."""
        rngs = state.get("rng") or []
        if self.env.rank < len(rngs):
            restore_rng(rngs[self.env.rank])
        else:
            seed_everything(self.seed + self.env.rank)
            if rngs:
                print(
                    f"[train] rank {self.env.rank}: no saved RNG state (world size changed); reseeded",
                    file=sys.stderr,
                )

    # ----------------------------------------------------------------------------------------------
    def _save(self) -> Path:
        """Write a checkpoint at the current step (a collective: every rank calls it)."""
        fsdp = self.env.is_distributed and self.cfg.distributed == "fsdp"
        model_state = gather_trainable_state(self.raw_model) if (fsdp or self.env.is_main) else {}
        optim_state = (
            optimizer_state_by_name(self.optimizer, self.raw_model) if (fsdp or self.env.is_main) else {}
        )
        rng_states = gather_objects(capture_rng(), self.env)
        routing = self._reduced_routing()
        path = self.out_dir / f"checkpoint-{self.step}"
        if self.env.is_main:
            saved_sum, saved_count = self._routing_sum, self._routing_count
            if routing is not None:
                self._routing_sum, self._routing_count = routing
            state = self._state_dict(rng_states)
            self._routing_sum, self._routing_count = saved_sum, saved_count
            path = ckpt_io.save_checkpoint(
                self.out_dir,
                self.step,
                model_state=model_state,
                optimizer_state=optim_state,
                scheduler_state=self.scheduler.state_dict(),
                trainer_state=state,
                recipe=self.recipe,
                provenance=self.provenance,
            )
            if self.best_checkpoint == path.name:
                ckpt_io.mark_best(self.out_dir, path)
            ckpt_io.rotate_checkpoints(self.out_dir, self.cfg.keep_last, protect=[self.best_checkpoint or ""])
        barrier(self.env)
        self.last_checkpoint = path
        return path

    def _reduced_routing(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Routing sums over all ranks (rank 0 also holds what a resumed checkpoint carried)."""
        parts = gather_objects(
            None if self._routing_sum is None else (self._routing_sum, self._routing_count), self.env
        )
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        t = max(p[0].shape[0] for p in parts)
        n = parts[0][0].shape[1]
        total = np.zeros((t, n))
        count = np.zeros(t)
        for s, c in parts:
            total[: s.shape[0]] += s
            count[: c.shape[0]] += c
        return total, count

    def _accumulate_routing(self, extras: Mapping[str, Any]) -> None:
        w = extras.get("routing_weights")
        ids = extras.get("task_ids")
        if w is None or ids is None:
            return
        w = w.detach().float().cpu().numpy()
        ids = ids.detach().cpu().numpy().astype(int)
        t = int(ids.max()) + 1 if ids.size else 0
        t = max(t, len(self.task_names), 0 if self._routing_sum is None else self._routing_sum.shape[0])
        if self._routing_sum is None or self._routing_sum.shape != (t, w.shape[1]):
            s = np.zeros((t, w.shape[1]))
            c = np.zeros(t)
            if self._routing_sum is not None:
                s[: self._routing_sum.shape[0]] = self._routing_sum
                c[: self._routing_count.shape[0]] = self._routing_count
            self._routing_sum, self._routing_count = s, c
        np.add.at(self._routing_sum, ids, w)
        np.add.at(self._routing_count, ids, 1.0)

    def _is_log_step(self, step: int) -> bool:
        return step % max(1, self.cfg.log_every) == 0 or step == self.cfg.max_steps

    def _accumulate_health(
        self, extras: Mapping[str, Any], b: int, logs_sum: dict[str, float], logs_w: dict[str, float]
    ) -> None:
        """Add one micro-batch's projector-health figures to the step's logs (logging steps only).

        They join the other logs, so the logged value is their sample-weighted mean over the
        micro-batches of the logging step and over the ranks (see :mod:`usam_toolkit.model.health`).
        """
        if not any(k.startswith("stage/") for k in extras):
            return
        from ..model.health import health_logs

        with torch.no_grad():
            figures = health_logs(extras, self._text_rms)
        for k, v in figures.items():
            logs_sum[k] = logs_sum.get(k, 0.0) + v * b
            logs_w[k] = logs_w.get(k, 0.0) + b

    # ----------------------------------------------------------------------------------------------
    def _evaluate(self) -> dict[str, float] | None:
        if self.evaluate_fn is None:
            return None
        with preserved_rng():
            metrics = dict(self.evaluate_fn(self.raw_model, self.step) or {})
        self.model.train()
        metrics = broadcast_object({k: float(v) for k, v in metrics.items()}, self.env)
        self.log.write(
            {"type": "eval", "step": self.step, "epoch": self.epoch, "metrics": metrics, "time": time.time()}
        )
        if self.env.is_main and self.bar is not None:
            self.bar.write(
                f"[eval] step {self.step}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            )
        return metrics

    def _is_better(self, metrics: Mapping[str, float] | None) -> bool:
        if not metrics or not self.cfg.best_metric:
            return False
        key, lower = metric_direction(self.cfg.best_metric)
        if key not in metrics:
            raise ConfigError(
                f"train.best_metric: '{key}' is not among the evaluation results "
                f"({', '.join(sorted(metrics))})"
            )
        value = float(metrics[key])
        if not math.isfinite(value):
            return False
        if self.best_value is None or (value < self.best_value if lower else value > self.best_value):
            self.best_value = value
            self.best_checkpoint = f"checkpoint-{self.step}"
            return True
        return False

    # ----------------------------------------------------------------------------------------------
    def _next_batch(self) -> Any:
        """The next batch of this rank, rolling over epochs; counts batches CONSUMED (not prefetched)."""
        empty_epochs = 0
        while True:
            if self._iter is None:
                self.sharded.set_epoch(self.epoch)
                self.sharded.set_start(self.batch_in_epoch)
                self._generator.manual_seed(epoch_seed(self.seed, self.epoch))
                self._iter = iter(self.loader)
                self._yielded_this_iter = 0
            try:
                batch = next(self._iter)
            except StopIteration:
                empty_epochs = empty_epochs + 1 if self._yielded_this_iter == 0 else 0
                if empty_epochs >= 2:
                    raise ConfigError(
                        "train: the batch sampler yields no batch (empty training set?)"
                    ) from None
                self._iter = None
                self.epoch += 1
                self.batch_in_epoch = 0
                continue
            self._yielded_this_iter += 1
            self.batch_in_epoch += 1
            return batch

    def _set_grad_sync(self, enabled: bool) -> Any:
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if not self.env.is_distributed:
            return nullcontext()
        if hasattr(self.model, "no_sync") and not enabled:
            return self.model.no_sync()
        if hasattr(self.model, "set_requires_gradient_sync"):
            self.model.set_requires_gradient_sync(enabled)
        return nullcontext()

    def _train_step(self) -> dict[str, Any]:
        """One optimizer step over ``grad_accum`` global batches; returns the reduced statistics."""
        self.model.train()
        dev = self.env.device
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        n_local = 0
        audio_local = 0.0
        logs_sum: dict[str, float] = {}
        logs_w: dict[str, float] = {}
        health = self._is_log_step(self.step + 1)  # the step this one becomes if it is not skipped
        for micro in range(self.cfg.grad_accum):
            batch = self._next_batch()
            if hasattr(batch, "to"):
                batch = batch.to(dev)
            with self._set_grad_sync(micro == self.cfg.grad_accum - 1):
                with self._autocast:
                    out = self.model(batch)
                b = int(out.batch_size or len(batch))
                self.scaler.scale(out.loss.float() * b).backward()
            loss_sum += out.loss.detach().double() * b
            n_local += b
            audio_local += float(out.audio_seconds or getattr(batch, "audio_seconds", 0.0) or 0.0)
            for k, v in (out.logs or {}).items():
                logs_sum[k] = logs_sum.get(k, 0.0) + float(v) * b
                logs_w[k] = logs_w.get(k, 0.0) + b
            self._accumulate_routing(out.extras or {})
            if health:
                self._accumulate_health(out.extras or {}, b, logs_sum, logs_w)
        stats = torch.stack(
            [
                loss_sum,
                torch.tensor(float(n_local), dtype=torch.float64, device=dev),
                torch.tensor(audio_local, dtype=torch.float64, device=dev),
            ]
        )
        all_reduce_sum(stats, self.env)
        total_loss, n_total, audio_total = (float(x) for x in stats.tolist())
        loss = total_loss / max(n_total, 1.0)
        result = {
            "loss": loss,
            "samples": n_total,
            "audio_seconds": audio_total,
            "logs_sum": logs_sum,
            "logs_w": logs_w,
            "lr": self.scheduler.get_last_lr()[0],
        }
        params = self._trainable
        if not math.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            result.update(skipped=True, grad_norm=float("nan"))
            return result
        self.scaler.unscale_(self.optimizer)
        factor = self.env.world_size / n_total
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(factor)
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip and self.cfg.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        if not math.isfinite(norm) and not self.precision.use_scaler:
            # a finite loss with an exploding gradient: same treatment as a non-finite loss
            self.optimizer.zero_grad(set_to_none=True)
            result.update(skipped=True, grad_norm=norm)
            return result
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        result.update(skipped=False, grad_norm=norm)
        return result

    # ----------------------------------------------------------------------------------------------
    def _setup(self) -> Path | None:
        self.env = init_distributed(self.device_request)
        if self.cfg.distributed != "none" and not self.env.is_distributed and self.env.is_main:
            print(
                f"[train] distributed: {self.cfg.distributed} ignored in a single process "
                "(launch with torchrun --nproc-per-node N)",
                file=sys.stderr,
            )
        if self.env.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            ckpt_io.clean_stale_tmp(self.out_dir)
        barrier(self.env)
        resume_from = self._resume_checkpoint()
        state = None
        if resume_from is not None:
            ckpt_io.check_recipe(resume_from, self.recipe, self.recipe_check)
            ckpt_io.load_trainable(self.raw_model, resume_from, strict=True)
            state = ckpt_io.read_trainer_state(resume_from)
        else:
            seed_everything(self.seed + self.env.rank)
        self.precision = resolve_precision(self.cfg.precision, self.env.device)
        # Once, on the user's module and before FSDP2 shards it: the scale the health figures compare to.
        embedding_rms = getattr(getattr(self.raw_model, "llm", None), "embedding_rms", None)
        self._text_rms = float(embedding_rms()) if callable(embedding_rms) else None
        self.model = wrap_model(
            self.raw_model, self.cfg.distributed, self.env, self.cfg.find_unused_parameters
        )
        self.raw_model = unwrap(self.model)
        self._trainable = [p for p in self.raw_model.parameters() if p.requires_grad]
        # bf16/fp16: autocast around the forward; frozen encoders and the losses stay fp32 inside it,
        # parameters and optimizer state stay fp32 (see usam_toolkit.precision).
        self._autocast = self.precision.autocast(self.raw_model)
        if self.env.is_main:
            print(f"[train] {self.precision.describe()}", file=sys.stderr)
        self.optimizer = build_optimizer(self.raw_model, self.cfg)
        self.scheduler = build_scheduler(self.optimizer, self.cfg)
        self.scaler = torch.amp.GradScaler(self.env.device.type, enabled=self.precision.use_scaler)
        if resume_from is not None:
            assert state is not None
            saved_optim = ckpt_io.load_state_file(resume_from, ckpt_io.OPTIMIZER_FILE)
            load_optimizer_state_by_name(self.optimizer, self.raw_model, saved_optim)
            self.scheduler.load_state_dict(ckpt_io.load_state_file(resume_from, ckpt_io.SCHEDULER_FILE))
            if self.precision.use_scaler and state.get("grad_scaler"):
                self.scaler.load_state_dict(state["grad_scaler"])
            self._load_state(state)
            self.last_checkpoint = resume_from
            if self.env.is_main:
                print(
                    f"[train] resumed from {resume_from} (step {self.step}, epoch {self.epoch}, "
                    f"batch {self.batch_in_epoch})",
                    file=sys.stderr,
                )
        self.sharded = ShardedBatchSampler(self.batch_sampler, self.env.rank, self.env.world_size)
        self._generator = torch.Generator()
        from torch.utils.data import DataLoader

        kwargs: dict[str, Any] = {}
        if self.collate_fn is not None:
            kwargs["collate_fn"] = self.collate_fn
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.sharded,
            num_workers=self.num_workers,
            pin_memory=self.env.device.type == "cuda",
            generator=self._generator,
            **kwargs,
        )
        self._iter = None
        self._yielded_this_iter = 0
        self.log = RunLog(
            self.out_dir,
            self.env.is_main,
            self.cfg.tensorboard,
            resume_step=self.step if resume_from is not None else None,
        )
        self.bar = make_progress(self.cfg.max_steps, self.step, self.env.is_main and self.cfg.progress)
        if resume_from is None:
            self._log_length_policy()
        if state is not None:
            self._restore_rng(state)
        return resume_from

    def _log_length_policy(self) -> None:
        """What the dataset's length policy did, per task, once per run (a resume keeps the first record)."""
        report = getattr(self.dataset, "length_report", None)
        if not report or not self.env.is_main:
            return
        self.log.write({"type": "data", "step": self.step, "length_policy": report, "time": time.time()})
        for task, r in report.items():
            print(
                f"[train] length policy {task}: {r['policy']} ({r['kept']} kept, {r['cropped']} cropped, "
                f"{r['skipped']} skipped, {r['split']} split)",
                file=sys.stderr,
            )

    def fit(self) -> TrainResult:
        """Train until ``max_steps`` optimizer steps (or a stop); returns how the run ended.

        Raises:
            TrainingStopped: after ``max_bad_steps`` consecutive non-finite steps (a checkpoint is
                written first).
        """
        self._setup()
        old_handlers = self._install_signals()
        reason = "max_steps"
        t_start = time.time()
        interval = {
            "t": time.time(),
            "samples": 0.0,
            "audio": 0.0,
            "loss_w": 0.0,
            "steps": 0,
            "logs_sum": {},
            "logs_w": {},
        }
        diverged: str | None = None
        evaluated_at = -1
        try:
            while self.step < self.cfg.max_steps:
                r = self._train_step()
                if r["skipped"]:
                    self.bad_steps += 1
                    self.bad_in_a_row += 1
                    if self.env.is_main:
                        msg = (
                            f"[train] step {self.step + 1}: non-finite loss/gradient (loss={r['loss']}, "
                            f"grad_norm={r['grad_norm']}); update skipped ({self.bad_in_a_row} in a row)"
                        )
                        (self.bar.write if self.bar is not None else print)(msg)
                    if self.bad_in_a_row >= self.cfg.max_bad_steps:
                        diverged = (
                            f"training stopped: {self.bad_in_a_row} consecutive steps with a non-finite "
                            f"loss or gradient (train.max_bad_steps={self.cfg.max_bad_steps}) after step "
                            f"{self.step}. The weights were never updated with them; lower train.lr, use "
                            "precision fp32/bf16, or check the data."
                        )
                        reason = "diverged"
                        break
                else:
                    self.bad_in_a_row = 0
                    self.step += 1
                    self.consumed_samples += int(r["samples"])
                    interval["samples"] += r["samples"]
                    interval["audio"] += r["audio_seconds"]
                    interval["loss_w"] += r["loss"] * r["samples"]
                    interval["steps"] += 1
                    for k, v in r["logs_sum"].items():
                        interval["logs_sum"][k] = interval["logs_sum"].get(k, 0.0) + v
                        interval["logs_w"][k] = interval["logs_w"].get(k, 0.0) + r["logs_w"][k]
                    if self._is_log_step(self.step):
                        self._log_interval(interval, r, t_start)
                    if self.bar is not None:
                        self.bar.update(1)
                if self.on_step is not None:
                    self.on_step(self, r)
                if not r["skipped"]:
                    metrics = None
                    if self.cfg.eval_every > 0 and self.step % self.cfg.eval_every == 0:
                        metrics = self._evaluate()
                        evaluated_at = self.step
                    if self.step == self.cfg.max_steps and evaluated_at != self.step:
                        metrics = self._evaluate()
                        evaluated_at = self.step
                    best = self._is_better(metrics)
                    periodic = self.cfg.save_every > 0 and self.step % self.cfg.save_every == 0
                    if best or periodic or self.step == self.cfg.max_steps:
                        self._save()
                if self._agreed_stop():
                    reason = self._stop_reason or "stop requested"
                    break
            if reason != "max_steps" and (
                self.last_checkpoint is None or self.last_checkpoint.name != f"checkpoint-{self.step}"
            ):
                self._save()
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            if self.bar is not None:
                self.bar.close()
            self.log.close()
        self._finish_plots()
        if diverged is not None:
            raise TrainingStopped(diverged + f" Last checkpoint: {self.last_checkpoint}")
        return TrainResult(
            step=self.step,
            reason=reason,
            last_checkpoint=self.last_checkpoint,
            best_checkpoint=(self.out_dir / self.best_checkpoint) if self.best_checkpoint else None,
            best_value=self.best_value,
            bad_steps=self.bad_steps,
        )

    def _agreed_stop(self) -> bool:
        flag = torch.tensor([1.0 if self._stop_reason else 0.0], device=self.env.device)
        all_reduce_sum(flag, self.env)
        if flag.item() > 0 and self._stop_reason is None:
            self._stop_reason = "stop requested on another rank"
        return flag.item() > 0

    def _log_interval(self, interval: dict, r: Mapping[str, Any], t_start: float) -> None:
        now = time.time()
        logs_sum = gather_objects(interval["logs_sum"], self.env)
        logs_w = gather_objects(interval["logs_w"], self.env)
        logs: dict[str, float] = {}
        weights: dict[str, float] = {}
        for s_part, w_part in zip(logs_sum, logs_w):
            for k, v in s_part.items():
                logs[k] = logs.get(k, 0.0) + v
                weights[k] = weights.get(k, 0.0) + w_part[k]
        dt = max(now - interval["t"], 1e-9)
        record = {
            "type": "train",
            "step": self.step,
            "epoch": self.epoch,
            "loss": interval["loss_w"] / max(interval["samples"], 1.0),
            "logs": {k: logs[k] / max(weights[k], 1.0) for k in sorted(logs)},
            "lr": r["lr"],
            "grad_norm": r["grad_norm"],
            "samples_per_s": interval["samples"] / dt,
            "audio_s_per_s": interval["audio"] / dt,
            "bad_steps": self.bad_steps,
            "elapsed_s": now - t_start,
            "time": now,
        }
        self.log.write(record)
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{record['loss']:.4f}",
                sps=f"{record['samples_per_s']:.1f}",
                audio_sps=f"{record['audio_s_per_s']:.1f}",
                refresh=False,
            )
        interval.update(t=now, samples=0.0, audio=0.0, loss_w=0.0, steps=0, logs_sum={}, logs_w={})

    def _finish_plots(self) -> None:
        routing = self._reduced_routing()
        if not (self.env.is_main and self.cfg.plots):
            return
        from .plots import plot_eval_curve, plot_loss_curve, plot_projector_health, plot_routing_weights

        plot_loss_curve(self.log.path, self.out_dir / "plots" / "loss.png")
        plot_eval_curve(self.log.path, self.out_dir / "plots" / "eval.png")
        plot_projector_health(self.log.path, self.out_dir / "plots" / "projector_health.png")
        if routing is not None:
            total, count = routing
            seen = count > 0
            if seen.any():
                names = [
                    self.task_names[i] if i < len(self.task_names) else f"task {i}" for i in range(len(count))
                ]
                mean = total[seen] / count[seen][:, None]
                plot_routing_weights(
                    mean,
                    [n for n, s in zip(names, seen) if s],
                    self.out_dir / "plots" / "routing_weights.png",
                )


def train(
    model: nn.Module,
    dataset: Any,
    batch_sampler: Any,
    config: TrainConfig,
    out_dir: str | Path,
    **kwargs: Any,
) -> TrainResult:
    """Functional form of :class:`Trainer` (same arguments)."""
    return Trainer(model, dataset, batch_sampler, config, out_dir, **kwargs).fit()
