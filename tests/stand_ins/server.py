"""A small threaded HTTP(S) server on 127.0.0.1 that records requests and injects faults."""

from __future__ import annotations

import json
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]  # the last value of each parameter
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded``."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Response:
        return cls(
            status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers}
        )


class StandIn:
    """Base of the vendor stand-ins: subclasses implement :meth:`answer`.

    ``inject`` queues a fault that replaces the answer to the next matching request(s).
    """

    def __init__(self, certificate: tuple[Path, Path] | None = None) -> None:
        self.requests: list[Request] = []
        self._faults: deque[tuple[str, Response | None]] = deque()  # None: answer normally
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def inject(
        self,
        status: int,
        payload: Any = None,
        *,
        path: str = "",
        times: int = 1,
        after: int = 0,
        **headers: str,
    ) -> None:
        """Answer ``times`` requests whose path contains ``path`` with an error, once ``after``
        such requests have been answered normally."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
        response = Response(status, body, {"Content-Type": "application/json", **headers})
        with self._lock:
            self._faults.extend([(path, None)] * after + [(path, response)] * times)

    def _respond(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            for i, (path, response) in enumerate(self._faults):
                if path in request.path:
                    del self._faults[i]
                    if response is not None:
                        return response
                    break
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        raise NotImplementedError


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers=dict(self.headers.items()),
                body=self.rfile.read(length) if length else b"",
            )
            try:
                response = stand_in._respond(request)
            except Exception as exc:  # a stand-in bug shows as a 500 naming it
                response = Response.json({"message": f"stand-in error: {exc!r}"}, 500)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
