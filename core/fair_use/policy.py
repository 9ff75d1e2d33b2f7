"""Permissions, enforced in the core so no adapter can forget them."""

from __future__ import annotations

from core.chat.events import Message
from core.errors import PermissionDenied
from core.fair_use.settings import PolicySettings


class Policy:
    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings

    def is_admin(self, msg: Message) -> bool:
        s = self.settings
        if s.platform_admins_are_admins and msg.platform_admin:
            return True
        if f"{msg.platform}:{msg.author_id}" in s.admins:
            return True
        return any(f"{msg.platform}:{role}" in s.admin_roles for role in msg.roles)

    def may_talk(self, msg: Message) -> bool:
        """Whether Muse should answer this author in this channel at all."""
        if f"{msg.platform}:{msg.author_id}" in self.settings.blocked_users:
            return False
        return self.allowed_here(msg)

    def allowed_here(self, msg: Message) -> bool:
        """[policy] allowed_channels, on every platform. A thread is in its parent channel
        (`msg.channel`); DMs are each platform's own setting."""
        s = self.settings
        if s.allowed_channels and not msg.is_dm:
            return f"{msg.platform}:{msg.channel}" in s.allowed_channels
        return True

    def require_talk(self, msg: Message) -> None:
        """may_talk, as an error that says why (for commands, which always answer)."""
        if f"{msg.platform}:{msg.author_id}" in self.settings.blocked_users:
            raise PermissionDenied("You can't use Muse here.")
        if not self.allowed_here(msg):
            raise PermissionDenied("Muse isn't enabled in this channel.")

    def may_forget(self, msg: Message) -> bool:
        """[policy] forget: a shared channel's memory is everyone's, so by default only
        admins clear it; a direct message's is its member's own."""
        return msg.is_dm or self.settings.forget == "anyone" or self.is_admin(msg)

    def require_forget(self, msg: Message) -> None:
        if not self.may_forget(msg):
            raise PermissionDenied(
                "Only admins can use /forget in a shared channel "
                "(in a direct message with Muse, anyone can)."
            )

    def require_admin(self, msg: Message, what: str) -> None:
        if not self.is_admin(msg):
            raise PermissionDenied(f"Only admins can use {what}.")
