"""Slack's failed Web API calls, for the metrics (`core.runtime.metrics.platform_api_error`).

slack_sdk shows every response and every failed attempt to its retry handlers, in order,
before retrying; this one, first in the list, only looks (it never asks for a retry). Slack
answers most refusals with HTTP 200 and `ok: false`: those are counted under Slack's error
name (`channel_not_found`), others under the HTTP status (429: rate limited).
"""

from __future__ import annotations

import re

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from adapters.common.failures import network_error
from core.runtime import metrics

__all__ = ["CountErrors"]

# Slack's error names are a fixed vocabulary (`channel_not_found`); anything else that comes
# back is counted as "other", so a strange answer cannot make a new series each time.
_ERROR_NAME = re.compile(r"[a-z_]{1,60}")


class CountErrors(AsyncRetryHandler):
    def __init__(self, platform: str) -> None:
        super().__init__(max_retry_count=2**31)  # asked about every attempt
        self.platform = platform

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is not None:
            if network_error(error):
                metrics.platform_api_error(self.platform, "network")
        elif response is not None:
            body = response.body if isinstance(response.body, dict) else {}
            if response.status_code >= 400:
                metrics.platform_api_error(self.platform, response.status_code)
            elif body.get("ok") is False:
                name = str(body.get("error"))
                code = name if _ERROR_NAME.fullmatch(name) else "other"
                metrics.platform_api_error(self.platform, code)
        return False
