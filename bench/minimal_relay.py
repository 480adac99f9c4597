"""The physical floor of a gateway on this machine: a relay that does nothing else.

``POST /v1/messages`` and ``POST /v1/chat/completions`` are forwarded as they are to the
fake Anthropic and the fake OpenAI-compatible API, with their keys, and the response's bytes
are passed back as they arrive. No authentication, no policy, no retrieval, no storage, no
parsing of the events: what is left of the gateway's added time once this relay's is
subtracted is the tutor's own work. Same server (Tornado) and HTTP client (httpx) as the
gateway, in its own process like the gateway. ``bench/gateway_overhead.py`` starts it:

    python bench/minimal_relay.py --anthropic ORIGIN --anthropic-key KEY \
        --openai ORIGIN --openai-key KEY

prints ``{"url": ...}`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

import httpx
from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler


class RelayHandler(RequestHandler):
    """Forward the request upstream, stream the answer back chunk by chunk."""

    def initialize(self, client: httpx.AsyncClient, upstream: str, key: str) -> None:
        self.client = client
        self.upstream = upstream.rstrip("/")
        self.key = key

    def check_xsrf_cookie(self) -> None:
        """An API relay: no cookies."""

    async def post(self) -> None:
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {self.key}",
            "x-api-key": self.key,
            "anthropic-version": self.request.headers.get("anthropic-version", "2023-06-01"),
        }
        request = self.client.build_request(
            "POST", self.upstream + self.request.path, content=self.request.body, headers=headers
        )
        response = await self.client.send(request, stream=True)
        try:
            self.set_status(response.status_code)
            self.set_header("Content-Type", response.headers.get("content-type", ""))
            async for chunk in response.aiter_raw():
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            await response.aclose()


async def serve(anthropic: str, anthropic_key: str, openai: str, openai_key: str) -> None:
    client = httpx.AsyncClient(
        timeout=120, limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    )
    app = Application(
        [
            (
                "/v1/messages",
                RelayHandler,
                {"client": client, "upstream": anthropic, "key": anthropic_key},
            ),
            (
                "/v1/chat/completions",
                RelayHandler,
                {"client": client, "upstream": openai, "key": openai_key},
            ),
        ]
    )
    server = app.listen(0, address="127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anthropic", required=True, help="the Messages API's origin")
    parser.add_argument("--anthropic-key", required=True)
    parser.add_argument("--openai", required=True, help="the Chat Completions API's origin")
    parser.add_argument("--openai-key", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.anthropic, args.anthropic_key, args.openai, args.openai_key))


if __name__ == "__main__":
    main()
