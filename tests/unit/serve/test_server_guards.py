"""``usam serve``'s guards, against a stand-in model (no weights, no training): exact bodies, read
timeouts, clients that leave while queued, admission by decoded size, the memory and connection caps."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from usam_toolkit.infer.engine import Result, WindowResult
from usam_toolkit.serve.server import make_server


class _CountingEngine:
    """Answers every clip with its length; counts the clips it ran."""

    has_routing = False

    def __init__(self) -> None:
        self.calls = 0

    def run(self, clips: Any, request: Any, generation: Any = None) -> list[Result]:
        self.calls += 1
        c = clips[0]
        windows = [WindowResult(0.0, c.seconds, "x")]
        return [Result(c.name, request.task, f"{c.seconds:.2f} s", windows, c.seconds)]


class _Stand_in:
    tasks = ("aac",)
    checkpoint = None

    def __init__(self) -> None:
        self.engine = _CountingEngine()


@pytest.fixture
def serve():
    servers = []

    def start(**limits: Any):
        srv = make_server(_Stand_in(), "127.0.0.1", 0, **limits)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _wav(seconds: float = 0.5, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def _post(srv, body: bytes) -> tuple[int, dict, Any]:
    req = urllib.request.Request(
        srv.url + "api/run?task=aac",
        data=body,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def _head(srv, body: bytes, length: int) -> bytes:
    return (
        f"POST /api/run?task=aac HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + body


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def _wait_until(cond, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_a_body_shorter_than_its_content_length_is_a_400(serve) -> None:
    srv = serve()
    wav = _wav()
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(_head(srv, wav[:1000], len(wav)))
        s.shutdown(socket.SHUT_WR)  # the client has nothing more to send, and waits for the answer
        answer = _read_all(s).decode("latin-1")
    assert answer.startswith("HTTP/1.1 400")
    assert f"the body ended after 1000 of the {len(wav)} bytes its Content-Length announced" in answer
    assert srv.inference.engine.calls == 0
    assert _post(srv, wav)[0] == 200 and srv.inference.engine.calls == 1


def test_a_stalled_body_gets_a_408_and_its_thread_is_freed(serve) -> None:
    srv = serve(read_timeout=0.5)
    threads_before = threading.active_count()
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(_head(srv, b"RIFF", 1000))
        start = time.monotonic()
        answer = _read_all(s).decode("latin-1")  # returns once the server closes the connection
        waited = time.monotonic() - start
    assert answer.startswith("HTTP/1.1 408") and "request body stalled" in answer
    assert 0.4 < waited < 3.0
    assert _wait_until(lambda: threading.active_count() <= threads_before)


def test_a_silent_connection_is_closed_after_the_read_timeout(serve) -> None:
    srv = serve(read_timeout=0.5)
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        start = time.monotonic()
        assert _read_all(s) == b""
        assert 0.4 < time.monotonic() - start < 3.0


def test_headers_trickled_line_by_line_are_cut_off_at_the_read_timeout(serve) -> None:
    srv = serve(read_timeout=1.0)
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(b"POST /api/run HTTP/1.1\r\n")
        start = time.monotonic()
        closed_after = None
        for k in range(30):  # each line well inside the per-read timeout, 6 s in all
            try:
                s.sendall(f"X-Slow-{k}: 1\r\n".encode())
            except OSError:
                closed_after = time.monotonic() - start
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
    assert closed_after is not None and closed_after < 2.5


def _one_dropped_line(caplog, when: str) -> None:
    lines = [r for r in caplog.records if r.name == "usam_toolkit.serve"]
    assert len(lines) == 1, caplog.text
    assert f"client went away {when}; its request was dropped unrun" in lines[0].getMessage()
    assert lines[0].exc_info is None and " 500 " not in caplog.text and "Traceback" not in caplog.text


def test_a_client_gone_while_queued_is_dropped_unrun_with_one_log_line(serve, caplog) -> None:
    caplog.set_level(logging.INFO, logger="usam_toolkit.serve")
    srv = serve()
    wav = _wav()
    srv.lock.acquire()  # the model is busy with someone else
    try:
        with socket.create_connection(srv.server_address[:2], timeout=10) as s:
            s.sendall(_head(srv, wav, len(wav)))
            # Decoded and waiting for the model (its budget is taken just before): now leave.
            assert _wait_until(lambda: srv.budget.used > 2 * len(wav))
        assert _wait_until(lambda: "went away" in caplog.text)
    finally:
        srv.lock.release()
    time.sleep(0.3)
    assert srv.inference.engine.calls == 0
    _one_dropped_line(caplog, "while queued for the model")
    assert _wait_until(lambda: srv.budget.used == 0)  # its reservations were given back


def test_a_client_that_sends_and_leaves_costs_no_decode(serve, caplog, monkeypatch) -> None:
    import usam_toolkit.infer.audio_input as ai

    caplog.set_level(logging.INFO, logger="usam_toolkit.serve")
    srv = serve()
    decoded = []
    real_load = ai.load_bytes
    monkeypatch.setattr(ai, "load_bytes", lambda *a, **k: decoded.append(1) or real_load(*a, **k))
    # The scenario is a client gone by the time its body has been read. Without this wait the server may
    # read the last bytes before the client's close reaches it (a race on fast machines), and then nothing
    # could have told it that the client would leave.
    from usam_toolkit.serve.server import Handler

    real_fields = Handler._fields

    def fields_then_close_seen(self):
        out = real_fields(self)
        _wait_until(self._client_gone)
        return out

    monkeypatch.setattr(Handler, "_fields", fields_then_close_seen)
    wav = _wav()
    srv.lock.acquire()  # had the leaving gone unnoticed before decoding, the queue would still catch it
    try:
        with socket.create_connection(srv.server_address[:2], timeout=10) as s:
            s.sendall(_head(srv, wav, len(wav)))
        assert _wait_until(lambda: "went away" in caplog.text)
    finally:
        srv.lock.release()
    time.sleep(0.3)
    assert decoded == [] and srv.inference.engine.calls == 0
    _one_dropped_line(caplog, "right after sending")


def test_decoded_size_is_refused_from_the_header_alone(serve, monkeypatch) -> None:
    import usam_toolkit.infer.audio_input as ai

    srv = serve(max_decoded_mb=16, max_total_mb=64)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=192_000, channels=8, format="FLAC", subtype="PCM_16") as f:
        for _ in range(12):
            f.write(np.zeros((192_000, 8), dtype=np.int16))
    data = buf.getvalue()
    assert len(data) < 100_000  # 12 s of 8-channel silence: small on disk, 73.7 MB as float32
    monkeypatch.setattr(ai, "load_bytes", lambda *a, **k: pytest.fail("decoded before admission"))
    status, answer, _ = _post(srv, data)
    assert status == 413
    # By hand: 2,304,000 frames; 5 bytes x 2,592,000 frames of room + a 4 MiB block = 16.36 MiB.
    assert answer["error"] == (
        "upload: decoded_too_large: 2304000 frames x 8 channels at 192000 Hz (12.0 s) would take 16.4 MB to "
        "decode; this server accepts at most 16 MB per request (--max-decoded-mb)"
    )
    assert srv.inference.engine.calls == 0
    assert _wait_until(lambda: srv.budget.used == 0)  # given back once the answer is sent


def test_a_full_memory_budget_is_a_503_then_frees(serve) -> None:
    srv = serve(max_upload_mb=0.25, max_decoded_mb=1, max_total_mb=1.5, read_timeout=0.5)
    assert srv.budget.acquire(srv.budget.total, 0)  # other requests hold all of it
    wav = _wav(2.0)  # 64,044 bytes, reserved twice while read: 0.12 MB
    status, answer, headers = _post(srv, wav)
    assert status == 503 and headers["Retry-After"] == "1"
    assert answer["error"] == (
        "server busy: 1.5 MB of request memory in use; 0.1 MB more to read an upload "
        "would pass the limit of 1.5 MB (--max-total-mb); retry later"
    )
    srv.budget.release(srv.budget.total)
    assert _post(srv, wav)[0] == 200
    assert _wait_until(lambda: srv.budget.used == 0)


def test_connections_past_the_limit_are_refused_with_503(serve) -> None:
    srv = serve(max_connections=2, read_timeout=5)
    idle = [socket.create_connection(srv.server_address[:2], timeout=10) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection(srv.server_address[:2], timeout=10) as s:
            answer = _read_all(s).decode("latin-1")
        assert answer.startswith("HTTP/1.1 503") and "2 connections already open" in answer
    finally:
        for s in idle:
            s.close()

    def served() -> bool:
        try:
            return _post(srv, _wav())[0] == 200
        except urllib.error.URLError:  # refused (and closed) before the body was sent: slots not yet free
            return False

    assert _wait_until(served)


def test_a_total_budget_below_one_request_is_a_config_error() -> None:
    from usam_toolkit.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"--max-total-mb 50 is less than one request may need: "
        r"--max-decoded-mb 16 \+ 2 x --max-upload-mb 20 = 56",
    ):
        make_server(_Stand_in(), "127.0.0.1", 0, max_upload_mb=20, max_decoded_mb=16, max_total_mb=50)


def test_serving_unwraps_the_feature_cache(tmp_path) -> None:
    import torch

    from usam_toolkit.data.cache import CachedEncoder, FeatureCache

    plain = torch.nn.Linear(2, 2)
    inference = _Stand_in()
    encoders = torch.nn.ModuleList([CachedEncoder(plain, FeatureCache(tmp_path)), torch.nn.Linear(2, 2)])
    inference.model = type("M", (), {"encoders": encoders})()
    srv = make_server(inference, "127.0.0.1", 0)
    srv.server_close()
    assert inference.model.encoders[0] is plain
    assert not any(isinstance(e, CachedEncoder) for e in inference.model.encoders)
