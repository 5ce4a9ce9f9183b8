"""``usam serve``'s HTTP API: answers, routing weights, limits (413), type checks (415), traversal names."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def server(infer_checkpoint: Path):
    from usam_toolkit.api import load
    from usam_toolkit.serve.server import make_server

    srv = make_server(load(infer_checkpoint, device="cpu"), "127.0.0.1", 0, max_upload_mb=0.25)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _wav(seconds: float = 1.0, sr: int = 16000, nan: bool = False) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    if nan:
        x[5] = np.nan
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT" if nan else "PCM_16")
    return buf.getvalue()


def _post(
    srv, body: bytes, query: str = "", content_type: str = "application/octet-stream"
) -> tuple[int, dict]:
    req = urllib.request.Request(
        srv.url + "api/run" + query, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    parts = [
        f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: audio/wav\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def test_page_and_info(server):
    with urllib.request.urlopen(server.url, timeout=10) as r:
        page = r.read().decode()
    assert r.status == 200 and 'id="run"' in page and 'id="file"' in page
    with urllib.request.urlopen(server.url + "api/info", timeout=10) as r:
        info = json.loads(r.read())
    assert info["tasks"] == ["asr", "s2tt", "aac", "mc"] and info["routing"] is True
    assert server.server_address[0] == "127.0.0.1"


def test_raw_body_and_multipart_runs(server):
    status, res = _post(server, _wav(), "?task=asr")
    assert status == 200 and res["task"] == "asr" and isinstance(res["text"], str)
    assert len(res["routing_weights"]) == 3 and sum(res["routing_weights"]) == pytest.approx(1.0, abs=1e-3)
    body, ctype = _multipart({"task": "s2tt", "target_lang": "fr", "prompt": ""}, "clip.wav", _wav(0.5))
    status, res = _post(server, body, content_type=ctype)
    assert status == 200 and res["task"] == "s2tt" and res["file"] == "clip.wav"
    assert res["duration"] == pytest.approx(0.5)


def test_oversized_upload_is_413_and_the_server_stays_up(server):
    status, res = _post(server, b"\0" * (400 * 1024), "?task=asr")
    assert status == 413 and "0.25 MB" in res["error"]
    assert _post(server, _wav(), "?task=aac")[0] == 200


def test_wrong_type_is_415_and_bad_audio_422(server):
    status, res = _post(server, b"<html>definitely not audio</html>" * 10, "?task=asr")
    assert status == 415 and "unsupported_type" in res["error"]
    status, res = _post(server, _wav(nan=True), "?task=asr")
    assert status == 422 and "non_finite" in res["error"]
    status, res = _post(server, _wav(), "?task=qa")
    assert status == 400 and "asr, s2tt, aac, mc" in res["error"]
    status, res = _post(server, _wav(), "?task=s2tt&target_lang=../../x")
    assert status == 400


def test_traversal_file_name_is_only_a_label(server, tmp_path):
    # A real audio file sits where the name points: the server must not read it, nor write there.
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "real.wav").write_bytes(_wav())
    name = "../../../../../../.." + str(victim_dir / "real.wav")
    body, ctype = _multipart({"task": "asr"}, name, b"not audio, whatever the name says")
    status, res = _post(server, body, content_type=ctype)
    assert status == 415 and "real.wav" in res["error"] and str(victim_dir) not in res["error"]
    planted = "../../../../../../.." + str(victim_dir / "planted.wav")
    body, ctype = _multipart({"task": "asr"}, planted, _wav())
    status, res = _post(server, body, content_type=ctype)
    assert status == 200 and res["file"] == "planted.wav"
    assert sorted(p.name for p in victim_dir.iterdir()) == ["real.wav"]


def test_concurrent_requests_are_serialised(server):
    results: list[int] = []

    def call() -> None:
        results.append(_post(server, _wav(0.3), "?task=mc")[0])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200, 200, 200]


def _raw(srv, request: bytes) -> str:
    import socket

    with socket.create_connection(srv.server_address[:2], timeout=30) as s:
        s.sendall(request)
        return s.recv(65536).decode("latin-1")


def test_size_is_checked_before_the_body_is_read(server):
    # Expect: 100-continue with a huge length: refused at once, nothing sent.
    head = _raw(
        server,
        b"POST /api/run?task=asr HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 413")
    # A huge length without Expect: answered 413 without reading (or waiting for) the body.
    head = _raw(server, b"POST /api/run?task=asr HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    head = _raw(server, b"POST /api/run?task=asr HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith("HTTP/1.1 411")
    assert _raw(server, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").startswith("HTTP/1.1 404")
    assert _post(server, _wav(0.3), "?task=asr")[0] == 200


class _NoTapmEngine:
    has_routing = False

    @staticmethod
    def run(clips, request, generation=None):
        from usam_toolkit.infer.engine import Result, WindowResult

        c = clips[0]
        return [Result(c.name, request.task, "a tone", [WindowResult(0.0, c.seconds, "a tone")], c.seconds)]


class _NoTapm:
    """A stand-in for a model without TAPM (the server only needs ``tasks``, ``engine``, ``checkpoint``)."""

    tasks = ("aac",)
    checkpoint = None
    engine = _NoTapmEngine()


def test_model_without_tapm_reports_no_routing():
    from usam_toolkit.serve.server import make_server

    srv = make_server(_NoTapm(), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(srv.url + "api/info", timeout=10) as r:
            assert json.loads(r.read())["routing"] is False
        status, res = _post(srv, _wav(0.5), "?task=aac")
        assert status == 200 and res["routing"] is False and res["routing_weights"] is None
        assert res["text"] == "a tone"
    finally:
        srv.shutdown()
        srv.server_close()
