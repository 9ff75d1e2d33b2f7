"""[slack] settings: tokens, Socket Mode or HTTP, where the Web API is, how replies stream."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from adapters.common.settings import ApiUrl, read_secret_files

__all__ = ["SLACK_API_URL", "SlackSettings"]

SLACK_API_URL = "https://slack.com/api/"
_SECRETS = ("bot_token", "app_token", "signing_secret")


class SlackSettings(BaseModel):
    """[slack] — the Slack app (admins are set in [policy] as "slack:<user id>")."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)

    @property
    def configured(self) -> bool:
        """A bot token is set: Muse runs on Slack."""
        return bool(self.bot_token.get_secret_value().strip())

    bot_token: SecretStr = Field(
        SecretStr(""),
        description="bot token (xoxb-…) from the app's OAuth & Permissions page; "
        "empty = Slack is off",
        json_schema_extra={"env": "SLACK_BOT_TOKEN"},
    )
    bot_token_file: str = Field("", description="or: a file holding the bot token")
    app_token: SecretStr = Field(
        SecretStr(""),
        description="app-level token (xapp-…, scope connections:write); needed in socket mode",
        json_schema_extra={"env": "SLACK_APP_TOKEN"},
    )
    app_token_file: str = Field("", description="or: a file holding the app-level token")
    signing_secret: SecretStr = Field(
        SecretStr(""),
        description="signing secret from Basic Information; needed in http mode",
        json_schema_extra={"env": "SLACK_SIGNING_SECRET"},
    )
    signing_secret_file: str = Field("", description="or: a file holding the signing secret")
    mode: Literal["socket", "http"] = Field(
        "socket",
        description="socket: Muse connects out to Slack (no public URL needed); http: Slack "
        "posts events to Muse's own web server",
    )
    http_host: str = Field("0.0.0.0", description="http mode: address the web server listens on")
    http_port: int = Field(3000, ge=0, le=65535, description="http mode: port (0 = any free port)")
    http_path: str = Field(
        "/slack/events",
        description="http mode: path for events, slash commands and interactivity",
    )
    api_url: ApiUrl = Field(
        SLACK_API_URL,
        description="Web API base (ends with /); point it at a proxy or a local stand-in",
    )
    respond_to_dms: bool = Field(
        True, description="answer direct messages (every DM is addressed to Muse)"
    )
    respond_to_bots: bool = Field(
        False, description="answer other bots' messages (Muse never answers itself)"
    )
    update_interval_seconds: float = Field(
        1.2,
        ge=0.0,
        le=60.0,
        description="least time between two posts or edits Muse makes in one channel while "
        "streaming (chat.update is Tier 3, about 50 a minute)",
    )
    max_message_chars: int = Field(
        3900,
        ge=200,
        le=4000,
        description="longest message text; longer replies continue in further thread messages "
        "(Slack advises at most 4,000)",
    )

    @field_validator("http_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _credentials_for_the_mode(self) -> Self:
        """The chosen mode's credentials are present when Slack is on at all."""
        problems = read_secret_files(self, *_SECRETS)
        if not problems and self.bot_token.get_secret_value().strip():
            if self.mode == "socket" and not self.app_token.get_secret_value().strip():
                problems.append(
                    "mode = 'socket' needs app_token (or SLACK_APP_TOKEN): an app-level "
                    "token with the connections:write scope"
                )
            if self.mode == "http" and not self.signing_secret.get_secret_value().strip():
                problems.append("mode = 'http' needs signing_secret (or SLACK_SIGNING_SECRET)")
        if problems:
            raise ValueError("\n".join(problems))
        return self
