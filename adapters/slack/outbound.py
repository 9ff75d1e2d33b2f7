"""Posting without an incoming message (scheduled posts) into a channel or thread."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.context import SlackContext
from adapters.slack.reply import SlackReply, Where
from adapters.slack.translate import PLATFORM
from core.chat.reply import Target
from core.errors import UserError

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
_TS = re.compile(r"\d+\.\d+")


class SlackOutbound:
    platform = PLATFORM

    def __init__(self, context: SlackContext) -> None:
        self.context = context
        self._names: dict[str, str] = {}

    async def _channel(self, target: Target) -> dict[str, Any]:
        channel = target.channel.strip()
        if not _CHANNEL_ID.fullmatch(channel):
            raise UserError(f"Channel {channel!r} is not a Slack channel id (like C0123ABCD).")
        if target.thread and not _TS.fullmatch(target.thread):
            raise UserError(f"Thread {target.thread!r} is not a Slack message ts.")
        try:
            info = (await self.context.client.conversations_info(channel=channel))["channel"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise UserError(f"Muse cannot see the Slack channel {channel} ({error}).") from None
        team = info.get("context_team_id") or self.context.me.team_id
        if target.workspace and team and target.workspace != team:
            raise UserError(f"Slack channel {channel} is not in workspace {target.workspace}.")
        if not info.get("is_im") and info.get("is_member") is False:
            raise UserError(f"Muse is not a member of {_label(info)}: invite it with /invite.")
        return info

    async def open(self, target: Target) -> SlackReply:
        info = await self._channel(target)
        self._names[target.channel] = _label(info)
        return self.context.reply_in(Where(target.channel.strip(), target.thread or None))

    async def channel_name(self, target: Target) -> str:
        if target.channel not in self._names:
            self._names[target.channel] = _label(await self._channel(target))
        return self._names[target.channel] or target.channel


def _label(info: dict[str, Any]) -> str:
    if info.get("is_im"):
        return "direct message"
    name = info.get("name")
    return f"#{name}" if name else ""
