"""A protocol-faithful fake of Anthropic's Messages API, for the tests and benchmarks.

It speaks HTTP on 127.0.0.1 the way the real API does, so the official ``anthropic`` SDK
(in the gateway, and in the tests' own clients) runs unchanged against it:

- ``POST /v1/messages`` checks the key (``x-api-key``, or ``Authorization: Bearer`` as
  current SDKs send it) and ``anthropic-version`` and answers with a
  ``Message`` object, or with ``text/event-stream`` events named exactly as Anthropic names
  them: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
  (``text_delta``, ``thinking_delta`` + ``signature_delta``, ``input_json_delta``),
  ``content_block_stop``, ``message_delta`` with
  ``usage``, ``message_stop``, and ``error`` events mid-stream;
- errors are Anthropic's JSON error bodies with its status codes (401, 429 and 529 with
  ``retry-after``), and a ``request-id`` header on every answer.

What it answers is scripted by the test with :class:`Reply` objects, in order; a reply may
also be a function of the request (for tool loops). With nothing scripted it answers a
short fixed text.  It runs its own Tornado loop in a thread, so synchronous tests, asyncio
tests and subprocesses (the hub's gateway) can all call it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

DEFAULT_TEXT = "This is the fake model's answer."
#: The key the fake accepts unless told another (tests and benchmarks give it upstream).
DEFAULT_KEY = "sk-ant-fake-test-key-0123456789"


@dataclass
class Reply:
    """One scripted answer of the fake API."""

    #: ``message`` (content blocks), ``error`` (an HTTP error), ``drop`` (close the
    #: connection without answering) or ``mid_stream_error`` (blocks, then an error event).
    kind: str = "message"
    #: Content blocks: ``{"type": "text", "text"}``, ``{"type": "thinking", "thinking"}``
    #: or ``{"type": "tool_use", "name", "input"}``.
    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    #: Characters per ``text_delta`` / ``input_json_delta`` event.
    chunk_size: int = 8
    #: Seconds between delta events (a realistic stream is ~0.02 s per token).
    delay: float = 0.0
    #: Seconds before the response starts (time to first byte).
    first_byte_delay: float = 0.0
    input_tokens: int = 25
    output_tokens: int | None = None
    cache_read_input_tokens: int = 0
    model: str | None = None
    status: int = 200
    error_type: str = ""
    message: str = ""
    retry_after: float | None = None

    @classmethod
    def text(cls, text: str = DEFAULT_TEXT, **kwargs: Any) -> Reply:
        """A plain text answer."""
        return cls(blocks=[{"type": "text", "text": text}], **kwargs)

    @classmethod
    def tool_use(
        cls, name: str, tool_input: dict[str, Any], text: str = "", **kwargs: Any
    ) -> Reply:
        """An answer that asks for one tool (after optional text), ``stop_reason: tool_use``."""
        blocks = [{"type": "text", "text": text}] if text else []
        blocks.append({"type": "tool_use", "name": name, "input": tool_input})
        return cls(blocks=blocks, stop_reason="tool_use", **kwargs)

    @classmethod
    def error(
        cls, status: int, error_type: str, message: str, retry_after: float | None = None
    ) -> Reply:
        """An HTTP error answer with Anthropic's JSON error body."""
        return cls(
            kind="error",
            status=status,
            error_type=error_type,
            message=message,
            retry_after=retry_after,
        )

    @classmethod
    def mid_stream_error(
        cls, text: str, error_type: str = "overloaded_error", **kwargs: Any
    ) -> Reply:
        """Stream ``text``, then an ``error`` event instead of the end of the message."""
        return cls(
            kind="mid_stream_error",
            blocks=[{"type": "text", "text": text}],
            error_type=error_type,
            message="Overloaded" if error_type == "overloaded_error" else error_type,
            **kwargs,
        )

    @classmethod
    def drop(cls) -> Reply:
        """Close the connection without any answer (a dead or crashing upstream)."""
        return cls(kind="drop")


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class RecordedRequest:
    """A request the fake received: lower-cased headers and the parsed JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def credential(self) -> str | None:
        """The API key sent, whichever way the SDK sent it."""
        return credential_of(self.headers)


def credential_of(headers: Any) -> str | None:
    """The key of a request: ``x-api-key``, or ``Authorization: Bearer`` (newer SDKs)."""
    bearer = headers.get("authorization") or ""
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return headers.get("x-api-key")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _output_tokens(reply: Reply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    chars = sum(
        len(b.get("text", "") + b.get("thinking", "")) + len(json.dumps(b.get("input", "")))
        for b in reply.blocks
    )
    return max(1, chars // 4)


def _final_blocks(reply: Reply) -> list[dict[str, Any]]:
    """The content blocks as the API returns them (tool_use blocks get ids)."""
    out = []
    for block in reply.blocks:
        if block["type"] == "tool_use":
            out.append(
                {
                    "type": "tool_use",
                    "id": block.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": block["name"],
                    "input": block["input"],
                }
            )
        elif block["type"] == "thinking":
            out.append({"type": "thinking", "thinking": block["thinking"], "signature": "sig"})
        else:
            out.append({"type": "text", "text": block["text"]})
    return out


class MessagesHandler(RequestHandler):
    """``POST /v1/messages``."""

    def initialize(self, fake: FakeAnthropic) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:
        pass

    def prepare(self) -> None:
        self.set_header("request-id", f"req_fake_{uuid.uuid4().hex[:20]}")

    def _send_error(self, status: int, error_type: str, message: str, **headers: str) -> None:
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name.replace("_", "-"), value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(_error_body(error_type, message)))

    async def post(self) -> None:
        if credential_of(self.request.headers) != self.fake.api_key:
            self._send_error(401, "authentication_error", "invalid x-api-key")
            return
        if not self.request.headers.get("anthropic-version"):
            self._send_error(400, "invalid_request_error", "anthropic-version header is required")
            return
        try:
            body = json.loads(self.request.body)
        except json.JSONDecodeError:
            self._send_error(400, "invalid_request_error", "Request body is not valid JSON")
            return
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                self._send_error(400, "invalid_request_error", f"{required}: Field required")
                return
        headers = {k.lower(): v for k, v in self.request.headers.items()}
        if self.fake.keep_requests:
            self.fake.requests.append(RecordedRequest(self.request.path, headers, body))
        reply = self.fake.next_reply(body)
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if reply.kind == "drop":
            self.request.connection.stream.close()
            return
        if reply.kind == "error":
            extra = {}
            if reply.retry_after is not None:
                extra["retry_after"] = str(reply.retry_after)
            self._send_error(reply.status, reply.error_type, reply.message, **extra)
            return
        model = reply.model or body["model"]
        message_id = f"msg_fake_{uuid.uuid4().hex[:20]}"
        if body.get("stream"):
            await self._stream(reply, model, message_id)
        else:
            self._answer(reply, model, message_id)

    def _answer(self, reply: Reply, model: str, message_id: str) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": _final_blocks(reply),
                    "stop_reason": reply.stop_reason,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": reply.input_tokens,
                        "output_tokens": _output_tokens(reply),
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": reply.cache_read_input_tokens,
                    },
                }
            )
        )

    async def _stream(self, reply: Reply, model: str, message_id: str) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        try:
            await self._emit(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": reply.input_tokens,
                            "output_tokens": 1,
                            "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": reply.cache_read_input_tokens,
                        },
                    },
                },
            )
            for index, block in enumerate(_final_blocks(reply)):
                await self._stream_block(reply, index, block)
                if index == 0:
                    await self._emit("ping", {"type": "ping"})
            if reply.kind == "mid_stream_error":
                await self._emit("error", _error_body(reply.error_type, reply.message))
                self.finish()
                return
            await self._emit(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": _output_tokens(reply)},
                },
            )
            await self._emit("message_stop", {"type": "message_stop"})
            self.finish()
        except StreamClosedError:
            self.fake.disconnects += 1

    async def _stream_block(self, reply: Reply, index: int, block: dict[str, Any]) -> None:
        if block["type"] == "tool_use":
            start = {**block, "input": {}}
            payload = json.dumps(block["input"])
            delta_type, key = "input_json_delta", "partial_json"
        elif block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            payload = block["thinking"]
            delta_type, key = "thinking_delta", "thinking"
        else:
            start = {"type": "text", "text": ""}
            payload = block["text"]
            delta_type, key = "text_delta", "text"
        await self._emit(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        size = max(1, reply.chunk_size)
        for offset in range(0, len(payload), size):
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await self._emit(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": delta_type, key: payload[offset : offset + size]},
                },
            )
        if block["type"] == "thinking":
            delta = {"type": "signature_delta", "signature": block["signature"]}
            await self._emit(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        await self._emit("content_block_stop", {"type": "content_block_stop", "index": index})

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        self.write(_sse(event, data))
        await self.flush()


class FakeAnthropic:
    """The fake API server: start it, script replies, read what it received."""

    def __init__(
        self, api_key: str = DEFAULT_KEY, keep_requests: bool = True
    ) -> None:
        self.api_key = api_key
        #: Record every request (tests read them); off for long benchmark runs.
        self.keep_requests = keep_requests
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self._script: deque[Reply | Responder] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``ANTHROPIC_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply | Responder) -> None:
        """Queue replies, answered in order; a callable gets the request body."""
        with self._lock:
            self._script.extend(replies)

    def clear(self) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.disconnects = 0

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            item = self._script.popleft() if self._script else Reply.text()
        return item(body) if callable(item) else item

    def routes(self) -> list[Any]:
        """The API's handlers (the OpenAI fake serves its own)."""
        return [(r"/v1/messages", MessagesHandler, {"fake": self})]

    def start(self) -> FakeAnthropic:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = Application(self.routes())
            server = HTTPServer(app)
            sockets = bind_sockets(0, "127.0.0.1")
            self.port = sockets[0].getsockname()[1]
            server.add_sockets(sockets)
            ready.set()
            self._loop.run_forever()
            server.stop()

        self._thread = threading.Thread(target=run, name="fake-anthropic", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


def main(fake_class: type[FakeAnthropic] | None = None, default_key: str = DEFAULT_KEY) -> None:
    """Run a fake on its own (benchmarks start it in a subprocess): ``--key``, ``--delay``,
    ``--chunk-size``, ``--text``; prints ``{"url": ...}`` once it listens.  ``fake_class``:
    this fake (default) or another API's built on it (``fake_openai.py``)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default=default_key)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between deltas")
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--text", default=DEFAULT_TEXT * 4)
    args = parser.parse_args()
    fake = (fake_class or FakeAnthropic)(args.key, keep_requests=False)
    fake.next_reply = lambda body: Reply.text(  # type: ignore[method-assign]
        args.text, delay=args.delay, chunk_size=args.chunk_size
    )
    fake.start()
    print(json.dumps({"url": fake.url}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
