"""Server-Sent Events, written the same way by the gateway and by the student's server.

The gateway relays Anthropic's named events (``event: content_block_delta``); the
server extension sends the tutor's own typed JSON events to the panel and the magics.
Both go through :class:`EventStreamMixin`, so framing, headers and flushing live once;
the magics (and the tests) read the server extension's stream with :func:`iter_event_data`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler


def encode_event(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One SSE frame: an optional ``event:`` line, one ``data:`` line, a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class ClientGone(Exception):
    """The client closed the connection while we were streaming to it."""


class EventStreamMixin(RequestHandler):
    """Mixin for a Tornado ``RequestHandler`` that answers with an event stream (put it
    first among the bases)."""

    def start_event_stream(self) -> None:
        """Send the headers that make proxies pass events through unbuffered."""
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")

    async def send_event(self, data: Mapping[str, Any] | str, event: str | None = None) -> None:
        """Write one event and flush it; raise :class:`ClientGone` if the client left."""
        try:
            self.write(encode_event(data, event))
            await self.flush()
        except StreamClosedError as err:
            raise ClientGone() from err


def iter_event_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each event in a stream of lines (line ends already removed).

    Follows the event-stream format: ``data:`` lines of one event are joined with a
    newline, an event ends at a blank line, comments (``:``) and other fields are
    skipped, and an event left unterminated when the stream ends is dropped.
    """
    data: list[str] | None = None
    for line in lines:
        if not line:
            if data is not None:
                yield "\n".join(data)
            data = None
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data = [] if data is None else data
            data.append(value[1:] if value.startswith(" ") else value)
