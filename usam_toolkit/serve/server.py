"""A local web server for trying a checkpoint: upload or record a clip, pick a task, read the answer and
the TAPM routing weights.

Endpoints:

- ``GET /``: the page (``page.html`` next to this module).
- ``GET /api/info``: ``{"tasks": [...], "routing": bool, "max_upload_mb": float, "checkpoint": str}``.
- ``POST /api/run``: the audio either as ``multipart/form-data`` (fields ``file``, ``task``, ``prompt``,
  ``target_lang``) or as the raw request body with the same names as query parameters. Answers
  ``{"file", "task", "text", "duration", "windows", "routing_weights", "routing"}``, or
  ``{"error": ...}`` with 400 (bad request, unknown task, a body shorter than its Content-Length),
  408 (the body stalled), 411 (no length), 413 (upload too large, or audio that would decode to more
  than the per-request budget), 415 (not audio libsndfile can decode), 422 (audio that is empty,
  silent, NaN ...), 503 (too many connections, or the memory budget is full), 500.

Safety: binds 127.0.0.1 by default; an upload is decoded from memory and never written to disk (nor
is anything derived from it: the recipe's feature cache is unwrapped, see
:func:`~usam_toolkit.infer.engine.drop_feature_cache`), and its file name is only shown back (reduced
to a plain base name), never used as a path. Memory: uploads are size-checked before their body is
read; the decoded size is computed from the audio header before anything is decoded and admitted
against a per-request budget; bodies and decoded audio together are admitted against a total budget
held until the answer is sent; decoding streams in blocks, and multipart bodies are split without
copies beyond the file part (:mod:`usam_toolkit.serve.multipart`).
Time: every socket read has a timeout, and the request line with its headers, and then the body, each
have a deadline (:class:`_DeadlineReader`); at most ``max_connections`` connections are served at once.
Model calls are serialised with a lock; a client that disconnects after sending or while queued is
dropped before its audio is decoded or the model runs, and costs one log line, never a traceback.
Every request error is answered and the server keeps running.
"""

from __future__ import annotations

import io
import json
import logging
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .multipart import MultipartError, parse_form

log = logging.getLogger("usam_toolkit.serve")

PAGE = Path(__file__).with_name("page.html")
# A too-large body is read and dropped up to this many times the limit (so the client sees the 413
# instead of a reset connection); beyond it the connection is simply closed.
DRAIN_FACTOR = 8
# A body must arrive within the read timeout plus one second per this many bytes: a client trickling
# one byte per timeout would otherwise hold its thread for ever.
MIN_BODY_RATE = 64 * 1024
# How often a request queued for the model (or for the memory budget) checks that its client is still there.
POLL_SECONDS = 0.2
# A body of n bytes is held at most twice while it is read and split (its chunks and their join, or
# the body and its file part): what the memory budget reserves for it until the answer is sent.
BODY_COPIES = 2
MB = 1024 * 1024


class RequestProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed or reset its connection; ``when`` says at which point of the request."""

    def __init__(self, when: str):
        super().__init__(when)
        self.when = when


class MemoryBudget:
    """A counter of bytes in use with a ceiling: :meth:`acquire` waits until ``n`` more fit."""

    def __init__(self, total: int) -> None:
        self.total = int(total)
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int, timeout: float) -> bool:
        """Reserve ``n`` bytes, waiting at most ``timeout`` seconds; False if they never fitted."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.used + n > self.total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self.used += n
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


def safe_label(filename: str | None) -> str:
    """A display label for an uploaded file name: base name only, plain characters, at most 80 long."""
    base = re.split(r"[\\/]", filename or "")[-1]
    label = re.sub(r"[^\w.\- ]", "_", base).strip(". ")[:80]
    return label or "upload"


class _DeadlineReader(io.RawIOBase):
    """The handler's socket as a raw stream whose reads stop at ``handler.read_deadline``.

    Each receive waits at most ``read_timeout`` and never past the deadline; once the deadline has
    passed, bytes that already arrived are still taken (the server, not the client, was late) but
    nothing more is waited for. Reads always leave the socket's timeout at ``read_timeout`` for the
    writes.
    """

    def __init__(self, handler: Any) -> None:
        super().__init__()
        self._handler = handler
        self._sock = handler.connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        per_read = self._handler.server.read_timeout
        deadline = self._handler.read_deadline
        wait = per_read if deadline is None else min(per_read, deadline - time.monotonic())
        try:
            self._sock.settimeout(max(0.0, wait))
            return self._sock.recv_into(buffer)
        except BlockingIOError:  # past the deadline and nothing waiting
            raise TimeoutError("request not complete before its deadline") from None
        finally:
            self._sock.settimeout(per_read)


