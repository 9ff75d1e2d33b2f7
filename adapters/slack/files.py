"""Where Muse may download Slack files from, and how: `url_private` on Slack's file host
with the bot token as a bearer token (Slack's documented way; the app needs the
`files:read` scope). Slack answers a request it will not serve with its HTML sign-in page
rather than an error status, so an HTML answer is refused with the likely cause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from adapters.common.download import HostFetcher, origin
from adapters.slack.settings import SLACK_API_URL, SlackSettings
from core.chat.events import IncomingFile
from core.files.fetch import FetchError

__all__ = ["FILE_ORIGINS", "SlackFetcher", "files_of"]

FILE_ORIGINS = ("https://files.slack.com",)


class SlackFetcher(HostFetcher):
    def __init__(self, settings: SlackSettings) -> None:
        origins = list(FILE_ORIGINS)
        if origin(settings.api_url) != origin(SLACK_API_URL):
            origins.append(origin(settings.api_url))
        token = settings.bot_token.get_secret_value().strip()
        super().__init__(origins, {"Authorization": f"Bearer {token}"}, what="Slack")

    def check(self, resp: aiohttp.ClientResponse) -> None:
        super().check(resp)
        if resp.content_type == "text/html":
            raise FetchError(
                "Slack sent its sign-in page instead of the file (does the app have the "
                "files:read scope?)"
            )


def files_of(event: Mapping[str, Any]) -> tuple[IncomingFile, ...]:
    """The files shared with a message event, as references to their `url_private`."""
    found = []
    for f in event.get("files") or []:
        url = f.get("url_private")
        if not url:  # e.g. a file Slack is still processing, or one hidden from the app
            continue
        name = str(f.get("name") or f.get("title") or f.get("id") or "file")
        found.append(IncomingFile(name, str(url), f.get("size"), str(f.get("mimetype") or "")))
    return tuple(found)
