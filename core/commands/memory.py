"""/memory: how this channel remembers (scope, channel context, summary); admins change it."""

from __future__ import annotations

from core.commands.registry import CommandContext, CommandRegistry
from core.errors import OptionError, PermissionDenied
from core.memory.channels import Scope

__all__ = ["memory_command", "register"]

USAGE = "show | scope channel|thread | context on|off"
SCOPES: dict[str, str] = {
    "channel": "the channel shares one memory; each thread is a sub-conversation that also "
    "sees the channel",
    "thread": "every thread (and each Slack mention's thread) remembers on its own",
}


async def memory_command(ctx: CommandContext, args: str) -> None:
    recall = ctx.muse.recall
    msg = ctx.message
    action, _, value = args.strip().lower().partition(" ")
    value = value.strip()
    if action in ("", "show"):
        scope = await recall.scope(msg)
        summary = await recall.store.summary(scope.key)
        context = "on" if await recall.keeps_context(msg) else "off"
        told = f"updated {summary.revisions} time(s)" if summary else "none yet"
        await ctx.reply.send(
            f"Memory here: scope {scope.mode} ({SCOPES[scope.mode]}); channel context "
            f"{context}; summary of earlier turns: {told}.",
            ephemeral=True,
        )
        return
    if msg.is_dm:
        raise OptionError("Direct messages always remember as one conversation.")
    if not ctx.muse.policy.is_admin(msg):
        raise PermissionDenied("Only admins can change how this channel remembers.")
    if action == "scope":
        if value not in SCOPES:
            raise OptionError(f"/memory scope takes channel or thread, not {value!r}.")
        chosen: Scope = "channel" if value == "channel" else "thread"
        await recall.configure(msg, scope=chosen)
        await ctx.reply.send(f"Memory scope here is now {chosen}: {SCOPES[chosen]}.")
    elif action == "context":
        if value not in ("on", "off"):
            raise OptionError(f"/memory context takes on or off, not {value!r}.")
        await recall.configure(msg, context=value == "on")
        said = (
            "Muse now keeps messages said here, not to it, as context"
            if value == "on"
            else "Muse no longer keeps messages said here that are not addressed to it"
        )
        await ctx.reply.send(f"{said}.")
    else:
        raise OptionError(f"Unknown /memory action '{action}'; use {USAGE}.")


def register(registry: CommandRegistry) -> None:
    registry.add(
        "memory",
        memory_command,
        "how this channel remembers (scope, context: admins change them)",
        usage=USAGE,
    )
