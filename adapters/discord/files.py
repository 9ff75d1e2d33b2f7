"""Where Muse may download Discord attachments from: Discord's CDN hosts (and the API's
own host where [discord] api_url points at a proxy or stand-in). Attachment URLs are
signed by Discord, so no token is sent with them."""

from __future__ import annotations

from adapters.common.download import HostFetcher, origin
from adapters.discord.settings import DISCORD_API_URL, DiscordSettings

__all__ = ["CDN_ORIGINS", "discord_fetcher"]

CDN_ORIGINS = ("https://cdn.discordapp.com", "https://media.discordapp.net")


def discord_fetcher(settings: DiscordSettings) -> HostFetcher:
    origins = list(CDN_ORIGINS)
    if origin(settings.api_url) != origin(DISCORD_API_URL):
        origins.append(origin(settings.api_url))
    return HostFetcher(origins, what="Discord")
