"""Two CPU processes (gloo) give the same per-step losses and weights as one process on the same
global batches, for DDP and FSDP2; sharding helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import ddp_worker
import pytest
import torch
from safetensors.torch import load_file

from usam_toolkit.train.distributed import ShardedBatchSampler, shard_indices

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, modes: list[str]) -> None:
    # the variables torchrun sets; init_distributed reads them
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    from usam_toolkit.train.distributed import destroy_distributed

    try:
        for mode in modes:
            ddp_worker.run(Path(root) / mode, mode)
        # FSDP2 resume: gathered checkpoint -> sharded parameters and optimizer state
        ddp_worker.run(Path(root) / "fsdp_resumed", "fsdp", resume=Path(root) / "fsdp" / "checkpoint-3")
    finally:
        destroy_distributed()


def _log(path: Path) -> list[float]:
    rows = [json.loads(line) for line in (path / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["type"] == "train"]


def _compare(run: Path, ref: Path) -> None:
    a, b = _log(run), _log(ref)
    assert len(a) == len(b) == 6
    assert a == pytest.approx(b, abs=1e-5)
    wa = load_file(str(run / "checkpoint-6" / "model.safetensors"))
    wb = load_file(str(ref / "checkpoint-6" / "model.safetensors"))
    assert sorted(wa) == sorted(wb)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5)
    state = json.loads((run / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and len(state["rng"]) == 2


def test_two_processes_match_one(tmp_path):
    """Processes are forked from this one (torch already imported) so the test stays fast."""
    import torch.multiprocessing as mp

    ddp_worker.run(tmp_path / "single", "none")
    ctx = mp.start_processes(
        _worker,
        args=(2, _free_port(), str(tmp_path), ["ddp", "fsdp"]),
        nprocs=2,
        join=False,
        start_method="fork",
    )
    deadline = time.monotonic() + 300
    while not ctx.join(timeout=2):  # raises with the child's traceback if one failed
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two training processes did not finish within 300 s (a collective hangs?)")
    _compare(tmp_path / "ddp", tmp_path / "single")
    _compare(tmp_path / "fsdp", tmp_path / "single")
    assert _log(tmp_path / "fsdp_resumed") == pytest.approx(_log(tmp_path / "single")[3:], abs=1e-5)
    torch.testing.assert_close(
        load_file(str(tmp_path / "fsdp_resumed" / "checkpoint-6" / "model.safetensors")),
        load_file(str(tmp_path / "single" / "checkpoint-6" / "model.safetensors")),
        atol=1e-6,
        rtol=1e-5,
    )
    # a checkpoint written by 2 DDP processes resumes in 1 process (optimizer state is keyed by name)
    from train_fakes import FakeDataset, FakeSampler, TinyModel, collate

    from usam_toolkit.train.config import TrainConfig
    from usam_toolkit.train.trainer import Trainer

    cfg = TrainConfig(
        lr=1e-2,
        max_steps=6,
        grad_accum=2,
        log_every=1,
        progress=False,
        tensorboard=False,
        plots=False,
        save_every=3,
        keep_last=5,
    )
    (tmp_path / "ddp" / "latest").write_text("checkpoint-3\n")
    res = Trainer(
        TinyModel(dropout=0.0),
        FakeDataset(22),
        FakeSampler(22, 4, seed=3),
        cfg,
        tmp_path / "ddp",
        collate_fn=collate,
        seed=7,
        resume=True,
    ).fit()
    assert res.step == 6
    assert _log(tmp_path / "ddp") == pytest.approx(_log(tmp_path / "single"), abs=1e-5)


@pytest.mark.slow
def test_torchrun_matches_one(tmp_path):
    """The real launcher: ``torchrun --standalone --nproc-per-node 2`` (slow: three torch imports)."""
    ddp_worker.run(tmp_path / "single", "none")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE)] + sys.path))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(HERE / "ddp_worker.py"),
            str(tmp_path),
            "ddp",
            "fsdp",
        ],
        check=True,
        env=env,
        timeout=600,
    )
    _compare(tmp_path / "ddp", tmp_path / "single")
    _compare(tmp_path / "fsdp", tmp_path / "single")
    assert _log(tmp_path / "fsdp_resumed") == pytest.approx(_log(tmp_path / "single")[3:], abs=1e-5)


def test_shard_indices_split_a_global_batch():
    assert shard_indices([5, 1, 7, 2, 9], 0, 2) == [5, 7, 9]
    assert shard_indices([5, 1, 7, 2, 9], 1, 2) == [1, 2]
    assert sorted(
        shard_indices(list(range(7)), 0, 3)
        + shard_indices(list(range(7)), 1, 3)
        + shard_indices(list(range(7)), 2, 3)
    ) == list(range(7))


def test_sharded_sampler_skips_without_set_start_and_drops_tiny_batches():
    class Plain:  # a sampler without set_start / set_epoch
        def __iter__(self):
            return iter([[0, 1, 2, 3], [4, 5, 6, 7], [8]])

        def __len__(self):
            return 3

    s = ShardedBatchSampler(Plain(), rank=1, world=2)
    assert list(s) == [[1, 3], [5, 7]]  # [8] has fewer samples than ranks: dropped on every rank
    s.set_start(1)
    assert list(s) == [[5, 7]]
    assert list(s) == [[1, 3], [5, 7]]  # the next epoch starts at its beginning again
