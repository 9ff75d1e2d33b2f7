"""What Slack sends to an app: signed HTTP requests and the payloads inside them.

Signing follows Slack's documented scheme (HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the
signing secret), computed by slack_sdk's own `SignatureVerifier`. Payload builders follow the
documented Events API / slash command shapes; ids default to the stand-in's workspace
(tests.standins.slack_api) so Bolt's auth.test answer and the events agree.

    body = json_body(event_callback(app_mention_event(CHANNEL_ID, ALICE, f"{mention()} hi")))
    await http.post(url, data=body, headers=signed_headers(SECRET, body))
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.standins.slack_api import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

SIGNING_SECRET = "muse-test-signing-secret"
VERIFICATION_TOKEN = "legacy-verification-token"  # deprecated field Slack still includes
CHANNEL_ID = "C0GENERAL1"
DM_CHANNEL_ID = "D0ALICEDM1"
ALICE = "U0ALICE001"
BOB = "U0BOB00001"

_ids = itertools.count(1)
_last_ts_us = 0


def slack_ts() -> str:
    """A fresh, increasing Slack-style message ts (`seconds.microseconds`)."""
    global _last_ts_us
    _last_ts_us = max(int(time.time() * 1_000_000), _last_ts_us + 1)
    return f"{_last_ts_us // 1_000_000}.{_last_ts_us % 1_000_000:06d}"


def mention(user_id: str = BOT_USER_ID) -> str:
    return f"<@{user_id}>"


def json_body(payload: dict[str, Any]) -> str:
    """Serialize once: the signature covers these exact characters."""
    return json.dumps(payload, separators=(",", ":"))


def signed_headers(
    secret: str,
    body: str,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
    content_type: str | None = None,
) -> dict[str, str]:
    """Headers Slack sends with `body`; `timestamp` defaults to now (older than 5 min: stale)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    if content_type is None:
        json_like = body.lstrip().startswith("{")
        content_type = "application/json" if json_like else "application/x-www-form-urlencoded"
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return headers


def event_callback(
    event: dict[str, Any],
    team_id: str = TEAM_ID,
    *,
    event_id: str | None = None,
    event_time: int | None = None,
    api_app_id: str = APP_ID,
    bot_user_id: str = BOT_USER_ID,
    authorizations: list[dict[str, Any]] | None = None,
    authed_users: list[str] | None = None,
) -> dict[str, Any]:
    """The Events API envelope (HTTP body, or Socket Mode `events_api` payload)."""
    body: dict[str, Any] = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):06d}{secrets.token_hex(3).upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": authorizations
        if authorizations is not None
        else [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(12)}",
    }
    if authed_users is not None:
        body["authed_users"] = authed_users  # legacy field, still sent to older apps
    return body


def app_mention_event(
    channel: str,
    user: str,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """`text` is sent as given: include `mention()` yourself, as Slack's text does."""
    ts = ts or slack_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
        "client_msg_id": str(uuid.uuid4()),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def message_event(
    channel: str,
    user: str | None,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    channel_type: str | None = None,
    files: list[dict[str, Any]] | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A `message` event; channel_type defaults from the id (D→im, G→group, else channel)."""
    ts = ts or slack_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": channel_type or _channel_type(channel),
        "team": team,
    }
    if user is not None:
        event["user"] = user
    if subtype is not None:
        event["subtype"] = subtype
    if bot_id is not None:
        event["bot_id"] = bot_id
    if subtype is None and bot_id is None:
        event["client_msg_id"] = str(uuid.uuid4())
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
        event.setdefault("subtype", "file_share")
    return event


def message_changed_event(
    channel: str,
    user: str,
    ts: str,
    text: str,
    previous_text: str,
    bot_id: str | None = None,
) -> dict[str, Any]:
    """What Slack echoes after an edit (including the app's own chat.update calls)."""
    event_ts = slack_ts()
    edited: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
    if bot_id is not None:
        edited["bot_id"] = bot_id
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "channel_type": _channel_type(channel),
        "ts": event_ts,
        "event_ts": event_ts,
        "message": {**edited, "edited": {"user": user, "ts": event_ts}},
        "previous_message": {**edited, "text": previous_text},
    }


def reaction_added_event(
    user: str,
    reaction: str,
    channel: str,
    item_ts: str,
    item_user: str | None = None,
    event_ts: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": item_ts},
        "event_ts": event_ts or slack_ts(),
    }
    if item_user is not None:
        event["item_user"] = item_user
    return event


def slash_command_fields(
    command: str,
    text: str,
    user_id: str = ALICE,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/commands/T0MUSE0001/1/standin",
    trigger_id: str | None = None,
    user_name: str = "alice",
    channel_name: str = "general",
) -> dict[str, str]:
    """A slash command's fields (the Socket Mode `slash_commands` payload is this dict)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{next(_ids)}.{secrets.token_hex(6)}",
    }


def slash_command_form(
    command: str,
    text: str,
    user_id: str = ALICE,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/commands/T0MUSE0001/1/standin",
    trigger_id: str | None = None,
) -> str:
    """The url-encoded HTTP body Slack POSTs for a slash command."""
    return urlencode(
        slash_command_fields(
            command, text, user_id, channel_id, team_id, response_url, trigger_id=trigger_id
        )
    )


def block_actions_payload(
    action_id: str,
    message: dict[str, Any],
    user_id: str = ALICE,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    value: str = "",
    response_url: str = "https://hooks.slack.com/actions/T0MUSE0001/1/standin",
    user_name: str = "alice",
) -> dict[str, Any]:
    """A button press (`block_actions`) on `message`, a message as the Web API stand-in
    stores it (its `blocks` name the button's block). Sent as the `payload` form field."""
    block_id = next(
        (
            block.get("block_id", "")
            for block in message.get("blocks") or []
            for element in block.get("elements") or []
            if element.get("action_id") == action_id
        ),
        "",
    )
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": f"{next(_ids)}.{secrets.token_hex(6)}",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": slack_ts(),
            }
        ],
    }


def interactive_form(payload: dict[str, Any]) -> str:
    """The url-encoded HTTP body Slack POSTs for interactivity: the JSON in `payload`."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def url_verification(challenge: str | None = None) -> dict[str, Any]:
    return {
        "token": VERIFICATION_TOKEN,
        "challenge": challenge or secrets.token_urlsafe(24),
        "type": "url_verification",
    }
