"""usam_toolkit.atomic: a write either replaces the destination whole or leaves it untouched, and no
temporary is left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from usam_toolkit.atomic import (
    atomic_folder,
    atomic_path,
    torch_save_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


class Boom(Exception):
    pass


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("durable", [True, False])
def test_writes_create_and_replace(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "sub" / "a.json"  # the parent is created
    write_json_atomic(target, {"x": 1}, durable=durable, sort_keys=True)
    assert json.loads(target.read_text()) == {"x": 1}
    write_text_atomic(target, "second", durable=durable)
    assert target.read_text() == "second"
    write_bytes_atomic(target, b"\x00\x01", durable=durable)
    assert target.read_bytes() == b"\x00\x01"
    assert _names(target.parent) == ["a.json"]


def test_new_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    write_text_atomic(tmp_path / "f", "x")
    plain = tmp_path / "g"
    plain.write_text("x")
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    seen = []
    with pytest.raises(Boom), atomic_path(target) as tmp:
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.safetensors.")
        assert tmp.suffix == ".safetensors"  # libraries that pick a format from the suffix still can
        tmp.write_bytes(b"half")
        raise Boom
    assert target.read_bytes() == b"old"
    assert not seen[0].exists()
    assert _names(tmp_path) == ["model.safetensors"]


def test_failed_write_of_a_new_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.bin"):
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_failed_serialisation_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json_atomic(target, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": True}
    assert _names(tmp_path) == ["a.json"]


def test_torch_save_atomic(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    target = tmp_path / "state.pt"
    torch_save_atomic({"w": torch.arange(3)}, target)
    assert torch.load(target)["w"].tolist() == [0, 1, 2]
    assert _names(tmp_path) == ["state.pt"]


def test_folder_appears_whole(tmp_path: Path) -> None:
    final = tmp_path / "converted"
    with atomic_folder(final) as tmp:
        assert tmp.is_dir() and tmp.parent == tmp_path and ".tmp-" in tmp.name
        (tmp / "config.json").write_text("{}")
        (tmp / "nested").mkdir()
        (tmp / "nested" / "w.bin").write_bytes(b"w")
        assert not final.exists()
    assert (final / "config.json").read_text() == "{}" and (final / "nested" / "w.bin").read_bytes() == b"w"
    assert _names(tmp_path) == ["converted"]


def test_failed_folder_is_removed_or_kept_on_request(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_folder(tmp_path / "a") as tmp:
        (tmp / "x").write_text("half")
        raise Boom
    assert _names(tmp_path) == []
    with pytest.raises(Boom), atomic_folder(tmp_path / "b", keep_on_error=True) as tmp:
        raise Boom
    assert tmp.is_dir() and _names(tmp_path) == [tmp.name] and tmp.name.startswith("b.tmp-")


def test_existing_folder_kept_unless_replace(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "who").write_text("first")
    # another process finished first: its folder stays, the new copy is dropped
    with atomic_folder(final) as tmp:
        (tmp / "who").write_text("second")
    assert (final / "who").read_text() == "first"
    assert _names(tmp_path) == ["out"]
    # replace=True swaps the new folder in and removes the old one
    with atomic_folder(final, replace=True) as tmp:
        (tmp / "who").write_text("third")
    assert (final / "who").read_text() == "third"
    assert _names(tmp_path) == ["out"]


def test_failed_replace_keeps_the_old_folder(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "who").write_text("old")
    with pytest.raises(Boom), atomic_folder(final, replace=True) as tmp:
        (tmp / "who").write_text("new")
        raise Boom
    assert (final / "who").read_text() == "old"
    assert _names(tmp_path) == ["out"]
