"""Our generator behind an OpenAI-compatible HTTP API: `GET /v1/models`, `POST /v1/completions`
and `POST /v1/chat/completions`, streamed as server-sent events or answered as one JSON object.

Handler threads validate and tokenize requests and hand them to the batching scheduler, which
decodes every active request together; each handler relays its own request's text pieces. A
client that disconnects cancels its request, which frees its row in the batch.
"""

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from model.batching import Finished, Scheduler, Ticket
from model.generator import Generator
from model.openai_api import ApiError, GenerationRequest, OpenAIApi, Reply

MAX_BODY_BYTES = 16 * 2**20
CLIENT_CHECK_S = 0.2  # how often a waiting handler checks that its client is still there


class _HttpServer(ThreadingHTTPServer):
    def __init__(
        self, address: tuple[str, int], api: OpenAIApi, scheduler: Scheduler, log: bool
    ) -> None:
        super().__init__(address, _Handler)
        self.api, self.scheduler, self.log = api, scheduler, log


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v1/models":
            self._send_json(200, self.server.api.models())
        elif path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_error(ApiError(404, f"no such route: GET {self.path}"))

    def do_POST(self) -> None:
        chat = {"/v1/chat/completions": True, "/v1/completions": False}.get(self.path.rstrip("/"))
        try:
            if chat is None:
                raise ApiError(404, f"no such route: POST {self.path}")
            request = self.server.api.parse(self._read_json(), chat)
            try:
                ticket = self.server.scheduler.submit(request.prompt, request.params)
            except ValueError as error:
                raise ApiError(400, str(error)) from None
        except ApiError as error:
            self._send_error(error)
            return
        reply = Reply(self.server.api.name, chat)
        try:
            if request.stream:
                self._stream(ticket, request, reply)
            else:
                self._complete(ticket, reply)
        except ConnectionError:
            self.close_connection = True
        finally:
            if ticket.finished is None:
                ticket.cancel()

    def _stream(self, ticket: Ticket, request: GenerationRequest, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if request.chat:
            self._send_event(reply.chunk(None))
        try:
            for event in self._events(ticket):
                if isinstance(event, str):
                    self._send_event(reply.chunk(event))
                    continue
                self._send_event(reply.chunk(None, event))
                if request.include_usage:
                    self._send_event(reply.usage_chunk(event))
        except ConnectionError:
            raise
        except Exception as error:
            self._send_event(ApiError(500, f"generation failed: {error}").to_json())
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _complete(self, ticket: Ticket, reply: Reply) -> None:
        try:
            text = "".join(event for event in self._events(ticket) if isinstance(event, str))
        except ConnectionError:
            raise
        except Exception as error:
            self._send_error(ApiError(500, f"generation failed: {error}"))
            return
        assert ticket.finished is not None
        self._send_json(200, reply.whole(text, ticket.finished))

    def _events(self, ticket: Ticket) -> Iterator[str | Finished]:
        """The ticket's events until it finishes; ConnectionError once the client is gone."""
        check_at = time.monotonic() + CLIENT_CHECK_S
        while True:
            event = ticket.next_event(CLIENT_CHECK_S)
            if isinstance(event, Exception):
                raise event
            if isinstance(event, Finished):
                ticket.finished = event
            if event is not None:
                yield event
                if isinstance(event, Finished):
                    return
            if time.monotonic() >= check_at:
                if self._client_gone():
                    raise ConnectionResetError("the client went away")
                check_at = time.monotonic() + CLIENT_CHECK_S

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _read_json(self) -> object:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ApiError(411, "a JSON body with a Content-Length header is required")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError(400, f"the request body is not valid JSON: {error}") from None

    def _send_event(self, data: dict[str, object]) -> None:
        self._write_chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_error(self, error: ApiError) -> None:
        self.close_connection = True
        self._send_json(error.status, error.to_json())

    def _send_json(self, status: int, data: dict[str, object]) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            super().log_message(format, *args)


class ModelServer:
    """The API on host:port (port 0 takes a free one); all requests share one scheduler."""

    def __init__(
        self,
        generator: Generator,
        name: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_batch: int = 8,
        log_requests: bool = False,
    ) -> None:
        self.scheduler = Scheduler(generator, max_batch)
        self.httpd = _HttpServer(
            (host, port), OpenAIApi(generator, name), self.scheduler, log_requests
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "ModelServer":
        """Serve from a background thread."""
        self.scheduler.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until interrupted."""
        self.scheduler.start()
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.scheduler.close()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
