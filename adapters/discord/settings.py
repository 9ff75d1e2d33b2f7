"""[discord] settings: token, where the API is, where Muse answers, how it streams."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from adapters.common.settings import ApiUrl, read_secret_files

__all__ = ["DISCORD_API_URL", "DiscordSettings"]

DISCORD_API_URL = "https://discord.com/api/v10"


def _snowflake(value: str) -> str:
    if not value.strip().isdigit():
        raise ValueError(f"{value!r} is not a Discord id (digits only)")
    return value.strip()


class DiscordSettings(BaseModel):
    """[discord] — the Discord bot (admins are set in [policy] as "discord:<user id>")."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)

    @property
    def configured(self) -> bool:
        """A token is set: Muse runs on Discord."""
        return bool(self.token.get_secret_value().strip())

    token: SecretStr = Field(
        SecretStr(""),
        description="bot token from the developer portal (Bot tab); empty = Discord is off",
        json_schema_extra={"env": "DISCORD_TOKEN"},
    )
    token_file: str = Field(
        "", description="or: a file holding the token (e.g. a Docker or systemd secret)"
    )
    api_url: ApiUrl = Field(
        DISCORD_API_URL,
        description="REST API base; point it at an HTTP proxy in front of Discord (or a local "
        "stand-in); the gateway URL is then asked from that API",
    )
    allowed_guilds: list[Annotated[str, AfterValidator(_snowflake)]] = Field(
        default_factory=list,
        description="if set, Muse only works in these servers (ids as strings)",
    )
    respond_to_dms: bool = Field(
        True, description="answer direct messages (every DM is addressed to Muse)"
    )
    respond_to_bots: bool = Field(
        False, description="answer other bots' messages (Muse never answers itself)"
    )
    sharded: bool = Field(
        False, description="use AutoShardedClient (recommended above ~1,000 servers)"
    )
    shard_count: int = Field(
        0, ge=0, description="shards when sharded (0 = as many as Discord recommends)"
    )
    sync_commands: Literal["global", "guild", "off"] = Field(
        "global",
        description="slash commands sync on start: global (all servers, may take a while to "
        "show), guild (each allowed or joined server, instant), off (use /sync)",
    )
    edit_interval_seconds: float = Field(
        1.0,
        ge=0.0,
        le=60.0,
        description="least time between two messages or edits Muse makes in one channel "
        "while streaming (all replies in the channel share it)",
    )
    message_content_intent: bool = Field(
        True,
        description="ask for the privileged Message Content intent (enable it in the developer "
        "portal); without it Muse still answers mentions and DMs",
    )

    @model_validator(mode="after")
    def _read_token_file(self) -> Self:
        problems = read_secret_files(self, "token")
        if problems:
            raise ValueError("\n".join(problems))
        return self
