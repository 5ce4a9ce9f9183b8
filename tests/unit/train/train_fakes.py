"""Tiny stand-ins for the model, batch, dataset and batch sampler the trainer is written against."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from usam_toolkit.interfaces import StepOutput

DIM = 6
N_EXPERTS = 3


@dataclass
class FakeBatch:
    """x ``[B, DIM]``, y ``[B]``, task ids ``[B]``, poison ``[B]`` (1 = make the loss NaN)."""

    x: torch.Tensor
    y: torch.Tensor
    task_ids: torch.Tensor
    poison: torch.Tensor

    def to(self, device: torch.device | str) -> FakeBatch:
        return FakeBatch(
            self.x.to(device), self.y.to(device), self.task_ids.to(device), self.poison.to(device)
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def audio_seconds(self) -> float:
        return 1.5 * len(self)


class FakeDataset(torch.utils.data.Dataset):
    """``n`` fixed random regression examples; indices in ``poison`` make NaN losses."""

    def __init__(self, n: int = 24, seed: int = 0, poison: set[int] | None = None) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, DIM, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, DIM) + 0.1 * torch.randn(n, generator=g)
        self.poison = poison or set()

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple:
        return self.x[i], self.y[i], i % 2, float(i in self.poison)


def collate(items: list) -> FakeBatch:
    xs, ys, tasks, poison = zip(*items)
    return FakeBatch(torch.stack(xs), torch.stack(ys), torch.tensor(tasks), torch.tensor(poison))


class FakeSampler:
    """Global batches of a per-(seed, epoch) permutation; ``set_start`` skips batches of the epoch."""

    def __init__(
        self, n: int, batch_size: int, seed: int = 0, batches: list[list[int]] | None = None
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.fixed = batches
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, batch_index: int) -> None:
        self.start = batch_index

    def _batches(self) -> list[list[int]]:
        if self.fixed is not None:
            return [list(b) for b in self.fixed]
        g = torch.Generator().manual_seed(1000 * self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        return [perm[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        start, self.start = self.start, 0
        yield from batches[start:]


class TinyModel(nn.Module):
    """A frozen input layer, a trainable MLP with dropout, and a router that reports routing weights."""

    def __init__(self, dropout: float = 0.1, seed: int = 0, hidden: int = 8) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.frozen = nn.Linear(DIM, DIM)
        self.frozen.requires_grad_(False)
        self.body = nn.Sequential(
            nn.Linear(DIM, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )
        self.router = nn.Linear(DIM, N_EXPERTS)

    def forward(self, batch: FakeBatch) -> StepOutput:
        h = self.frozen(batch.x)
        pred = self.body(h).squeeze(-1)
        weights = torch.softmax(self.router(h), dim=-1)
        mse = ((pred - batch.y) ** 2).mean()
        aux = weights.var(dim=-1).mean()
        loss = mse + 0.01 * aux
        if bool(batch.poison.any()):
            loss = loss * float("nan")
        return StepOutput(
            loss=loss,
            logs={"loss/mse": float(mse.detach()), "loss/aux": float(aux.detach())},
            batch_size=len(batch),
            audio_seconds=batch.audio_seconds,
            extras={"routing_weights": weights.detach(), "task_ids": batch.task_ids},
        )


def run_tiny_trainer(out_dir, cfg, stop_at=None, resume=False, signal_at=None, dropout=0.2, device=None):
    """Train :class:`TinyModel` on 22 fake samples in batches of 4 (6 batches per epoch, the last of 2, so
    accumulation windows straddle epochs and a resume point falls mid-epoch); stop after step ``stop_at``,
    or send the real SIGTERM after step ``signal_at``; ``device`` as :class:`Trainer` takes it. Returns
    ``(trainer, result)``."""
    import os
    import signal

    from usam_toolkit.train.trainer import Trainer

    def on_step(trainer, record):
        if stop_at is not None and trainer.step == stop_at:
            trainer.request_stop()
        if signal_at is not None and trainer.step == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)  # the real handler, delivered between two steps

    trainer = Trainer(
        TinyModel(dropout=dropout),
        FakeDataset(22),
        FakeSampler(22, 4, seed=3),
        cfg,
        out_dir,
        collate_fn=collate,
        seed=7,
        device=device,
        resume=resume,
        on_step=on_step,
    )
    return trainer, trainer.fit()
