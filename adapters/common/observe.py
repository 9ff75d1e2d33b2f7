"""What the platforms' HTTP APIs answer, for the metrics: each failed call is counted by
platform and code (`core.runtime.metrics.platform_api_error`), rate limits (429) included.

Discord: discord.py takes an aiohttp `TraceConfig` (`http_trace`) for its REST session, which
sees every response, including the 429s it then waits out by itself. Slack: see
adapters/slack/observe.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp

from core.runtime import metrics

__all__ = ["api_error_trace"]


def api_error_trace(platform: str) -> aiohttp.TraceConfig:
    """A TraceConfig that counts `platform`'s failed HTTP calls (status >= 400, or no answer)."""

    async def on_end(_session: Any, _context: SimpleNamespace, params: Any) -> None:
        if params.response.status >= 400:
            metrics.platform_api_error(platform, params.response.status)

    async def on_exception(_session: Any, _context: SimpleNamespace, params: Any) -> None:
        metrics.platform_api_error(platform, "network")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_exception)
    return trace
