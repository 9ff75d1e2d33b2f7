"""Discord objects and gateway event payloads in their documented shapes, for tests.

One test guild ("Muse Test") with a bot, a normal user, an admin and the owner; two text
channels (#art is the parent of an existing thread) and a DM channel. Ids are snowflakes as
Discord sends them: strings in JSON, ints here.
"""

from __future__ import annotations

import datetime
import itertools
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ADMINISTRATOR",
    "ADMIN_PERMISSIONS",
    "ADMIN_ROLE_ID",
    "ADMIN_USER_ID",
    "ALL_PERMISSIONS",
    "APPLICATION_ID",
    "ART_CHANNEL_ID",
    "BOT_PERMISSIONS",
    "BOT_ROLE_ID",
    "BOT_USER_ID",
    "DM",
    "DM_CHANNEL_ID",
    "EVERYONE_PERMISSIONS",
    "EVERYONE_ROLE_ID",
    "GENERAL_CHANNEL_ID",
    "GUILD_ID",
    "GUILD_NAME",
    "GUILD_TEXT",
    "MANAGE_GUILD",
    "MEMBER_ROLES",
    "MEMBER_ROLE_ID",
    "NORMAL_USER_ID",
    "OTHER_BOT_USER_ID",
    "OWNER_USER_ID",
    "PRIVATE_THREAD",
    "PUBLIC_THREAD",
    "THREAD_ID",
    "TOKEN",
    "USERS",
    "Json",
    "application_info",
    "attachment",
    "dm_channel",
    "guild_create",
    "interaction_create_autocomplete",
    "interaction_create_component",
    "interaction_create_slash",
    "iso",
    "member",
    "message",
    "message_create",
    "permissions_for",
    "reaction_add",
    "ready",
    "roles",
    "snowflake",
    "text_channel",
    "thread_channel",
    "user",
]

Json = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
TOKEN = "muse-test-token"  # the bot token the stand-in accepts

GUILD_ID = 1_300_000_000_000_000_100
GUILD_NAME = "Muse Test"
BOT_USER_ID = 1_300_000_000_000_000_001
APPLICATION_ID = BOT_USER_ID  # Discord gives new applications their bot user's id
OWNER_USER_ID = 1_300_000_000_000_000_002
NORMAL_USER_ID = 1_300_000_000_000_000_003
ADMIN_USER_ID = 1_300_000_000_000_000_004
OTHER_BOT_USER_ID = 1_300_000_000_000_000_005

EVERYONE_ROLE_ID = GUILD_ID  # @everyone shares the guild's id
ADMIN_ROLE_ID = 1_300_000_000_000_000_201
MEMBER_ROLE_ID = 1_300_000_000_000_000_202
BOT_ROLE_ID = 1_300_000_000_000_000_203

GENERAL_CHANNEL_ID = 1_300_000_000_000_000_301
ART_CHANNEL_ID = 1_300_000_000_000_000_302  # thread parent
THREAD_ID = 1_300_000_000_000_000_303  # an active public thread in #art
DM_CHANNEL_ID = 1_300_000_000_000_000_401  # DM between the bot and the normal user

# Channel types and permission bits (Discord API reference).
GUILD_TEXT, DM, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 11, 12
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | ADD_REACTIONS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS
ADMIN_PERMISSIONS = ADMINISTRATOR | MANAGE_GUILD

# Gateway intents a MESSAGE_CREATE needs (Discord "Gateway Intents").
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15

_counter = itertools.count(1)