class UsamServer(ThreadingHTTPServer):
    """The HTTP server holding the loaded model (:class:`usam_toolkit.api.UsamInference`).

    Args:
        address: ``(host, port)``.
        inference: the loaded model; its feature cache, if any, is unwrapped here.
        max_upload_mb: largest request body.
        max_decoded_mb: largest decoded size of one upload (from its header, see
            :attr:`~usam_toolkit.infer.audio_input.BytesInfo.decoded_bytes`).
        max_total_mb: memory of all requests in flight together, held until each answer is sent:
            bodies being read (``BODY_COPIES`` times their size) and decoded audio; a request that does
            not fit waits up to ``read_timeout`` seconds, then gets a 503. At least
            ``max_decoded_mb + BODY_COPIES * max_upload_mb``, so that any one admissible request fits.
        read_timeout: seconds any socket read may wait (request line, headers, body); also the base
            of a body's deadline (see ``MIN_BODY_RATE``).
        max_connections: connections served at once; the next one is answered 503 and closed.
    """

    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a burst of clients connects while the accept
    # loop waits for the GIL, and the kernel then resets some of them; the cap on connections served
    # at once is max_connections, not this.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        inference: Any,
        max_upload_mb: float = 20.0,
        *,
        max_decoded_mb: float = 256.0,
        max_total_mb: float = 512.0,
        read_timeout: float = 30.0,
        max_connections: int = 16,
    ) -> None:
        from ..errors import ConfigError
        from ..infer.engine import drop_feature_cache

        one_request = max_decoded_mb + BODY_COPIES * max_upload_mb
        if max_total_mb < one_request:
            raise ConfigError(
                f"--max-total-mb {max_total_mb:g} is less than one request may need: "
                f"--max-decoded-mb {max_decoded_mb:g} + {BODY_COPIES} x --max-upload-mb "
                f"{max_upload_mb:g} = {one_request:g}"
            )
        if read_timeout <= 0 or max_connections < 1:
            raise ConfigError("read_timeout must be > 0 and max_connections >= 1")
        super().__init__(address, Handler)
        self.inference = inference
        self.max_bytes = int(max_upload_mb * MB)
        self.max_upload_mb = max_upload_mb
        self.max_decoded_bytes = int(max_decoded_mb * MB)
        self.max_decoded_mb = max_decoded_mb
        self.budget = MemoryBudget(int(max_total_mb * MB))
        self.read_timeout = float(read_timeout)
        self.max_connections = int(max_connections)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.lock = threading.Lock()
        if drop_feature_cache(getattr(inference, "model", None)):
            log.info("serving without the recipe's feature cache: uploads are never written to disk")

    # ------------------------------------------------------------------ connection limits
    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, request: Any, client_address: Any) -> None:
        message = f"server busy: {self.max_connections} connections already open; retry later"
        body = json.dumps({"error": message, "status": 503}).encode()
        head = (
            f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            request.settimeout(1.0)
            request.sendall(head + body)
        except OSError:
            pass
        log.info("%s refused: %d connections already open", client_address[0], self.max_connections)
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback for anything a handler lets through; a client that went
        # away (or stalled) is routine for a server and gets one line.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ClientGone)):
            log.info("%s connection dropped: %s", client_address[0], type(exc).__name__)
        else:
            log.exception("%s request failed", client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: UsamServer
    protocol_version = "HTTP/1.1"
    server_version = "usam-serve"

    # ------------------------------------------------------------------ plumbing
    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # StreamRequestHandler.setup applies it to the socket
        self._deferred_log: tuple[Any, Any] | None = None
        self._deferring = False
        self.read_deadline: float | None = None
        super().setup()
        self.rfile = io.BufferedReader(_DeadlineReader(self))

    def handle_one_request(self) -> None:
        # The request line and headers must all arrive within read_timeout (the body gets its own
        # deadline in _read_exactly): per-read timeouts alone let a client trickle one header line
        # every few seconds and hold its connection for ever.
        self.read_deadline = time.monotonic() + self.server.read_timeout
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # While _send writes, the access line waits for the write to succeed: a client that went
        # away gets its one "went away" line instead of a status it never received.
        if self._deferring:
            self._deferred_log = (code, size)
        else:
            super().log_request(code, size)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self._deferring = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            raise ClientGone("before its answer was sent") from None
        finally:
            self._deferring = False
        if self._deferred_log is not None:
            super().log_request(*self._deferred_log)
            self._deferred_log = None

    def _client_gone(self) -> bool:
        """Whether the peer closed or reset the connection (checked without blocking or consuming).

        An HTTP client waiting for its answer sends nothing more, so a readable socket with nothing
        to read means it closed. A client that only half-closes its side to wait would be taken as
        gone too; no usual HTTP client does that.
        """
        sock = self.connection
        try:
            poller = select.poll()  # not select.select: it fails on descriptors above 1023
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _went_away(self, gone: ClientGone) -> None:
        self.close_connection = True
        log.info(
            "%s %s %s: client went away %s",
            self.address_string(),
            self.command,
            urlparse(self.path).path[:100],
            gone.when,
        )

    def _json(self, status: int, obj: Any) -> None:
        self._send(
            status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"
        )

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message, "status": status}, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", extra)

    def handle_expect_100(self) -> bool:
        # A client that asks first is told "too large" before it sends anything.
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.server.max_bytes:
            self.close_connection = True
            self._error(413, self._too_large_message(int(length)))
            return False
        return super().handle_expect_100()

    def _too_large_message(self, length: int) -> str:
        return (
            f"upload of {length / 1048576:.1f} MB is larger than the limit of "
            f"{self.server.max_upload_mb:g} MB"
        )

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self.close_connection = True
            raise RequestProblem(411, "a Content-Length header is required")
        n = int(length)
        if n > self.server.max_bytes:
            self.close_connection = True
            if n <= DRAIN_FACTOR * self.server.max_bytes:
                self._drain(n)
            raise RequestProblem(413, self._too_large_message(n))
        try:
            self._reserve(BODY_COPIES * n, "to read an upload")
        except RequestProblem:
            self._drain(n)  # unread bytes would make closing a reset, and the client miss its 503
            raise
        return self._read_exactly(n)

    def _drain(self, n: int) -> None:
        """Read and drop up to ``n`` body bytes (a refused body), so the answer reaches the client."""
        self.read_deadline = time.monotonic() + self.server.read_timeout + n / MIN_BODY_RATE
        left = n
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except TimeoutError:
            pass  # the refusal is sent anyway, and the connection closed after it
        self.read_deadline = None

    def _read_exactly(self, n: int) -> bytes:
        """The whole body of ``n`` bytes, or a 400 when the client ends it early.

        Raises:
            TimeoutError: a read waited ``read_timeout`` seconds, or the body missed its deadline.
        """
        self.read_deadline = time.monotonic() + self.server.read_timeout + n / MIN_BODY_RATE
        chunks, got = [], 0
        while got < n:
            chunk = self.rfile.read1(min(n - got, 1 << 16))
            if not chunk:
                self.close_connection = True
                raise RequestProblem(
                    400, f"the body ended after {got} of the {n} bytes its Content-Length announced"
                )
            chunks.append(chunk)
            got += len(chunk)
        self.read_deadline = None
        return b"".join(chunks)

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        self.read_deadline = None
        path = urlparse(self.path).path
        try:
            try:
                if path in ("/", "/index.html"):
                    self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
                elif path == "/api/info":
                    self._json(200, self._info())
                else:
                    self._error(404, f"no such page: {path[:100]}")
            except ClientGone:
                raise
            except Exception as exc:  # the server must outlive any one request
                log.exception("GET %s failed", path)
                self._error(500, f"internal error: {exc}")
        except ClientGone as gone:
            self._went_away(gone)

    def do_POST(self) -> None:
        self.read_deadline = None
        path = urlparse(self.path).path
        self._held = 0
        try:
            try:
                if path != "/api/run":
                    self.close_connection = True
                    raise RequestProblem(404, f"no such endpoint: {path[:100]} (valid: POST /api/run)")
                self._json(200, self._run())
            except RequestProblem as p:
                extra = {"Retry-After": "1"} if p.status == 503 else None
                self._error(p.status, p.message, extra)
            except TimeoutError as exc:
                self.close_connection = True  # the access line (408) is the one log line
                self._error(408, f"request body stalled: {exc}")
            except ClientGone:
                raise
            except (ConnectionError, OSError) as exc:
                if isinstance(exc, ConnectionError) or self._client_gone():
                    raise ClientGone("while sending its request") from None
                raise
        except ClientGone as gone:
            self._went_away(gone)
        except Exception as exc:
            log.exception("POST %s failed", path)
            try:
                self._error(500, f"internal error: {exc}")
            except ClientGone as gone:
                self._went_away(gone)
        finally:
            self.server.budget.release(self._held)

    def _info(self) -> dict[str, Any]:
        inf = self.server.inference
        return {
            "tasks": inf.tasks,
            "routing": inf.engine.has_routing,
            "max_upload_mb": self.server.max_upload_mb,
            "max_decoded_mb": self.server.max_decoded_mb,
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
            parts = parse_form(body, ctype)
        except MultipartError as exc:
            raise RequestProblem(400, f"malformed multipart body: {exc}") from None
        del body
        audio, name, fields = None, None, dict(query)
        for part in parts:
            if part.name == "file":
                audio, name = part.content, part.filename
            elif part.name:
                fields[part.name] = part.content.decode("utf-8", "replace")
        if audio is None:
            raise RequestProblem(400, "the form has no 'file' field with the audio")
        return audio, fields, name

    def _run(self) -> dict[str, Any]:
        from ..errors import UsamError
        from ..infer.audio_input import InputProblem, load_bytes, probe_bytes
        from ..infer.engine import Request

        audio, fields, filename = self._fields()
        if self._client_gone():  # a client that sends and leaves must not cost a decode or a slot
            raise ClientGone("right after sending; its request was dropped unrun")
        inf = self.server.inference
        prompt = (fields.get("prompt") or "").strip() or None
        task = (fields.get("task") or "").strip() or inf.tasks[0]
        target = (fields.get("target_lang") or "").strip() or None
        if task not in inf.tasks:
            raise RequestProblem(
                400, f"this model was not trained for task '{task[:40]}'; its tasks: {', '.join(inf.tasks)}"
            )
        if target is not None and not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", target):
            raise RequestProblem(
                400, f"target_lang '{target[:20]}' is not a language code such as fr, de, zh"
            )
        label = safe_label(filename)
        if not audio:
            raise RequestProblem(400, "the upload is empty")
        srv = self.server
        try:
            info = probe_bytes(audio, label)
        except InputProblem as p:
            raise RequestProblem(
                415 if p.reason == "unsupported_type" else 422, f"{label}: {p.reason}: {p.detail}"
            ) from None
        need = info.decoded_bytes
        if need > srv.max_decoded_bytes:
            raise RequestProblem(
                413,
                (
                    f"{label}: decoded_too_large: {info.frames} frames x {info.channels} channels at "
                    f"{info.sample_rate} Hz ({info.seconds:.1f} s) would take {need / MB:.1f} MB to decode; "
                    "this server accepts at most "
                    f"{srv.max_decoded_mb:g} MB per request (--max-decoded-mb)"
                ),
            )
        self._reserve(need, "to decode an upload")
        try:
            clip = load_bytes(audio, label, info=info)
        except InputProblem as p:
            raise RequestProblem(
                415 if p.reason == "unsupported_type" else 422, f"{label}: {p.reason}: {p.detail}"
            ) from None
        del audio
        self._wait_for(lambda: srv.lock.acquire(timeout=POLL_SECONDS), None)
        try:
            if self._client_gone():
                raise ClientGone("while queued for the model; its request was dropped unrun")
            result = inf.engine.run([clip], Request(task, prompt, target))[0]
        except UsamError as exc:  # e.g. a translation task with no target language anywhere
            raise RequestProblem(400, str(exc)) from None
        finally:
            srv.lock.release()
        out = result.to_dict()
        out["routing"] = result.routing_weights is not None
        return out

    def _reserve(self, n: int, what: str) -> None:
        """Take ``n`` bytes of the memory budget until the answer is sent (waiting up to read_timeout)."""
        srv = self.server

        def busy() -> RequestProblem:
            self.close_connection = True
            return RequestProblem(
                503,
                (
                    f"server busy: {srv.budget.used / MB:.1f} MB of request memory in use; "
                    f"{n / MB:.1f} MB more {what} would pass the limit of {srv.budget.total / MB:g} MB "
                    "(--max-total-mb); retry later"
                ),
            )

        self._wait_for(lambda: srv.budget.acquire(n, POLL_SECONDS), srv.read_timeout, busy)
        self._held += n

    def _wait_for(self, try_once: Any, timeout: float | None, on_timeout: Any = None) -> None:
        """Call ``try_once`` (itself waiting up to ``POLL_SECONDS``) until it returns True; between tries,
        drop the request if its client went away, and raise ``on_timeout()`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not try_once():
            if self._client_gone():
                raise ClientGone("while queued for the model; its request was dropped unrun")
            if deadline is not None and time.monotonic() > deadline:
                raise on_timeout()


def make_server(
    inference: Any, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20.0, **limits: Any
) -> UsamServer:
    """A server for ``inference`` (:class:`usam_toolkit.api.UsamInference`); call ``serve_forever()``.

    ``port=0`` picks a free port (see ``server.server_address``); ``limits`` are the keyword arguments
    of :class:`UsamServer` (``max_decoded_mb``, ``max_total_mb``, ``read_timeout``,
    ``max_connections``).
    """
    return UsamServer((host, port), inference, max_upload_mb, **limits)
