"""The two ways Slack reaches Muse, both on the bot's own event loop.

HTTP mode: Bolt's aiohttp adapter (request -> `AsyncApp.async_dispatch` -> response)
inside our own aiohttp web server (`AsyncSlackAppServer.start()` would run and own the
loop). Bolt verifies each request's signature and timestamp and answers 401 otherwise.
Socket Mode: Bolt's handler opens a WebSocket with the app-level token; no public URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from adapters.slack.settings import SlackSettings

log = logging.getLogger(__name__)


async def serve_http(
    app: AsyncApp, settings: SlackSettings, on_listening: Callable[[str], None]
) -> None:
    """Serve until cancelled; `on_listening` gets the URL actually bound (port 0 = any)."""

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(settings.http_path, events)
    runner = web.AppRunner(web_app, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}{settings.http_path}"
        log.info("slack: listening for events at %s", url)
        on_listening(url)
        await asyncio.Event().wait()  # until cancelled
    finally:
        await runner.cleanup()


async def serve_socket(
    app: AsyncApp, settings: SlackSettings, on_connected: Callable[[], None]
) -> None:
    """Connect (reconnecting when Slack asks) and serve until cancelled."""
    handler = AsyncSocketModeHandler(app, app_token=settings.app_token.get_secret_value().strip())
    try:
        await handler.connect_async()
        log.info("slack: connected in Socket Mode")
        on_connected()
        await asyncio.Event().wait()
    finally:
        await handler.close_async()
