"""Dynamic batching by audio seconds with length bucketing and temperature-weighted task mixing.

One epoch is planned from ``(seed, epoch)`` alone, so the plan is the same in every process and after a
restart:

1. **Task quotas** (training): with ``n_t`` examples of task ``t``, weight ``w_t`` (default 1) and
   temperature ``T``, ``p_t = (w_t * n_t)^(1/T) / sum_s (w_s * n_s)^(1/T)``. The epoch holds
   ``N = sum_t n_t`` draws, ``round(N * p_t)`` of them from task ``t``: its examples in a seeded random
   order, cycled (new permutation each pass) when the quota exceeds ``n_t``, cut when it is smaller.
   ``T = 1`` with equal weights is exactly one pass over the data; ``T -> inf`` gives equal task shares.
2. **Buckets**: the shuffled draws are cut into chunks of about ``bucket_size`` batches; each chunk is
   sorted by duration and packed greedily, so padding stays small while batches still mix.
3. **Packing**: a batch takes samples while ``count * longest <= batch_seconds`` (padded seconds,
   which also bounds the plain sum) and ``count <= max_batch_size``; a single longer sample makes a
   batch of its own.
4. The batches are shuffled. Evaluation (``shuffle=False``) packs all examples once, sorted by length.

Resuming: :meth:`set_start` (or ``load_state_dict``) makes the next iteration begin at that batch of the
current epoch. ``state_dict()['start']`` counts batches *yielded* by the sampler; a DataLoader prefetches,
so a trainer should store its own count of consumed batches and pass it to :meth:`set_start`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence


def task_probabilities(
    counts: Mapping[str, int], weights: Mapping[str, float] | None = None, temperature: float = 1.0
) -> dict[str, float]:
    """``p_t ∝ (w_t * n_t)^(1/T)`` over tasks with ``n_t > 0`` (missing weights are 1)."""
    if temperature <= 0:
        raise ValueError(f"task temperature must be > 0, got {temperature}")
    weights = weights or {}
    raw = {t: (float(weights.get(t, 1.0)) * n) ** (1.0 / temperature) for t, n in counts.items() if n > 0}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"task weights {dict(weights)} leave no task with positive probability")
    return {t: v / total for t, v in raw.items()}


class DynamicBatchSampler:
    """Yields lists of dataset indices; see the module docstring for the plan of an epoch.

    Args:
        durations: seconds of each example (after the training length policy).
        tasks: task name of each example.
        batch_seconds: padded audio seconds per batch.
        max_batch_size: samples per batch.
        bucket_size: batches per length bucket.
        task_weights: per-task weights ``w_t``.
        temperature: ``T`` of the task mixture.
        seed: base seed.
        shuffle: training order (True) or length-sorted evaluation order (False).
        drop_last: drop the final (usually under-full) batch of each bucket.
        on_set_epoch: called with the epoch by :meth:`set_epoch` and :meth:`load_state_dict` (e.g.
            ``AudioDataset.set_epoch``, so crops follow the sampler's epoch).
    """

    def __init__(
        self,
        durations: Sequence[float],
        tasks: Sequence[str],
        *,
        batch_seconds: float,
        max_batch_size: int,
        bucket_size: int = 100,
        task_weights: Mapping[str, float] | None = None,
        temperature: float = 1.0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        on_set_epoch: Callable[[int], None] | None = None,
    ):
        if len(durations) != len(tasks):
            raise ValueError(f"{len(durations)} durations but {len(tasks)} task names")
        if batch_seconds <= 0 or max_batch_size < 1 or bucket_size < 1:
            raise ValueError("batch_seconds must be > 0, max_batch_size and bucket_size >= 1")
        self.durations = [float(d) for d in durations]
        self.tasks = list(tasks)
        self.batch_seconds = float(batch_seconds)
        self.max_batch_size = int(max_batch_size)
        self.bucket_size = int(bucket_size)
        self.task_weights = dict(task_weights or {})
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.on_set_epoch = on_set_epoch
        self.epoch = 0
        self.start = 0
        self._yielded = 0
        self._plan_cache: tuple[int, list[list[int]]] | None = None
        by_task: dict[str, list[int]] = {}
        for i, t in enumerate(self.tasks):
            by_task.setdefault(t, []).append(i)
        self._by_task = by_task
        self.probabilities = (
            task_probabilities({t: len(v) for t, v in by_task.items()}, self.task_weights, self.temperature)
            if by_task
            else {}
        )

    # ------------------------------------------------------------------ planning
    def _draws(self, rng: random.Random) -> list[int]:
        n = len(self.durations)
        quotas = {t: int(round(n * p)) for t, p in self.probabilities.items()}
        draws: list[int] = []
        for t in sorted(self._by_task):
            pool = self._by_task[t]
            quota = quotas.get(t, 0)
            taken: list[int] = []
            while len(taken) < quota:
                perm = list(pool)
                rng.shuffle(perm)
                taken.extend(perm[: quota - len(taken)])
            draws.extend(taken)
        rng.shuffle(draws)
        return draws

    def _pack(self, indices: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0.0
        for i in indices:
            d = self.durations[i]
            new_longest = max(longest, d)
            if current and (
                len(current) + 1 > self.max_batch_size
                or (len(current) + 1) * new_longest > self.batch_seconds
            ):
                batches.append(current)
                current, new_longest = [], d
            current.append(i)
            longest = new_longest
        if current:
            batches.append(current)
        return batches

    def _plan(self, epoch: int) -> list[list[int]]:
        if self._plan_cache is not None and self._plan_cache[0] == epoch:
            return self._plan_cache[1]
        if not self.durations:
            plan: list[list[int]] = []
        elif not self.shuffle:
            order = sorted(range(len(self.durations)), key=lambda i: (self.durations[i], i))
            plan = self._pack(order)
        else:
            rng = random.Random(self.seed * 1_000_003 + epoch)
            draws = self._draws(rng)
            mean = sum(self.durations[i] for i in draws) / max(1, len(draws))
            per_batch = max(1, min(self.max_batch_size, int(self.batch_seconds / max(mean, 1e-6))))
            chunk = per_batch * self.bucket_size
            plan = []
            for s in range(0, len(draws), chunk):
                part = sorted(draws[s : s + chunk], key=lambda i: (self.durations[i], i))
                packed = self._pack(part)
                if self.drop_last and len(packed) > 1:
                    packed = packed[:-1]
                plan.extend(packed)
            rng.shuffle(plan)
        self._plan_cache = (epoch, plan)
        return plan

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[list[int]]:
        plan = self._plan(self.epoch)
        start, self.start = self.start, 0
        self._yielded = start
        for batch in plan[start:]:
            self._yielded += 1
            yield list(batch)
        self._yielded = 0

    def __len__(self) -> int:
        """Batches the next iteration yields (the epoch's total minus the start)."""
        return max(0, len(self._plan(self.epoch)) - self.start)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch to plan (the start resets to 0)."""
        self.epoch = int(epoch)
        self.start = 0
        if self.on_set_epoch is not None:
            self.on_set_epoch(self.epoch)

    def set_start(self, batch_index: int) -> None:
        """Make the next iteration begin at ``batch_index`` of the current epoch."""
        if batch_index < 0:
            raise ValueError(f"batch_index must be >= 0, got {batch_index}")
        self.start = int(batch_index)

    def state_dict(self) -> dict[str, int]:
        """``{"seed", "epoch", "start"}``; ``start`` is the batches yielded so far this epoch."""
        return {"seed": self.seed, "epoch": self.epoch, "start": self._yielded or self.start}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Restore epoch and position; the seed must match the one the plan was made with."""
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(f"sampler seed {self.seed} differs from the checkpoint's {state['seed']}")
        self.epoch = int(state["epoch"])
        self.start = int(state.get("start", 0))
        if self.on_set_epoch is not None:
            self.on_set_epoch(self.epoch)
