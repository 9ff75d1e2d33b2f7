"""[discord] settings: token, where the API is, where Muse answers, how it streams."""

from __future__ import annotations

from dataclasses import dataclass, field

DISCORD_API_URL = "https://discord.com/api/v10"


@dataclass
class DiscordSettings:
    """[discord] — the Discord bot (admins are set in [policy] as "discord:<user id>")."""

    token: str = field(
        default="",
        metadata={
            "doc": "bot token from the developer portal (Bot tab); empty = Discord is off",
            "env": "DISCORD_TOKEN",
            "secret": True,
        },
    )
    api_url: str = field(
        default=DISCORD_API_URL,
        metadata={
            "doc": "REST API base; point it at an HTTP proxy in front of Discord (or a local "
            "stand-in); the gateway URL is then asked from that API"
        },
    )
    allowed_guilds: list[str] = field(
        default_factory=list,
        metadata={"doc": "if set, Muse only works in these servers (ids as strings)"},
    )
    respond_to_dms: bool = field(
        default=True, metadata={"doc": "answer direct messages (every DM is addressed to Muse)"}
    )
    respond_to_bots: bool = field(
        default=False,
        metadata={"doc": "answer other bots' messages (Muse never answers itself)"},
    )
    sharded: bool = field(
        default=False,
        metadata={"doc": "use AutoShardedClient (recommended above ~1,000 servers)"},
    )
    shard_count: int = field(
        default=0,
        metadata={"doc": "shards when sharded (0 = as many as Discord recommends)", "min": 0},
    )
    sync_commands: str = field(
        default="global",
        metadata={
            "doc": "slash commands sync on start: global (all servers, may take a while to "
            "show), guild (each allowed or joined server, instant), off (use /sync)",
            "choices": ["global", "guild", "off"],
        },
    )
    edit_interval_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "least time between two messages or edits Muse makes in one channel "
            "while streaming (all replies in the channel share it)",
            "min": 0.0,
            "max": 60.0,
        },
    )
    message_content_intent: bool = field(
        default=True,
        metadata={
            "doc": "ask for the privileged Message Content intent (enable it in the developer "
            "portal); without it Muse still answers mentions and DMs"
        },
    )


def validate_discord_settings(settings: DiscordSettings) -> list[str]:
    """Ids must be snowflakes (digits); the API URL must be http(s)."""
    problems = []
    for value in settings.allowed_guilds:
        if not value.strip().isdigit():
            problems.append(f"[discord] allowed_guilds: {value!r} is not a Discord id (digits)")
    if not settings.api_url.startswith(("https://", "http://")):
        problems.append(f"[discord] api_url = {settings.api_url!r}: must start with https://")
    return problems
