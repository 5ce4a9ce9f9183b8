"""SIGKILL a real training run (``python -m usam_toolkit train``) at seeded random moments, including
while a checkpoint is half written, and resume it with ``--resume`` each time: every resume starts from
the last complete checkpoint and the final trainable weights equal those of an uninterrupted run.

The pause inside a checkpoint write comes from the documented test hook ``USAM_TEST_PAUSE_IN_SAVE``
(``usam_toolkit/train/checkpoint.py``): the run sleeps after ``model.safetensors`` is in the temporary
folder and before the optimizer state, so the kill lands mid-write for sure.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from rel_helpers import REPO, usam_cmd

from usam_toolkit.mini.smoke import SMOKE_RECIPE
from usam_toolkit.train import checkpoint as ck

# valid=[] keeps the end-of-run evaluation out of the timing; it plays no part in the weights.
# The smoke recipe's SACLM draws random negatives from the global RNG, which checkpoints carry.
BASE = ["train.save_every=2", "train.progress=false", "train.tensorboard=false", "data.valid=[]"]


def _overrides(max_steps: int) -> list[str]:
    return [f"train.max_steps={max_steps}", *BASE]


def _start(
    out: Path,
    max_steps: int,
    env: dict[str, str],
    *,
    resume: bool,
    pause_at: int | None = None,
    log: Path | None = None,
) -> subprocess.Popen:
    env = dict(env)
    if pause_at is not None:
        env["USAM_TEST_PAUSE_IN_SAVE"] = f"{pause_at}:600"
    args = ["train", str(SMOKE_RECIPE), *_overrides(max_steps), "--out", str(out), "--device", "cpu"]
    if resume:
        args.append("--resume")
    if log is None:
        return subprocess.Popen(
            usam_cmd(*args), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
    with open(log, "a") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(usam_cmd(*args), cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)


def _wait_for(cond, proc: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> None:
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"the run ended (rc={proc.returncode}) before {what}:\n{tail}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _half_written(out: Path, step: int) -> list[Path]:
    return [p for p in out.glob(f"checkpoint-{step}.tmp-*") if (p / ck.MODEL_FILE).is_file()]


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return ck.load_model_state(ckpt)


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert sorted(wa) == sorted(wb) and wa
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= 1e-6, f"resumed weights differ from the uninterrupted run by {worst}"


def _reference(tmp_path: Path, max_steps: int) -> Path:
    """An uninterrupted run in this process (no interpreter start-up to pay)."""
    from usam_toolkit.pipeline import train_recipe

    out = tmp_path / "reference"
    res = train_recipe(SMOKE_RECIPE, _overrides(max_steps), out=str(out), device="cpu", progress=False)
    assert res.step == max_steps and res.reason == "max_steps"
    return out / f"checkpoint-{max_steps}"


def test_kill_during_checkpoint_write_then_resume(tmp_path: Path, smoke_env: dict[str, str], capsys) -> None:
    out = tmp_path / "run"
    proc = _start(out, 4, smoke_env, resume=False, pause_at=4, log=tmp_path / "run.log")
    _wait_for(lambda: bool(_half_written(out, 4)), proc, 300, "the checkpoint-4 write", tmp_path / "run.log")
    _kill(proc)
    # The kill left the temporary folder; the last complete checkpoint is still the one of step 2.
    assert _half_written(out, 4) and not (out / "checkpoint-4").exists()
    assert ck.find_latest(out).name == "checkpoint-2"
    assert (out / ck.LATEST_FILE).read_text().strip() == "checkpoint-2"

    from usam_toolkit.pipeline import train_recipe

    res = train_recipe(SMOKE_RECIPE, _overrides(4), out=str(out), device="cpu", progress=False, resume=True)
    assert "resumed from" in capsys.readouterr().err and res.step == 4
    assert not list(out.glob("checkpoint-*.tmp-*")), "the stale half-written folder is removed"
    _assert_same_weights(out / "checkpoint-4", _reference(tmp_path, 4))


@pytest.mark.slow
def test_repeated_random_kills_then_resume_equal_uninterrupted(
    tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    """Five seeded kills over an 8-step run: about half inside a checkpoint write, the others a random
    0-3 s after the run has written a new checkpoint (so they land in a step, a save or start-up)."""
    max_steps, kills = 8, 5
    rng = random.Random(1234)
    out, log = tmp_path / "run", tmp_path / "run.log"
    history: list[tuple[str, str | None, str | None]] = []  # (kind, latest before, latest after)
    for attempt in range(kills + 1):
        before = ck.find_latest(out)
        last = int(before.name.split("-")[1]) if before else 0
        if attempt == kills or last >= max_steps:
            proc = _start(out, max_steps, smoke_env, resume=True, log=log)
            assert proc.wait(timeout=900) == 0, log.read_text()[-3000:]
            break
        if rng.random() < 0.5:
            kind = "mid-write"
            target = rng.randrange(last + 2, max_steps + 1, 2)
            proc = _start(out, max_steps, smoke_env, resume=True, pause_at=target, log=log)
            _wait_for(
                lambda t=target: bool(_half_written(out, t)), proc, 900, f"the checkpoint-{target} write", log
            )
        else:
            kind = "random"
            proc = _start(out, max_steps, smoke_env, resume=True, log=log)

            def progressed(floor: int = last) -> bool:
                found = ck.find_latest(out)
                return found is not None and int(found.name.split("-")[1]) > floor

            try:
                _wait_for(progressed, proc, 900, "a new checkpoint", log)
            except AssertionError:
                if proc.poll() == 0:  # finished before we could kill it
                    break
                raise
            time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is not None:  # finished before the kill
            assert proc.returncode == 0, log.read_text()[-3000:]
            break
        _kill(proc)
        after = ck.find_latest(out)
        # A kill never loses the last complete checkpoint and never publishes a partial one.
        if before is not None:
            assert after is not None and int(after.name.split("-")[1]) >= last
        if after is not None:
            assert (after / ck.STATE_FILE).is_file() and (after / ck.OPTIMIZER_FILE).is_file()
            _weights(after)
        history.append((kind, before.name if before else None, after.name if after else None))
    assert ck.find_latest(out).name == f"checkpoint-{max_steps}"
    assert any(after for _, _, after in history), "no kill happened after a checkpoint: nothing was resumed"
    (tmp_path / "history.txt").write_text(repr(history))
    _assert_same_weights(out / f"checkpoint-{max_steps}", _reference(tmp_path, max_steps))
    print(f"kills={len(history)} history={history}")


def test_saclm_negative_generator_survives_a_checkpoint() -> None:
    """What a resume needs: the state that decides the next draw is in the model state or the saved RNG."""
    usam_saclm = pytest.importorskip("usam_plugins.losses.saclm", reason="usam_plugins.losses (saclm)")
    from usam_toolkit.train.rng import capture_rng, restore_rng

    torch.manual_seed(0)
    running = usam_saclm.SACLMLoss(dim=4, hidden_dim=8)  # default: negatives from the global RNG
    usam_saclm.random_derangement(6, running.generator)  # step 1 and 2 before the checkpoint
    saved_state, saved_rng = ck.trainable_state_dict(running), capture_rng()
    expected = usam_saclm.random_derangement(6, running.generator)  # step 3, uninterrupted

    resumed = usam_saclm.SACLMLoss(dim=4, hidden_dim=8)  # a fresh process rebuilds the recipe
    resumed.load_state_dict(saved_state, strict=False)
    restore_rng(saved_rng)
    assert torch.equal(usam_saclm.random_derangement(6, resumed.generator), expected)
