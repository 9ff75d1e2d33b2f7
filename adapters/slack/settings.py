"""[slack] settings: tokens, Socket Mode or HTTP, where the Web API is, how replies stream."""

from __future__ import annotations

from dataclasses import dataclass, field

SLACK_API_URL = "https://slack.com/api/"
MODES = ["socket", "http"]


@dataclass
class SlackSettings:
    """[slack] — the Slack app (admins are set in [policy] as "slack:<user id>")."""

    bot_token: str = field(
        default="",
        metadata={
            "doc": "bot token (xoxb-…) from the app's OAuth & Permissions page; "
            "empty = Slack is off",
            "env": "SLACK_BOT_TOKEN",
            "secret": True,
        },
    )
    app_token: str = field(
        default="",
        metadata={
            "doc": "app-level token (xapp-…, scope connections:write); needed in socket mode",
            "env": "SLACK_APP_TOKEN",
            "secret": True,
        },
    )
    signing_secret: str = field(
        default="",
        metadata={
            "doc": "signing secret from Basic Information; needed in http mode",
            "env": "SLACK_SIGNING_SECRET",
            "secret": True,
        },
    )
    mode: str = field(
        default="socket",
        metadata={
            "doc": "socket: Muse connects out to Slack (no public URL needed); http: Slack "
            "posts events to Muse's own web server",
            "choices": MODES,
        },
    )
    http_host: str = field(
        default="0.0.0.0", metadata={"doc": "http mode: address the web server listens on"}
    )
    http_port: int = field(
        default=3000,
        metadata={"doc": "http mode: port (0 = any free port)", "min": 0, "max": 65535},
    )
    http_path: str = field(
        default="/slack/events",
        metadata={"doc": "http mode: path for events, slash commands and interactivity"},
    )
    api_url: str = field(
        default=SLACK_API_URL,
        metadata={"doc": "Web API base (ends with /); point it at a proxy or a local stand-in"},
    )
    respond_to_dms: bool = field(
        default=True, metadata={"doc": "answer direct messages (every DM is addressed to Muse)"}
    )
    respond_to_bots: bool = field(
        default=False,
        metadata={"doc": "answer other bots' messages (Muse never answers itself)"},
    )
    update_interval_seconds: float = field(
        default=1.2,
        metadata={
            "doc": "least time between two posts or edits Muse makes in one channel while "
            "streaming (chat.update is Tier 3, about 50 a minute)",
            "min": 0.0,
            "max": 60.0,
        },
    )
    max_message_chars: int = field(
        default=3900,
        metadata={
            "doc": "longest message text; longer replies continue in further thread messages "
            "(Slack advises at most 4,000)",
            "min": 200,
            "max": 4000,
        },
    )


def validate_slack_settings(settings: SlackSettings) -> list[str]:
    """The chosen mode's credentials are present (when Slack is on at all); URL and path shape."""
    problems = []
    if settings.bot_token.strip():
        if settings.mode == "socket" and not settings.app_token.strip():
            problems.append(
                "[slack] mode = 'socket' needs app_token (or SLACK_APP_TOKEN): an app-level "
                "token with the connections:write scope"
            )
        if settings.mode == "http" and not settings.signing_secret.strip():
            problems.append("[slack] mode = 'http' needs signing_secret (or SLACK_SIGNING_SECRET)")
    if not settings.api_url.startswith(("https://", "http://")):
        problems.append(f"[slack] api_url = {settings.api_url!r}: must start with https://")
    if not settings.http_path.startswith("/"):
        problems.append(f"[slack] http_path = {settings.http_path!r}: must start with /")
    return problems
