"""A local web server for trying a checkpoint: upload or record a clip, pick a task, read the answer and
the TAPM routing weights.

Endpoints:

- ``GET /``: the page (``page.html`` next to this module).
- ``GET /api/info``: ``{"tasks": [...], "routing": bool, "max_upload_mb": float, "checkpoint": str}``.
- ``POST /api/run``: the audio either as ``multipart/form-data`` (fields ``file``, ``task``, ``prompt``,
  ``target_lang``) or as the raw request body with the same names as query parameters. Answers
  ``{"file", "task", "text", "duration", "windows", "routing_weights", "routing"}``, or
  ``{"error": ...}`` with 400 (bad request, unknown task), 411 (no length), 413 (too large),
  415 (not audio libsndfile can decode), 422 (audio that is empty, silent, NaN ...), 500.

Safety: binds 127.0.0.1 by default; an upload is decoded from memory and never written to disk, and
its file name is only shown back (reduced to a plain base name), never used as a path; uploads are
size-checked before their body is read; model calls are serialised with a lock; every request error
is answered and the server keeps running.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("usam_toolkit.serve")

PAGE = Path(__file__).with_name("page.html")
# A too-large body is read and dropped up to this many times the limit (so the client sees the 413
# instead of a reset connection); beyond it the connection is simply closed.
DRAIN_FACTOR = 8


class RequestProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def safe_label(filename: str | None) -> str:
    """A display label for an uploaded file name: base name only, plain characters, at most 80 long."""
    base = re.split(r"[\\/]", filename or "")[-1]
    label = re.sub(r"[^\w.\- ]", "_", base).strip(". ")[:80]
    return label or "upload"


class UsamServer(ThreadingHTTPServer):
    """The HTTP server holding the loaded model (:class:`usam_toolkit.api.UsamInference`)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], inference: Any, max_upload_mb: float = 20.0) -> None:
        super().__init__(address, Handler)
        self.inference = inference
        self.max_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_upload_mb = max_upload_mb
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: UsamServer
    protocol_version = "HTTP/1.1"
    server_version = "usam-serve"

    # ------------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def handle_expect_100(self) -> bool:
        # A client that asks first is told "too large" before it sends anything.
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.server.max_bytes:
            self.close_connection = True
            self._error(413, self._too_large_message(int(length)))
            return False
        return super().handle_expect_100()

    def _too_large_message(self, length: int) -> str:
        return f"upload of {length / 1048576:.1f} MB is larger than the limit of {self.server.max_upload_mb:g} MB"

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self.close_connection = True
            raise RequestProblem(411, "a Content-Length header is required")
        n = int(length)
        if n > self.server.max_bytes:
            self.close_connection = True
            if n <= DRAIN_FACTOR * self.server.max_bytes:
                left = n
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
            raise RequestProblem(413, self._too_large_message(n))
        return self.rfile.read(n)

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        path = urlparse(self.path).path
        try:
            if path in ("/", "/index.html"):
                self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif path == "/api/info":
                self._json(200, self._info())
            else:
                self._error(404, f"no such page: {path[:100]}")
        except Exception as exc:  # the server must outlive any one request
            log.exception("GET %s failed", path)
            self._error(500, f"internal error: {exc}")

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        try:
            if path != "/api/run":
                self.close_connection = True
                raise RequestProblem(404, f"no such endpoint: {path[:100]} (valid: POST /api/run)")
            self._json(200, self._run())
        except RequestProblem as p:
            self._error(p.status, p.message)
        except Exception as exc:
            log.exception("POST %s failed", path)
            self._error(500, f"internal error: {exc}")

    def _info(self) -> dict[str, Any]:
        inf = self.server.inference
        return {
            "tasks": inf.tasks,
            "routing": inf.engine.has_routing,
            "max_upload_mb": self.server.max_upload_mb,
            "checkpoint": Path(str(inf.checkpoint)).name if inf.checkpoint else None,
        }

    def _fields(self) -> tuple[bytes, dict[str, str], str | None]:
        """(audio bytes, text fields, uploaded file name) from a multipart form or a raw body."""
        body = self._read_body()
        query = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}
        ctype = self.headers.get("Content-Type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return body, query, query.get("filename")
        try:
            msg = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1") + body
            )
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's malformed body
            raise RequestProblem(400, f"malformed multipart body: {exc}") from None
        if not msg.is_multipart():
            raise RequestProblem(400, "malformed multipart body (no parts; is the boundary right?)")
        audio, name, fields = None, None, dict(query)
        for part in msg.iter_parts():
            key = part.get_param("name", header="content-disposition")
            if key == "file":
                audio, name = part.get_payload(decode=True) or b"", part.get_filename()
            elif key:
                fields[str(key)] = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        if audio is None:
            raise RequestProblem(400, "the form has no 'file' field with the audio")
        return audio, fields, name

    def _run(self) -> dict[str, Any]:
        from ..errors import UsamError
        from ..infer.audio_input import InputProblem, load_bytes
        from ..infer.engine import Request

        audio, fields, filename = self._fields()
        inf = self.server.inference
        prompt = (fields.get("prompt") or "").strip() or None
        task = (fields.get("task") or "").strip() or inf.tasks[0]
        target = (fields.get("target_lang") or "").strip() or None
        if task not in inf.tasks:
            raise RequestProblem(400, f"this model was not trained for task '{task[:40]}'; its tasks: {', '.join(inf.tasks)}")
        if target is not None and not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", target):
            raise RequestProblem(400, f"target_lang '{target[:20]}' is not a language code such as fr, de, zh")
        label = safe_label(filename)
        if not audio:
            raise RequestProblem(400, "the upload is empty")
        try:
            clip = load_bytes(audio, label)
        except InputProblem as p:
            status = 415 if p.reason == "unsupported_type" else 422
            raise RequestProblem(status, f"{label}: {p.reason}: {p.detail}") from None
        try:
            with self.server.lock:
                result = inf.engine.run([clip], Request(task, prompt, target))[0]
        except UsamError as exc:  # e.g. a translation task with no target language anywhere
            raise RequestProblem(400, str(exc)) from None
        out = result.to_dict()
        out["routing"] = result.routing_weights is not None
        return out


def make_server(inference: Any, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20.0) -> UsamServer:
    """A server for ``inference`` (:class:`usam_toolkit.api.UsamInference`); call ``serve_forever()``.

    ``port=0`` picks a free port (see ``server.server_address``).
    """
    return UsamServer((host, port), inference, max_upload_mb)
