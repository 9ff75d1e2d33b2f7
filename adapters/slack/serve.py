"""The two ways Slack reaches Muse, both on the bot's own event loop.

HTTP mode: Bolt's aiohttp adapter (request -> `AsyncApp.async_dispatch` -> response)
inside our own aiohttp web server (`AsyncSlackAppServer.start()` would run and own the
loop). The signature is checked here, before anything parses the body: Bolt parses first
(a forged non-JSON body became a 500 with a traceback) and logs whole rejected bodies.
Then malformed bodies get a 400, and only signed, well-formed requests reach Bolt (which
checks the signature again).
Socket Mode: Bolt's handler opens a WebSocket with the app-level token; no public URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from adapters.slack.settings import SlackSettings

log = logging.getLogger(__name__)
# Slack's payloads are a few kB (a modal view is the largest); anything far bigger is not
# Slack's, and is refused before it is read into memory.
MAX_BODY_BYTES = 256 * 1024


def _signed(verifier: SignatureVerifier, body: bytes, request: web.Request) -> bool:
    try:
        return verifier.is_valid_request(body, dict(request.headers))
    except ValueError:  # a timestamp that is not a number
        return False


def _malformed(body: bytes, content_type: str) -> str:
    """Why Bolt could not parse this body, or '' if it can."""
    try:
        text = body.decode("utf-8")
        if content_type == "application/json":
            json.loads(text)
        elif "payload" in (form := parse_qs(text)):
            json.loads(form["payload"][0])  # interactivity: JSON inside a form field
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"body is not valid {'UTF-8' if isinstance(exc, UnicodeDecodeError) else 'JSON'}"
    return ""


async def serve_http(
    app: AsyncApp, settings: SlackSettings, on_listening: Callable[[str], None]
) -> None:
    """Serve until cancelled; `on_listening` gets the URL actually bound (port 0 = any)."""

    verifier = SignatureVerifier(settings.signing_secret.get_secret_value().strip())

    async def events(request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp refuses bodies over client_max_size (413)
        if not _signed(verifier, body, request):
            log.info("slack: refused an unsigned or forged request (%d bytes)", len(body))
            return web.Response(status=401, text="invalid signature")
        problem = _malformed(body, request.content_type)
        if problem:
            log.info("slack: refused a malformed request: %s", problem)
            return web.Response(status=400, text=problem)
        bolt_request = await to_bolt_request(request)
        response = await app.async_dispatch(bolt_request)
        if response.status == 404 and bolt_request.body.get("type") == "event_callback":
            # An event type nobody listens to: Slack retries anything but a 2xx.
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
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
