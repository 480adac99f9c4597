"""A protocol-faithful fake of OpenAI's Chat Completions API, for the tests and benchmarks.

Written from the API's documented behaviour, so the official ``openai`` SDK runs unchanged
against it (``base_url`` = :attr:`FakeOpenAI.url`):

- ``POST /v1/chat/completions`` checks ``Authorization: Bearer`` and answers with a
  ``chat.completion`` object, or with ``text/event-stream`` ``data:`` lines of
  ``chat.completion.chunk`` objects: the first with ``delta.role``, text in
  ``delta.content``, tool calls in ``delta.tool_calls`` (``index``, ``id``, ``function.name``
  in the first piece, ``function.arguments`` in pieces after), a last choice chunk with
  ``finish_reason``, then (with ``stream_options.include_usage``) a chunk with empty
  ``choices`` and ``usage``, then ``data: [DONE]``;
- errors are OpenAI's JSON bodies (``{"error": {"message", "type", "code"}}``): 401, 429 with
  ``retry-after``, 5xx, and a mid-stream ``error`` event after some text.

Replies are scripted with the Anthropic fake's :class:`~fake_anthropic.Reply` (text and
``tool_use`` blocks, ``stop_reason``, token counts), so one test script drives either API.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from fake_anthropic import DEFAULT_TEXT, FakeAnthropic, RecordedRequest, Reply, credential_of, main
from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

#: The key the fake accepts unless told another.
DEFAULT_KEY = "sk-openai-fake-test-key-0123"

#: Messages ``stop_reason`` → Chat Completions ``finish_reason``.
FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls"}

__all__ = ["DEFAULT_TEXT", "FakeOpenAI", "Reply"]


def _error(error_type: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _output_tokens(reply: Reply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    size = sum(len(b.get("text", "")) + len(json.dumps(b.get("input", ""))) for b in reply.blocks)
    return max(1, size // 4)


class ChatCompletionsHandler(RequestHandler):
    """``POST /v1/chat/completions``."""

    def initialize(self, fake: FakeOpenAI) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:
        pass

    def prepare(self) -> None:
        self.set_header("x-request-id", f"req_{uuid.uuid4().hex[:20]}")

    def _send_error(
        self, status: int, body: dict[str, Any], retry_after: float | None = None
    ) -> None:
        self.set_status(status)
        if retry_after is not None:
            self.set_header("retry-after", str(retry_after))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    async def post(self) -> None:
        if credential_of(self.request.headers) != self.fake.api_key:
            self._send_error(
                401,
                _error("invalid_request_error", "Incorrect API key provided", "invalid_api_key"),
            )
            return
        try:
            body = json.loads(self.request.body)
        except json.JSONDecodeError:
            self._send_error(
                400, _error("invalid_request_error", "We could not parse the JSON body")
            )
            return
        for required in ("model", "messages"):
            if required not in body:
                self._send_error(
                    400,
                    _error("invalid_request_error", f"Missing required parameter: '{required}'."),
                )
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
            error_type = "requests" if reply.status == 429 else reply.error_type or "server_error"
            code = "rate_limit_exceeded" if reply.status == 429 else None
            self._send_error(
                reply.status, _error(error_type, reply.message, code), reply.retry_after
            )
            return
        model = reply.model or body["model"]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": _output_tokens(reply),
            "total_tokens": reply.input_tokens + _output_tokens(reply),
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await self._stream(reply, model, completion_id, usage if include_usage else None)
        else:
            self._answer(reply, model, completion_id, usage)

    def _tool_calls(self, reply: Reply) -> list[dict[str, Any]]:
        return [
            {
                "id": f"call_{uuid.uuid4().hex[:20]}",
                "type": "function",
                "function": {"name": block["name"], "arguments": json.dumps(block["input"])},
            }
            for block in reply.blocks
            if block["type"] == "tool_use"
        ]

    def _answer(self, reply: Reply, model: str, completion_id: str, usage: dict[str, int]) -> None:
        text = "".join(b.get("text", "") for b in reply.blocks if b["type"] == "text")
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        calls = self._tool_calls(reply)
        if calls:
            message["tool_calls"] = calls
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": FINISH.get(reply.stop_reason, "stop"),
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
            )
        )

    async def _stream(
        self, reply: Reply, model: str, completion_id: str, usage: dict[str, int] | None
    ) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        created = int(time.time())

        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
            choices = (
                []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            )
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": None,
            }

        size = max(1, reply.chunk_size)
        try:
            await self._emit(chunk({"role": "assistant", "content": ""}))
            calls = iter(self._tool_calls(reply))
            tool_index = 0
            for block in reply.blocks:
                if block["type"] == "text":
                    for offset in range(0, len(block["text"]), size):
                        if reply.delay:
                            await asyncio.sleep(reply.delay)
                        await self._emit(chunk({"content": block["text"][offset : offset + size]}))
                elif block["type"] == "tool_use":
                    call = next(calls)
                    head = {
                        "index": tool_index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                    await self._emit(chunk({"tool_calls": [head]}))
                    arguments = call["function"]["arguments"]
                    for offset in range(0, len(arguments), size):
                        piece = {
                            "index": tool_index,
                            "function": {"arguments": arguments[offset : offset + size]},
                        }
                        await self._emit(chunk({"tool_calls": [piece]}))
                    tool_index += 1
            if reply.kind == "mid_stream_error":
                self.write(
                    b"event: error\ndata: "
                    + json.dumps(_error("server_error", reply.message)).encode()
                    + b"\n\n"
                )
                self.finish()
                return
            await self._emit(chunk({}, FINISH.get(reply.stop_reason, "stop")))
            if usage is not None:
                await self._emit(chunk(None) | {"usage": usage})
            self.write(b"data: [DONE]\n\n")
            self.finish()
        except StreamClosedError:
            self.fake.disconnects += 1

    async def _emit(self, data: dict[str, Any]) -> None:
        self.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        await self.flush()


class FakeOpenAI(FakeAnthropic):
    """The fake Chat Completions server: start it, script replies, read what it received."""

    def __init__(self, api_key: str = DEFAULT_KEY, keep_requests: bool = True) -> None:
        super().__init__(api_key=api_key, keep_requests=keep_requests)

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``OPENAI_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self) -> list[Any]:
        return [(r"/v1/chat/completions", ChatCompletionsHandler, {"fake": self})]


if __name__ == "__main__":
    main(FakeOpenAI, DEFAULT_KEY)