def snowflake() -> int:
    """A fresh, increasing snowflake for the current time."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_counter) & 0x3FFFFF)


def snowflake_at(ts: float) -> int:
    """A snowflake for a past moment (a message said then; Discord orders by id)."""
    ms = int(ts * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_counter) & 0x3FFFFF)


def iso(ts: float | None = None) -> str:
    moment = datetime.datetime.fromtimestamp(time.time() if ts is None else ts, datetime.UTC)
    return moment.isoformat()


def _user(user_id: int, username: str, global_name: str | None, bot: bool = False) -> Json:
    data: Json = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "public_flags": 0,
    }
    if bot:
        data["bot"] = True
    return data


USERS: dict[int, Json] = {
    BOT_USER_ID: {
        **_user(BOT_USER_ID, "muse", "Muse", bot=True),
        "verified": True,
        "mfa_enabled": False,
        "flags": 0,
    },
    OWNER_USER_ID: _user(OWNER_USER_ID, "owner", "Owner"),
    NORMAL_USER_ID: _user(NORMAL_USER_ID, "alice", "Alice"),
    ADMIN_USER_ID: _user(ADMIN_USER_ID, "carol", "Carol (admin)"),
    OTHER_BOT_USER_ID: _user(OTHER_BOT_USER_ID, "otherbot", "Other Bot", bot=True),
}
MEMBER_ROLES: dict[int, list[int]] = {
    BOT_USER_ID: [BOT_ROLE_ID],
    OWNER_USER_ID: [],
    NORMAL_USER_ID: [MEMBER_ROLE_ID],
    ADMIN_USER_ID: [ADMIN_ROLE_ID, MEMBER_ROLE_ID],
    OTHER_BOT_USER_ID: [],
}


def user(user_id: int) -> Json:
    """A known user object (KeyError for strangers)."""
    return dict(USERS[user_id])


def _as_user(author: int | Json) -> Json:
    return user(author) if isinstance(author, int) else dict(author)


def member(user_id: int, *, with_user: bool = True) -> Json:
    data: Json = {
        "roles": [str(r) for r in MEMBER_ROLES.get(user_id, [])],
        "nick": None,
        "avatar": None,
        "joined_at": iso(1_700_000_000),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }
    if with_user:
        data["user"] = user(user_id)
    return data


def roles() -> list[Json]:
    def role(role_id: int, name: str, perms: int, position: int, managed: bool = False) -> Json:
        data: Json = {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(perms),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if managed:
            data["tags"] = {"bot_id": str(BOT_USER_ID)}
        return data

    return [
        role(EVERYONE_ROLE_ID, "@everyone", EVERYONE_PERMISSIONS, 0),
        role(MEMBER_ROLE_ID, "muse-users", EVERYONE_PERMISSIONS, 1),
        role(BOT_ROLE_ID, "Muse", BOT_PERMISSIONS, 2, managed=True),
        role(ADMIN_ROLE_ID, "Admins", ADMIN_PERMISSIONS, 3),
    ]


def permissions_for(user_id: int) -> int:
    """Guild-level permissions as Discord computes them (no channel overwrites here)."""
    if user_id == OWNER_USER_ID:
        return ALL_PERMISSIONS
    perms = EVERYONE_PERMISSIONS
    by_id = {int(r["id"]): int(r["permissions"]) for r in roles()}
    for role_id in MEMBER_ROLES.get(user_id, []):
        perms |= by_id[role_id]
    return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


def text_channel(channel_id: int, name: str, position: int, topic: str | None = None) -> Json:
    return {
        "id": str(channel_id),
        "type": GUILD_TEXT,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None,
        "topic": topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def thread_channel(
    thread_id: int,
    parent_id: int,
    name: str,
    *,
    owner_id: int = NORMAL_USER_ID,
    thread_type: int = PUBLIC_THREAD,
    auto_archive_duration: int = 1440,
) -> Json:
    return {
        "id": str(thread_id),
        "type": thread_type,
        "guild_id": str(GUILD_ID),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": iso(),
            "locked": False,
            "create_timestamp": iso(),
            **({"invitable": True} if thread_type == PRIVATE_THREAD else {}),
        },
    }


def dm_channel(channel_id: int = DM_CHANNEL_ID, recipient_id: int = NORMAL_USER_ID) -> Json:
    return {
        "id": str(channel_id),
        "type": DM,
        "last_message_id": None,
        "recipients": [user(recipient_id)],
        "flags": 0,
    }


def guild_create() -> Json:
    """The full GUILD_CREATE payload of the test guild."""
    members = [member(uid) for uid in USERS]
    return {
        "id": str(GUILD_ID),
        "name": GUILD_NAME,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(OWNER_USER_ID),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles(),
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(GENERAL_CHANNEL_ID),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,  # no boosts: 10 MiB uploads
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "safety_alerts_channel_id": None,
        # GUILD_CREATE-only fields
        "joined_at": iso(1_700_000_000),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "voice_states": [],
        "members": members,
        "channels": [
            text_channel(GENERAL_CHANNEL_ID, "general", 0, "Talk to Muse"),
            text_channel(ART_CHANNEL_ID, "art", 1, "Images and threads"),
        ],
        "threads": [thread_channel(THREAD_ID, ART_CHANNEL_ID, "muse-thread")],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def ready(session_id: str, resume_gateway_url: str, shard: list[int] | None = None) -> Json:
    data: Json = {
        "v": 10,
        "user": user(BOT_USER_ID),
        "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "application": {"id": str(APPLICATION_ID), "flags": 1 << 18},  # GATEWAY_MESSAGE_CONTENT
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
    }
    if shard is not None:
        data["shard"] = shard
    return data


APPLICATION_FLAGS = 1 << 18  # GATEWAY_MESSAGE_CONTENT


def application_info() -> Json:
    """GET /oauth2/applications/@me."""
    return {
        "id": str(APPLICATION_ID),
        "name": "Muse",
        "icon": None,
        "description": "Muse test application",
        "rpc_origins": [],
        "bot_public": True,
        "bot_require_code_grant": False,
        "bot": user(BOT_USER_ID),
        "owner": user(OWNER_USER_ID),
        "team": None,
        "verify_key": "0" * 64,
        "flags": APPLICATION_FLAGS,
        "summary": "",
        "interactions_endpoint_url": None,
        "approximate_guild_count": 1,
    }


_MENTION = re.compile(r"<@!?(\d+)>")


def message(
    channel_id: int,
    content: str,
    *,
    author: int | Json = NORMAL_USER_ID,
    message_id: int | None = None,
    mentions: Sequence[int | Json] | None = None,
    mention_roles: Sequence[int] = (),
    message_reference: Json | None = None,
    referenced_message: Json | None = None,
    attachments: Sequence[Json] = (),
    embeds: Sequence[Json] = (),
    components: Sequence[Json] = (),
    flags: int = 0,
    webhook_id: int | None = None,
    message_type: int | None = None,
) -> Json:
    """A message object as REST returns it (no guild_id/member; see `message_create`)."""
    if mentions is None:  # Discord derives mentions from the content
        mentions = [int(m) for m in _MENTION.findall(content) if int(m) in USERS]
    data: Json = {
        "id": str(message_id or snowflake()),
        "channel_id": str(channel_id),
        "author": _as_user(author),
        "content": content,
        "timestamp": iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [_as_user(m) for m in mentions],
        "mention_roles": [str(r) for r in mention_roles],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "type": message_type if message_type is not None else (19 if message_reference else 0),
        "flags": flags,
    }
    if message_reference is not None:
        data["message_reference"] = message_reference
        data["referenced_message"] = referenced_message
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    return data


def message_create(
    channel_id: int,
    content: str,
    *,
    author: int | Json = NORMAL_USER_ID,
    guild_id: int | None = GUILD_ID,
    mentions: Sequence[int | Json] | None = None,
    message_id: int | None = None,
    message_reference: Json | int | None = None,
    referenced_message: Json | None = None,
    attachments: Sequence[Json] = (),
    embeds: Sequence[Json] = (),
    thread: Json | None = None,
    webhook_id: int | None = None,
) -> Json:
    """MESSAGE_CREATE `d` for a message someone posts.

    `channel_id` may be a thread id (messages in threads carry the thread as channel).
    Mentions default to the `<@id>` mentions in `content`, e.g. f"<@{BOT_USER_ID}> hi".
    Pass `guild_id=None` (and `channel_id=DM_CHANNEL_ID`) for a DM. `message_reference` may be
    a message id (a reply within the same channel) or a full reference object. `thread` is
    the thread started from this message, as Discord attaches it.
    """
    if isinstance(message_reference, int):
        message_reference = {
            "type": 0,
            "message_id": str(message_reference),
            "channel_id": str(channel_id),
            **({"guild_id": str(guild_id)} if guild_id else {}),
        }
    data = message(
        channel_id,
        content,
        author=author,
        message_id=message_id,
        mentions=mentions,
        message_reference=message_reference,
        referenced_message=referenced_message,
        attachments=attachments,
        embeds=embeds,
        webhook_id=webhook_id,
    )
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        author_id = int(data["author"]["id"])
        if author_id in USERS and webhook_id is None:
            data["member"] = member(author_id, with_user=False)
        for mentioned in data["mentions"]:
            if int(mentioned["id"]) in USERS:
                mentioned["member"] = member(int(mentioned["id"]), with_user=False)
    if thread is not None:
        data["thread"] = thread
    return data


def attachment(
    url: str,
    filename: str,
    size: int,
    *,
    attachment_id: int | None = None,
    content_type: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Json:
    data: Json = {
        "id": str(attachment_id or snowflake()),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "flags": 0,
    }
    if width is not None and height is not None:
        data["width"], data["height"] = width, height
    return data


# Application command option types (Discord "Application Command Object").
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER_OPTION, CHANNEL_OPTION, ROLE_OPTION, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, dict) and "filename" in value:
        return ATTACHMENT
    return STRING


def _command_options(
    values: Mapping[str, Any], schema: Sequence[Json], resolved: Json, channels: Mapping[int, Json]
) -> list[Json]:
    """Typed `data.options`; types come from the synced command when known."""
    by_name = {o["name"]: o for o in schema}
    out: list[Json] = []
    for name, value in values.items():
        if isinstance(value, dict) and "type" in value and "value" in value:
            out.append({"name": name, **value})  # already a full option object
            continue
        kind = by_name[name]["type"] if name in by_name else _infer_type(value)
        if kind == ATTACHMENT:
            resolved.setdefault("attachments", {})[value["id"]] = value
            value = value["id"]
        elif kind in (USER_OPTION, MENTIONABLE) and int(value) in USERS:
            resolved.setdefault("users", {})[str(value)] = user(int(value))
            resolved.setdefault("members", {})[str(value)] = {
                **member(int(value), with_user=False),
                "permissions": str(permissions_for(int(value))),
            }
            value = str(value)
        elif kind == CHANNEL_OPTION:
            channel = channels.get(int(value))
            if channel is not None:
                resolved.setdefault("channels", {})[str(value)] = {
                    k: channel[k] for k in ("id", "name", "type", "parent_id") if k in channel
                } | {"permissions": str(ALL_PERMISSIONS)}
            value = str(value)
        elif kind == ROLE_OPTION:
            role = next((r for r in roles() if int(r["id"]) == int(value)), None)
            if role is not None:
                resolved.setdefault("roles", {})[str(value)] = role
            value = str(value)
        out.append({"name": name, "type": kind, "value": value})
    return out


def _default_channels() -> dict[int, Json]:
    guild = guild_create()
    found = {int(c["id"]): c for c in guild["channels"] + guild["threads"]}
    found[DM_CHANNEL_ID] = dm_channel()
    return found


def _interaction_base(
    kind: int,
    *,
    channel_id: int,
    guild_id: int | None,
    user_id: int,
    interaction_id: int | None,
    token: str | None,
    channel: Json | None,
    locale: str,
) -> Json:
    if channel is None:
        channel = _default_channels().get(channel_id) or {
            "id": str(channel_id),
            "type": GUILD_TEXT if guild_id else DM,
        }
    data: Json = {
        "id": str(interaction_id or snowflake()),
        "application_id": str(APPLICATION_ID),
        "type": kind,
        "token": token or f"interaction-token-{secrets.token_hex(8)}",
        "version": 1,
        "channel_id": str(channel_id),
        "channel": {**channel, "permissions": str(permissions_for(user_id))},
        "app_permissions": str(ALL_PERMISSIONS if guild_id is None else BOT_PERMISSIONS),
        "locale": locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)} if guild_id else {"1": str(user_id)},
        "context": 0 if guild_id else 1,  # GUILD or BOT_DM
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        data["guild_locale"] = "en-US"
        data["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
        data["member"] = {**member(user_id), "permissions": str(permissions_for(user_id))}
    else:
        data["user"] = user(user_id)
    return data


def interaction_create_slash(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    channel_id: int = GENERAL_CHANNEL_ID,
    guild_id: int | None = GUILD_ID,
    user: int = NORMAL_USER_ID,
    command: Json | None = None,
    command_guild_id: int | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
    channel: Json | None = None,
    locale: str = "en-US",
    channels: Mapping[int, Json] | None = None,
) -> Json:
    """INTERACTION_CREATE `d` for a slash command (interaction type 2).

    `name` may hold subcommands: "muse image" or "muse admin reset". `options` maps option
    names to values; types come from `command` (the synced command object, e.g. from
    `DiscordStandin.synced_command`) or are inferred (str 3, bool 5, int 4, float 10,
    attachment dict 11). An option value may also be a full option object {"type", "value"}.
    `command_guild_id` marks a guild command (`data.guild_id`).
    """
    parts = name.split()
    schema: Sequence[Json] = command.get("options", []) if command else []
    resolved: Json = {}
    known_channels = channels if channels is not None else _default_channels()
    nested: list[Json] = []
    for depth, part in enumerate(parts[1:], start=1):
        sub = next((o for o in schema if o["name"] == part), None)
        kind = (
            sub["type"] if sub else (SUB_COMMAND if depth == len(parts) - 1 else SUB_COMMAND_GROUP)
        )
        schema = sub.get("options", []) if sub else []
        nested.append({"name": part, "type": kind})
    leaf = _command_options(options or {}, schema, resolved, known_channels)
    top: list[Json] = leaf
    for opt in reversed(nested):
        opt["options"] = top
        top = [opt]
    data: Json = {
        "id": str(command["id"]) if command else str(snowflake()),
        "name": parts[0],
        "type": 1,
        "options": top,
    }
    if resolved:
        data["resolved"] = resolved
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    payload = _interaction_base(
        2,
        channel_id=channel_id,
        guild_id=guild_id,
        user_id=user,
        interaction_id=interaction_id,
        token=token,
        channel=channel,
        locale=locale,
    )
    payload["data"] = data
    return payload


def interaction_create_autocomplete(
    name: str,
    options: Mapping[str, Any],
    focused: str,
    **kwargs: Any,
) -> Json:
    """INTERACTION_CREATE `d` for autocomplete (type 4); `focused` names the option typed in."""
    payload = interaction_create_slash(name, options, **kwargs)
    payload["type"] = 4
    opts = payload["data"]["options"]
    while opts and opts[0]["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
        opts = opts[0]["options"]
    for opt in opts:
        if opt["name"] == focused:
            opt["focused"] = True
            opt["value"] = str(opt["value"])  # partial input arrives as text
    payload["data"].pop("resolved", None)
    return payload


def interaction_create_component(
    custom_id: str,
    message: Json,
    *,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    user: int = NORMAL_USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
    channel: Json | None = None,
    locale: str = "en-US",
) -> Json:
    """INTERACTION_CREATE `d` for a button (component_type 2) or select menu press (type 3).

    `message` is the message object carrying the component (e.g. the bot's message as the
    stand-in stored it).
    """
    payload = _interaction_base(
        3,
        channel_id=channel_id if channel_id is not None else int(message["channel_id"]),
        guild_id=guild_id,
        user_id=user,
        interaction_id=interaction_id,
        token=token,
        channel=channel,
        locale=locale,
    )
    payload["message"] = message
    payload["data"] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        payload["data"]["values"] = list(values)
    return payload


def reaction_add(
    message_id: int,
    channel_id: int,
    user_id: int,
    emoji_name: str,
    *,
    guild_id: int | None = GUILD_ID,
    emoji_id: int | None = None,
    message_author_id: int | None = None,
) -> Json:
    """MESSAGE_REACTION_ADD `d`; `emoji_name` is the unicode emoji or a custom emoji's name."""
    data: Json = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": {"id": str(emoji_id) if emoji_id else None, "name": emoji_name},
        "burst": False,
        "type": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        if user_id in USERS:
            data["member"] = member(user_id)
    if message_author_id is not None:
        data["message_author_id"] = str(message_author_id)
    return data
