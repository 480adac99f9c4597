"""Which upstream answers a model name, and failover to a fallback model.

Model names are the hub's: ``claude-sonnet-4-6``, ``campus/qwen2.5-coder-32b``.  Each
configured OpenAI-compatible upstream lists the names it serves (and its own name for each);
every other name goes to the Anthropic upstream (``TutorGateway.upstream``).

Failover happens only before the first byte: when the chosen upstream's breaker is open or
it answers 5xx/529 (after the SDK's own retries), the request goes once to the model's
fallback, and the answer starts with one line saying a fallback answered.  Which upstream
answered is never told to the student's side; the metrics count it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from traitlets import Dict, Instance, List, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import metrics
from ..errors import GatewayError
from ..upstream import Upstream, UpstreamStream

#: The one line an answer from a fallback model starts with.
FAILOVER_NOTICE = "(The usual model is not answering right now; a fallback model answered.)\n\n"


def _key_of(spec: dict[str, Any]) -> str:
    """An upstream's key: ``api_key_file`` (a mounted secret), else ``$api_key_env``."""
    if spec.get("api_key_file"):
        return Path(spec["api_key_file"]).read_text().strip()
    return os.environ.get(spec.get("api_key_env") or "OPENAI_API_KEY", "")


class Router(LoggingConfigurable):
    """Model name → upstream; fallback models; answers counted per upstream and model."""

    upstreams = List(
        Dict(),
        help="""OpenAI-compatible upstreams, each a dict: name (for metrics), base_url (ending
        in /v1), api_key_env (the variable holding its key, default OPENAI_API_KEY) or
        api_key_file (a secret file), models ({hub name: the upstream's own name}), prices
        ({hub name: {input, output}} USD per million tokens; 0 for self-hosted) and tools
        (false for a model that cannot call tools). Model names not listed by any go to the
        Anthropic upstream.""",
    ).tag(config=True)
    default_model = Unicode(
        help="""The model of courses whose tutor.yaml names none (the request's model when
        empty). Defaults to $TUTOR_MODEL.""",
    ).tag(config=True)

    @default("default_model")
    def _default_model_default(self) -> str:
        return os.environ.get("TUTOR_MODEL", "")

    @default("upstreams")
    def _upstreams_default(self) -> list[dict[str, Any]]:
        """With $OPENAI_BASE_URL set (the demo's way), one upstream serving $TUTOR_MODEL."""
        base_url, model = os.environ.get("OPENAI_BASE_URL"), self.default_model
        if not (base_url and model):
            return []
        return [{"name": "openai", "base_url": base_url, "models": {model: model}}]

    fallbacks = Dict(
        help="""Fallback model per model ({"claude-sonnet-4-6": "campus/qwen"}): answers when
        the first model's upstream is down (breaker open, 5xx or 529 before the first byte).""",
    ).tag(config=True)

    anthropic = Instance(Upstream, help="The Anthropic upstream (every other model name).")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by_model: dict[str, tuple[str, Upstream]] = {}
        if self.upstreams:  # the openai SDK takes seconds to import: only when it is used
            from .openai_compat import OpenAIUpstream
        for spec in self.upstreams:
            upstream = OpenAIUpstream(
                parent=self,
                api_key=_key_of(spec),
                base_url=spec.get("base_url", ""),
                models=dict(spec.get("models", {})),
                tools=bool(spec.get("tools", True)),
            )
            for model in spec.get("models", {}):
                self._by_model[model] = (str(spec.get("name") or spec.get("base_url")), upstream)

    @property
    def models(self) -> list[str]:
        """The model names the OpenAI-compatible upstreams serve."""
        return list(self._by_model)

    def prices(self) -> dict[str, dict[str, float]]:
        """The price table entries of the OpenAI-compatible upstreams' models."""
        table: dict[str, dict[str, float]] = {}
        for spec in self.upstreams:
            for model, price in (spec.get("prices") or {}).items():
                table[model] = {"cache_write": 0.0, "cache_read": 0.0} | dict(price)
        return table

    def model_for(self, course_model: str, requested: str) -> str:
        """The model that answers: the course's, else the hub's default, else the request's."""
        return course_model or self.default_model or requested

    def pick(self, model: str) -> tuple[str, Upstream]:
        """The upstream (and its name for metrics) that serves ``model``."""
        return self._by_model.get(model) or ("anthropic", self.anthropic)

    def offline(self, model: str) -> bool:
        """Whether ``model`` has no upstream with a key (the offline responder answers)."""
        return self.pick(model)[1].offline

    async def _first(self, params: dict[str, Any], call: str) -> tuple[Any, Upstream, bool]:
        """``call`` on the model's upstream, or on its fallback's when it is down."""
        model = str(params["model"])
        name, upstream = self.pick(model)
        try:
            result = await getattr(upstream, call)(params)
        except GatewayError as err:
            fallback = self.fallbacks.get(model)
            if not fallback or err.status < 500:
                raise
            metrics.FAILOVERS.labels(name, model).inc()
            self.log.warning("%s (%s) is down (%s); %s answers", model, name, err.status, fallback)
            params["model"] = fallback
            name, upstream = self.pick(fallback)
            result = await getattr(upstream, call)(params)
            metrics.ANSWERS.labels(name, fallback).inc()
            return result, upstream, True
        metrics.ANSWERS.labels(name, model).inc()
        return result, upstream, False

    async def open_stream(self, params: dict[str, Any]) -> tuple[UpstreamStream, Upstream]:
        """The answer's events from the upstream that answered, and that upstream."""
        stream, upstream, failed_over = await self._first(params, "open_stream")
        if failed_over:
            stream.events = _with_notice(stream.events)
        return stream, upstream

    async def create(self, params: dict[str, Any]) -> tuple[dict[str, Any], Upstream]:
        """The non-streamed answer, and the upstream that gave it."""
        message, upstream, failed_over = await self._first(params, "create")
        if failed_over:
            message["content"] = [{"type": "text", "text": FAILOVER_NOTICE}, *message["content"]]
        return message, upstream


async def _with_notice(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The events with a first text block holding :data:`FAILOVER_NOTICE`."""
    async for event in events:
        if "index" in event:
            event = event | {"index": event["index"] + 1}
        yield event
        if event["type"] == "message_start":
            yield {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
            delta = {"type": "text_delta", "text": FAILOVER_NOTICE}
            yield {"type": "content_block_delta", "index": 0, "delta": delta}
            yield {"type": "content_block_stop", "index": 0}
