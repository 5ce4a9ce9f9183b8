"""saclm under two gloo processes: one process with the global batch of 8 and two with 4 each (sharded like
the trainer's ``indices[rank::2]``) give the same loss and the same gradients, negatives and the
batch-of-one rule included; ``global_negatives: false`` keeps each rank to its own samples."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch
from usam_plugins.losses.saclm import SACLMLoss

from usam_toolkit.interfaces import LLMOutput, LossInputs

WORLD, B, TA, TT, D = 2, 8, 6, 5, 4
SEED = 11
# name -> (negatives, global_negatives, samples whose text is empty, global batch size)
SCENARIOS = {
    "derangement": ("derangement", True, (5,), B),
    "hardest": ("hardest", True, (2,), B),
    # one usable sample per rank: each rank alone would skip, the global batch has a pair
    "pair": ("derangement", True, (2, 3, 4, 5, 6, 7), B),
    # 7 samples: ranks hold 4 and 3 (rows padded for the gather)
    "uneven": ("derangement", True, (), 7),
    "local": ("derangement", False, (5,), B),
}


def _global_batch(empty_text: tuple[int, ...]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    t_len = torch.tensor([5, 3, 1, 4, 2, 5, 3, 4])
    t_len[list(empty_text)] = 0
    return {
        "audio": torch.randn(B, TA, D, generator=g) * 3.0,
        "a_len": torch.tensor([6, 4, 5, 2, 6, 3, 1, 5]),
        "text": torch.randn(B, TT, D, generator=g),
        "t_len": t_len,
    }


def _run(
    batch: dict[str, torch.Tensor], rows: list[int], negatives: str, global_negatives: bool, rng_seed: int
) -> dict:
    """Loss, logs, heads' gradients and input gradients of ``len(rows) * loss`` on the given rows; the
    heads' weights are the same everywhere, the global RNG (derangements) is seeded with ``rng_seed``."""
    torch.manual_seed(0)
    loss_fn = SACLMLoss(D, hidden_dim=8, negatives=negatives, global_negatives=global_negatives)
    torch.manual_seed(rng_seed)
    audio = batch["audio"][rows].clone().requires_grad_(True)
    text = batch["text"][rows].clone().requires_grad_(True)
    b = len(rows)
    inputs = LossInputs(
        LLMOutput(
            torch.zeros(b, 2, 3),
            torch.full((b, 2), -100),
            audio,
            batch["a_len"][rows],
            text,
            batch["t_len"][rows],
        )
    )
    out = loss_fn(inputs)
    # What the trainer back-propagates: the loss times this process's sample count.
    (b * out.loss).backward()
    return {
        "loss": out.loss.detach(),
        "logs": dict(out.logs),
        "heads": {k: p.grad.clone() for k, p in loss_fn.named_parameters()},
        "audio": audio.grad,
        "text": text.grad,
    }


def _worker(rank: int, port: int, root: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        for name, (negatives, global_negatives, empty, size) in SCENARIOS.items():
            # The trainer seeds rank r with seed + r: the ranks' own draws differ.
            rows = list(range(rank, size, WORLD))
            res = _run(_global_batch(empty), rows, negatives, global_negatives, SEED + rank)
            for grad in res["heads"].values():  # DDP sums (and averages) gradients over ranks
                dist.all_reduce(grad)
            torch.save(res, Path(root) / f"{name}-{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    import torch.multiprocessing as mp

    root = tmp_path_factory.mktemp("saclm_ddp")
    ctx = mp.start_processes(
        _worker, args=(_free_port(), str(root)), nprocs=WORLD, join=False, start_method="fork"
    )
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):  # raises with the child's traceback if one failed
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two processes did not finish within 120 s (a collective hangs?)")
    return {
        name: [torch.load(root / f"{name}-{r}.pt", weights_only=True) for r in range(WORLD)]
        for name in SCENARIOS
    }


def _single(name: str) -> dict:
    negatives, global_negatives, empty, size = SCENARIOS[name]
    return _run(
        _global_batch(empty), list(range(size)), negatives, global_negatives, SEED
    )  # rank 0's RNG state


@pytest.mark.parametrize("name", ["derangement", "hardest", "pair", "uneven"])
def test_two_ranks_equal_one_process_with_the_global_batch(ranks: dict, name: str) -> None:
    one, parts, size = _single(name), ranks[name], SCENARIOS[name][3]
    assert one["logs"]["skipped"] == 0.0 and one["logs"]["triplet"] > 0
    # The trainer's loss: sum over ranks of B_r * loss_r / N (B_r = 4 and 4, or 4 and 3).
    ddp_loss = sum(p["audio"].shape[0] * p["loss"] for p in parts) / size
    torch.testing.assert_close(ddp_loss, one["loss"], atol=1e-6, rtol=1e-6)
    for key in ("triplet", "l1", "kept_fraction", "d_pos", "d_neg"):  # every rank logs the global figure
        assert [p["logs"][key] for p in parts] == pytest.approx([one["logs"][key]] * WORLD, abs=1e-6)
    # Gradients: the trainer scales the ranks' summed gradients by 1 / N; one process: grad of N * L, / N.
    for k, g in one["heads"].items():
        torch.testing.assert_close(parts[0]["heads"][k] / size, g / size, atol=1e-6, rtol=1e-5)
    for field in ("audio", "text"):  # each sample's input gradient, on the rank that holds it
        merged = torch.zeros_like(one[field])
        for r, p in enumerate(parts):
            merged[r::WORLD] = p[field]
        torch.testing.assert_close(merged, one[field], atol=1e-6, rtol=1e-5)


def test_local_negatives_keep_each_rank_to_its_own_samples(ranks: dict) -> None:
    negatives, _, empty, _ = SCENARIOS["local"]
    for r, part in enumerate(ranks["local"]):
        alone = _run(
            _global_batch(empty), list(range(r, B, WORLD)), negatives, True, SEED + r
        )  # no group here
        torch.testing.assert_close(part["loss"], alone["loss"], atol=1e-6, rtol=1e-6)
    mixed = sum(4 * p["loss"] for p in ranks["local"]) / B
    assert abs(float(mixed) - float(_single("local")["loss"])) > 1e-4  # what the global batch changes
