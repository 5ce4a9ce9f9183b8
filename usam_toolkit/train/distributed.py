"""Process groups from torchrun's environment, DDP/FSDP2 wrapping, batch sharding and reductions.

``torchrun --nproc-per-node N -m usam_toolkit train RECIPE`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; :func:`init_distributed` reads them (backend ``nccl``
on CUDA, ``gloo`` on CPU). Without them the run is a single process and every helper here is a no-op.

Sharding: every rank iterates the SAME global batch sampler (deterministic per seed and epoch) and
keeps ``indices[rank::world]`` of each global batch (:class:`ShardedBatchSampler`), so N processes
see exactly the samples one process would see, split N ways.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError

MODES = ("none", "ddp", "fsdp")


@dataclass
class DistEnv:
    """Where this process sits in the job.

    Attributes:
        rank: global rank.
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the device this process computes on.
        backend: process-group backend, or None for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes logs and checkpoints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when a process group with more than one member is active."""
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()


def init_distributed(device: str | torch.device | None = None) -> DistEnv:
    """Join the process group torchrun describes (idempotent); a single process otherwise.

    Args:
        device: force a device ("cpu", "cuda"); default CUDA ``LOCAL_RANK`` when available, else CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = torch.device(device) if device is not None else None
    use_cuda = torch.cuda.is_available() if want is None else want.type == "cuda"
    if use_cuda:
        dev = torch.device("cuda", local_rank if want is None or want.index is None else want.index)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world <= 1:
        return DistEnv(0, 1, 0, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend}
        if dev.type == "cuda":
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend())


def destroy_distributed() -> None:
    """Leave the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op for one process)."""
    if env.is_distributed:
        if env.device.type == "cuda":
            dist.barrier(device_ids=[env.device.index])
        else:
            dist.barrier()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum ``t`` over ranks in place (float64 on the compute device for exact small counts)."""
    if env.is_distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not env.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=env.device if env.device.type == "cuda" else None)
    return box[0]


def gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not env.is_distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


# --------------------------------------------------------------------------------------------------
# Sharding the global batches
# --------------------------------------------------------------------------------------------------
def shard_indices(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """Rank ``rank``'s part of a global batch: ``indices[rank::world]``."""
    return list(indices[rank::world])


def gather_global_batch(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's ``rows`` laid out as the global batch they were sharded from (the inverse of
    :func:`shard_indices`: rank r's k-th row is global row ``r + k * world``).

    A collective when a process group of more than one rank is active (every rank must call it);
    otherwise ``rows`` itself. Only this rank's rows keep their autograd graph: the others arrive as
    plain values, so gradients never cross ranks here.

    Args:
        rows: ``[n_r, ...]``; the ranks' counts may differ, the other dimensions may not.

    Returns:
        ``[N, ...]`` the global rows, and ``[N]`` bool, True on this rank's rows.
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return rows, torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    world, rank = dist.get_world_size(), dist.get_rank()
    count = torch.tensor([rows.shape[0]], dtype=torch.long, device=rows.device)
    counts_list = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts_list, count)
    counts = [int(c) for c in counts_list]
    padded = torch.nn.functional.pad(
        rows.detach(), [0, 0] * (rows.dim() - 1) + [0, max(counts) - counts[rank]]
    )
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    parts = [p[:n] for p, n in zip(parts, counts)]
    parts[rank] = rows
    stacked = torch.cat(parts)
    position = torch.tensor(
        [r + k * world for r, n in enumerate(counts) for k in range(n)], device=rows.device
    )
    order = torch.argsort(position)
    owner = torch.cat([torch.full((n,), r, device=rows.device) for r, n in enumerate(counts)])
    return stacked[order], owner[order] == rank


class ShardedBatchSampler:
    """Wraps the global batch sampler: yields this rank's share of every global batch.

    Global batches with fewer indices than ranks are dropped on every rank alike (a rank with no
    sample would have nothing to back-propagate). ``set_start`` falls back to skipping batches when
    the wrapped sampler has no ``set_start``.
    """

    def __init__(self, sampler: Any, rank: int = 0, world: int = 1) -> None:
        self.sampler = sampler
        self.rank = rank
        self.world = world
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def set_start(self, batch_index: int) -> None:
        if hasattr(self.sampler, "set_start"):
            self.sampler.set_start(batch_index)
            self._skip = 0
        else:
            self._skip = batch_index

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self._skip = self._skip, 0  # like set_start: only the next iteration starts late
        for i, batch in enumerate(self.sampler):
            if i < skip:
                continue
            if len(batch) < self.world:
                continue
            yield shard_indices(list(batch), self.rank, self.world)


# --------------------------------------------------------------------------------------------------
# Wrapping the model
# --------------------------------------------------------------------------------------------------
def _broadcast_module(model: nn.Module) -> None:
    """Make every rank hold rank 0's parameters and buffers (FSDP does not do it by itself)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def wrap_model(model: nn.Module, mode: str, env: DistEnv, find_unused_parameters: bool = False) -> nn.Module:
    """Move ``model`` to ``env.device`` and wrap it for data parallelism.

    Args:
        model: the unwrapped model.
        mode: ``none``, ``ddp`` or ``fsdp`` (FSDP2 ``fully_shard`` on every unit the model names in an
            optional ``fsdp_units()`` method, else on every direct child holding parameters, then on the
            root).
        env: where this process sits.
        find_unused_parameters: DDP option for models whose trainable parameters skip some batches.

    Returns:
        The module to call for training (the same object for ``none`` and ``fsdp``).
    """
    if mode not in MODES:
        raise ConfigError(f"train.distributed: '{mode}' is not one of {', '.join(MODES)}")
    model.to(env.device)
    if not env.is_distributed or mode == "none":
        return model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        # device_ids=None: DDP then leaves the (already moved) batch object alone instead of rebuilding it
        return DDP(model, device_ids=None, find_unused_parameters=find_unused_parameters)
    from torch.distributed.fsdp import fully_shard

    _broadcast_module(model)
    units = (
        list(model.fsdp_units())
        if hasattr(model, "fsdp_units")
        else [child for child in model.children() if any(True for _ in child.parameters())]
    )
    for unit in units:
        fully_shard(unit)
    fully_shard(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module under a DDP wrapper (FSDP2 shards in place and needs no unwrapping)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind an FSDP2 DTensor shard (a collective: every rank must call it)."""
    if hasattr(t, "full_tensor"):
        return t.full_tensor()
    return t


def gather_trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full CPU copies of the trainable tensors, gathered on every rank (collective under FSDP2)."""
    from .checkpoint import trainable_names

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out = {}
    for name in trainable_names(model):
        t = params.get(name, buffers.get(name))
        if t is None:
            raise ConfigError(f"trainable_buffer_names lists '{name}', which is not a buffer of the model")
        out[name] = full_tensor(t.detach()).to("cpu").clone()
    return out


def load_trainable_into_sharded(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy full tensors into a (possibly FSDP2-sharded) model; every rank holds ``state``."""
    params = dict(model.named_parameters())
    params.update(dict(model.named_buffers()))
    with torch.no_grad():
        for name, value in state.items():
            target = params[name]
            value = value.to(dtype=target.dtype)
            if hasattr(target, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor

                value = distribute_tensor(
                    value.to(target.device_mesh.device_type), target.device_mesh, target.placements
                )
            target.copy_(value.to(target.device) if not hasattr(value, "device_mesh") else value)
