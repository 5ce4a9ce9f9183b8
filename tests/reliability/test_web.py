"""``usam serve`` under bad requests and load: oversized upload, wrong type, a path-traversal file
name, and 20 concurrent requests over 4 threads. Each is refused or served correctly and the server
stays up (``GET /api/info`` answers after every round)."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usam_toolkit.serve.server", reason="usam serve (usam_toolkit.serve) not built yet")

LIMIT_MB = 1.0
# Trains a 2-step smoke checkpoint and loads it (~20 s CPU): off by default.
pytestmark = pytest.mark.slow


def _wav(seconds: float = 0.5, sr: int = 16000) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(rel_world: Path, tmp_path_factory: pytest.TempPathFactory):
    import os

    from usam_toolkit.api import load
    from usam_toolkit.infer.smoke import smoke_checkpoint
    from usam_toolkit.serve.server import make_server

    old = os.environ.get("USAM_SMOKE_DIR")
    os.environ["USAM_SMOKE_DIR"] = str(rel_world)
    try:
        ckpt = smoke_checkpoint(tmp_path_factory.mktemp("serve"), steps=2, world=rel_world)
        inference = load(ckpt, device="cpu", overrides=["evaluate.max_new_tokens=2"])
    finally:
        if old is None:
            os.environ.pop("USAM_SMOKE_DIR", None)
        else:
            os.environ["USAM_SMOKE_DIR"] = old
    srv = make_server(inference, "127.0.0.1", 0, max_upload_mb=LIMIT_MB)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _post(
    url: str, body: bytes, ctype: str = "application/octet-stream", query: str = ""
) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{url}/api/run{query}", data=body, headers={"Content-Type": ctype}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (ConnectionError, urllib.error.URLError) as e:  # a reset after a refused oversized body
        return -1, {"error": str(e)}


def _multipart(filename: str, data: bytes, task: str | None = None) -> tuple[bytes, str]:
    b = "----usamtestboundary"
    parts = [
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    ]
    if task:
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="task"\r\n\r\n{task}\r\n'.encode())
    return b"".join(parts) + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def _alive(url: str) -> None:
    with urllib.request.urlopen(f"{url}/api/info", timeout=60) as r:
        assert r.status == 200 and json.loads(r.read())["tasks"]


def test_oversized_upload_is_refused_with_413_and_the_server_stays_up(server: str) -> None:
    status, body = _post(server, b"\0" * int(2 * LIMIT_MB * 1024 * 1024))
    assert status in (413, -1), body
    if status == 413:
        assert "larger than the limit" in body["error"]
    _alive(server)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"this is not audio at all" * 40, 415),
        (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), 415),
        (b"", 400),
    ],
)
def test_wrong_type_is_refused_clearly(server: str, data: bytes, expected: int) -> None:
    body, ctype = _multipart("clip.wav", data)
    status, answer = _post(server, body, ctype)
    assert status == expected and answer.get("error"), answer
    _alive(server)


def test_path_traversal_file_name_is_only_a_label(server: str, tmp_path: Path) -> None:
    name = "../../../../tmp/usam-evil/../../etc/passwd.wav"
    body, ctype = _multipart(name, _wav())
    status, answer = _post(server, body, ctype)
    assert status == 200, answer
    assert "/" not in answer["file"] and ".." not in answer["file"] and answer["file"].endswith("passwd.wav")
    assert not Path("/tmp/usam-evil").exists()


def test_twenty_concurrent_requests_over_four_threads(server: str) -> None:
    good = _multipart("ok.wav", _wav(0.3))
    bad = _multipart("bad.wav", b"garbage" * 100)
    unknown_task = _multipart("ok.wav", _wav(0.3), task="no_such_task")
    plan = [good, bad, unknown_task, good] * 5
    expected = [200, 415, 400, 200] * 5
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: _post(server, p[0], p[1]), plan))
    statuses = [s for s, _ in results]
    assert statuses == expected, Counter(statuses)
    assert all(isinstance(a.get("text"), str) for s, a in results if s == 200)
    _alive(server)
