"""Serving an ASGI application (the MCP SDK's) from an aiohttp route, in the same process
and on the same port as the rest of the endpoint.

Why a bridge of our own: the kept adapter, `aiohttp-asgi`, answers every `receive()` after
the body with another empty body chunk instead of waiting for `http.disconnect`, and the
SDK's streams (sse-starlette, the 2026-07-28 single exchange) loop on `receive()` until
they see one: a busy loop per open stream. Moving the endpoint to an ASGI server instead
would rewrite every route and its tests. What ASGI needs from one HTTP exchange is
small (a scope, a body read in chunks, a response started once and written in parts, a
disconnect), and this is that, with the disconnect awaited, not polled in a tight loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]
DISCONNECT_POLL_S = 0.5
"""How often a finished body checks whether the client hung up: aiohttp tells a handler
only by a failed write, and an ASGI stream that only waits needs the news another way."""


def asgi_handler(app: AsgiApp) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler that runs `app` for each request."""

    async def handle(request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(request)
        try:
            await app(exchange.scope(), exchange.receive, exchange.send)
        finally:
            exchange.done.set()
        if exchange.response is None:
            return web.Response(status=500, text="the application sent no response")
        return exchange.response

    return handle


class _Exchange:
    """One request's ASGI side."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self.body_done = False
        self.done = asyncio.Event()

    def scope(self) -> dict[str, Any]:
        request = self.request
        host, port = request.url.host, request.url.port
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": f"{request.version.major}.{request.version.minor}",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.split("?", 1)[0].encode(),
            "query_string": request.query_string.encode(),
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.raw_headers],
            "client": (request.remote or "unknown", 0),
            "server": (host, port) if host else None,
        }

    async def receive(self) -> Message:
        if not self.body_done:
            chunk = await self.request.content.readany()
            self.body_done = self.request.content.at_eof()
            return {"type": "http.request", "body": chunk, "more_body": not self.body_done}
        while not self.done.is_set() and not self._gone():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), DISCONNECT_POLL_S)
        return {"type": "http.disconnect"}

    def _gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", ()):
                response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            self.response = response
            await response.prepare(self.request)
        elif kind == "http.response.body":
            if self.response is None:
                raise RuntimeError("ASGI body before http.response.start")
            body = message.get("body", b"")
            if body:
                await self.response.write(body)
            if not message.get("more_body", False):
                await self.response.write_eof()
                self.done.set()
