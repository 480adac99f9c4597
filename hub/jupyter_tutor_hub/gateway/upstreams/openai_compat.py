"""An OpenAI-compatible upstream: OpenAI, Azure OpenAI, vLLM, Ollama, any server with
``/v1/chat/completions``, through the official ``openai`` SDK.

It is an :class:`~..upstream.Upstream` like Anthropic's (same retries before the first
byte, same breaker, same errors for the student), speaking Chat Completions underneath:
requests and answers go through :mod:`.translate`, so the handlers see Anthropic events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import openai
from traitlets import Bool, Dict, Unicode, default

from ..upstream import Upstream
from .translate import StreamTranslator, chat_request, message_from_completion


class OpenAIUpstream(Upstream):
    """Settings and client for an OpenAI-compatible Chat Completions API."""

    status_errors: ClassVar[tuple[type[Exception], ...]] = (openai.APIStatusError,)
    #: ``APIError`` itself is what the SDK raises for an ``error`` sent mid-stream.
    connection_errors: ClassVar[tuple[type[Exception], ...]] = (openai.APIError,)

    api_key = Unicode(
        help="""The API key of the OpenAI-compatible server. Defaults to $OPENAI_API_KEY.
        Self-hosted servers (Ollama, vLLM) that take no key accept any non-empty value.""",
    ).tag(config=True)

    @default("api_key")
    def _api_key_default(self) -> str:
        return os.environ.get("OPENAI_API_KEY", "")

    base_url = Unicode(
        help="""Base URL of the Chat Completions API, ending in /v1 (e.g. Ollama's
        http://localhost:11434/v1). Defaults to $OPENAI_BASE_URL, else OpenAI's.""",
    ).tag(config=True)

    @default("base_url")
    def _base_url_default(self) -> str:
        return os.environ.get("OPENAI_BASE_URL", "")

    models = Dict(
        help="""The hub's model names this upstream serves, each with the upstream's own
        name for it ({"campus/qwen": "qwen2.5-coder:32b"}); a name not listed is sent as is.""",
    ).tag(config=True)

    tools = Bool(
        True,
        help="""Whether the model can call tools. False for small local models without
        function calling: tool definitions are then not sent, and the gateway tells the
        orchestrator (X-Tutor-Tools: none) not to offer any.""",
    ).tag(config=True)

    _openai: openai.AsyncOpenAI | None = None

    @property
    def offline(self) -> bool:
        """Offline only without a key and a URL: a self-hosted server may need no key."""
        return not (self.api_key or self.base_url)

    @property
    def client(self) -> Any:
        if self._openai is None:
            self._openai = openai.AsyncOpenAI(
                api_key=self.api_key or "no-key",  # the SDK insists on one
                base_url=self.base_url or None,
                max_retries=self.max_retries,
                timeout=self.timeout,
            )
        return self._openai

    def _target(self, params: dict[str, Any]) -> str:
        model = str(params.get("model", ""))
        return str(self.models.get(model, model))

    async def request(self, params: dict[str, Any], *, stream: bool) -> Any:
        body = chat_request(params | {"stream": stream}, self._target(params), tools=self.tools)
        return await self.client.chat.completions.create(**body)

    async def events(self, stream: Any, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The Chat Completions chunks as Messages events."""
        translator = StreamTranslator(str(params.get("model", "")), f"msg_{uuid.uuid4().hex[:24]}")
        async for chunk in stream:
            for event in translator.feed(chunk):
                yield event
        for event in translator.finish():
            yield event

    def message(self, answer: Any, params: dict[str, Any]) -> dict[str, Any]:
        return message_from_completion(answer, str(params.get("model", "")))
