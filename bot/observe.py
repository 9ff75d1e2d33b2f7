"""The operator's HTTP endpoint (`[metrics] listen`, off by default), on Muse's own event loop:

- `/metrics`: the Prometheus text format (core/runtime/metrics.py says what is there);
- `/livez`: 200 whenever the event loop answers (a supervisor restarts Muse when it does not);
- `/readyz`: 200 once the models are loaded (a remote text engine: its server answers and
  serves the model), the database is open and every configured platform is connected;
  503 until then (and while shutting down), with a JSON body that names what is not ready:
  `{"ready": false, "checks": {"text_model": "loading", ...}}`.

The server starts before the models load, so a probe sees "loading" rather than nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from bot.settings import CannotListen, MetricsSettings
from core.runtime import metrics

if TYPE_CHECKING:
    from core.chat.service import Muse
    from core.image.engine import ImageEngine
    from core.memory.store import Memory
    from core.text.backend import TextBackend

__all__ = ["Health", "serving"]

log = logging.getLogger(__name__)
OK = "ok"
DB_PING_SECONDS = 2.0
A = TypeVar("A")


@dataclass
class Health:
    """What /readyz looks at; the wiring fills it in as Muse starts."""

    platforms: list[str] = field(default_factory=list)  # configured: each must connect
    image_wanted: bool = False
    text: TextBackend | None = None
    image: ImageEngine | None = None
    memory: Memory | None = None
    muse: Muse | None = None
    adapters: dict[str, Any] = field(default_factory=dict)  # platform -> current adapter

    def tracking(self, platform: str, build: Callable[[], A]) -> Callable[[], A]:
        """`build`, remembering each adapter it makes (the supervisor makes a fresh one per
        attempt), so readiness asks the one running now."""

        def make() -> A:
            adapter = build()
            self.adapters[platform] = adapter
            return adapter

        return make

    async def checks(self) -> dict[str, str]:
        """Each readiness check: "ok", or what is wrong."""
        # A remote engine's answer says whether its server is reachable right now.
        found = {"text_model": await self.text.readiness() if self.text else "loading"}
        if self.muse is not None and self.muse.models is not None:
            for entry in self.muse.models.named.values():  # [[text.models]], each by name
                found[f"text_model:{entry.name}"] = await entry.backend.readiness()
        if self.image_wanted:
            found["image_model"] = await self.image.readiness() if self.image else "loading"
        found["database"] = await self._database()
        for name in self.platforms:
            adapter = self.adapters.get(name)
            found[name] = OK if adapter is not None and adapter.connected else "not connected"
        if self.muse is not None and self.muse.closing:
            found["accepting_requests"] = "shutting down"
        return found

    async def _database(self) -> str:
        if self.memory is None:
            return "not open yet"
        try:
            async with asyncio.timeout(DB_PING_SECONDS):
                async with self.memory.connection.execute("SELECT 1") as cursor:
                    await cursor.fetchone()
        except TimeoutError:
            return f"no answer within {DB_PING_SECONDS:g} s"
        except Exception as exc:
            return f"not usable: {type(exc).__name__}: {exc}"[:200]
        return OK


def build_app(health: Health) -> web.Application:
    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def livez(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        checks = await health.checks()
        ready = all(value == OK for value in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    return app


@contextlib.asynccontextmanager
async def serving(settings: MetricsSettings, health: Health) -> AsyncIterator[str | None]:
    """Serve the endpoint for the duration of the block; yields its URL (None when off).

    Raises CannotListen when the address cannot be bound (in use, not this host's)."""
    address = settings.address
    if address is None:
        yield None
        return
    runner = web.AppRunner(build_app(health), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, *address).start()
        except OSError as exc:
            raise CannotListen(
                f'[metrics] listen = "{settings.listen}": cannot listen there '
                f"({exc.strerror or exc}). Fix: choose a free port on one of this host's "
                "addresses, or leave [metrics] listen empty"
            ) from None
        host, port = runner.addresses[0][:2]
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        log.info("metrics: serving %s/metrics, /livez and /readyz", url)
        yield url
    finally:
        await runner.cleanup()
