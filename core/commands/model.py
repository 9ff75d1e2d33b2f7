"""/model: which text model answers in this channel (list for everyone; set and reset for
admins). The choice is stored per channel (its threads follow it); the memory stays with the
conversation, so a switched model carries on from the same turns and summary."""

from __future__ import annotations

from core.chat.scope import channel_key
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import OptionError
from core.text.settings import DEFAULT_MODEL_NAME

__all__ = ["register"]


async def model_command(ctx: CommandContext, args: str) -> None:
    action, _, rest = args.strip().partition(" ")
    muse, msg = ctx.muse, ctx.message
    models = muse.models
    if models is None:
        raise OptionError("Only one text model is configured here ([[text.models]] adds more).")
    key = channel_key(msg)  # a channel's choice holds in its threads too
    chosen = await muse.memory.get_channel_model(key)
    current = models.get(chosen) or models.default
    if action in ("", "list"):
        lines = [("→ " if entry is current else "  ") + entry.label() for entry in models.entries]
        await ctx.reply.send("Text models (→ answers here):\n" + "\n".join(lines), ephemeral=True)
        return
    if action not in ("set", "reset"):
        raise OptionError(f"Unknown /model action '{action}'; use list, set NAME or reset.")
    muse.policy.require_admin(msg, f"/model {action}")
    if action == "reset":
        await muse.memory.reset_channel_model(key)
        await ctx.reply.send(
            f"This channel uses the default model again ({models.default.backend.model_name})."
        )
        return
    name = rest.strip()
    entry = models.get(name) if name else None
    if entry is None:
        raise OptionError(
            f"No text model is called '{name}'; choose one of: {', '.join(models.names)}."
            if name
            else f"/model set needs a name: {', '.join(models.names)}."
        )
    if entry.name == DEFAULT_MODEL_NAME:
        await muse.memory.reset_channel_model(key)
    else:
        await muse.memory.set_channel_model(key, entry.name, msg.author_id)
    await ctx.reply.send(f"This channel now uses {entry.name} ({entry.backend.model_name}).")


def register(registry: CommandRegistry) -> None:
    registry.add(
        "model",
        model_command,
        "which text model answers here: list; admins: set NAME, reset",
        usage="[list | set NAME | reset]",
    )
