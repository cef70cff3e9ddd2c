"""A loopback HTTP server that answers through a stand-in application and injects faults.

A stand-in application implements ``handle(request) -> Reply``. Faults are queued per route
(``"POST /v2/orders"``) and consumed one per request: a fault either answers instead of the
application (the request has no effect) or after it (``after_accept``: the state changed but the
client sees an error, with a ``delay`` beyond its timeout nothing at all, or with ``drop`` a
connection closed without an answer).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json_body: Any
    headers: dict[str, str]
    raw_query: str
    raw_body: str

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Reply:
    status: int
    payload: Any = None  # JSON-encoded when not None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """One injected failure for the next request on a route."""

    status: int | None = None  # answer with this status (None: the application's own reply)
    payload: Any = None
    after_accept: bool = False  # let the application change its state first
    delay: float = 0.0  # seconds to wait before answering (beyond the client timeout: a timeout)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After
    drop: bool = False  # close the connection without answering


DROPPED = Reply(0)  # the answer that is none: the connection closes


class Application(Protocol):
    def handle(self, request: Request) -> Reply: ...


class LoopbackServer:
    """Serves ``app`` on 127.0.0.1 at a free port in a daemon thread."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.latency = 0.0  # seconds added to every answer
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests ever served at the same time
        handler = _handler_for(self)
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for the next requests on ``route`` (e.g. ``"POST /v2/orders"``)."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(faults)

    def pending_faults(self, route: str) -> int:
        with self._lock:
            return len(self._faults.get(route, ()))

    def requests_on(self, route: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def _serve(self, request: Request) -> Reply:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._faults.get(request.route)
            fault = queue.popleft() if queue else None
        if fault is None:
            return self.app.handle(request)
        reply = self.app.handle(request) if fault.after_accept else None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            return DROPPED
        if fault.status is None:
            return reply if reply is not None else self.app.handle(request)
        return Reply(fault.status, fault.payload, dict(fault.headers))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many client threads may connect at once


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            content_type = self.headers.get("Content-Type") or ""
            form = dict(parse_qsl(raw_body)) if "x-www-form-urlencoded" in content_type else {}
            json_body = (
                json.loads(raw_body, parse_float=Decimal)
                if "json" in content_type and raw_body
                else None
            )
            request = Request(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                form=form,
                json_body=json_body,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_query=parts.query,
                raw_body=raw_body,
            )
            reply = server._serve(request)
            if reply is DROPPED:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = b"" if reply.payload is None else json.dumps(reply.payload).encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if body:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): the state change stands

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
