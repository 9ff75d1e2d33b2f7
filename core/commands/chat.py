"""The chat commands every adapter offers: /help, /forget, /persona, /stats, /retry."""

from __future__ import annotations

from core.chat.events import conversation_key
from core.chat.regenerate import regenerate
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import OptionError, PermissionDenied
from core.tuning.generations import Approval

PERSONA_MAX_CHARS = 4000


async def help_command(ctx: CommandContext, args: str) -> None:
    lines = [f"/{c.name} {c.usage}".rstrip() + f" — {c.help}" for c in ctx.muse.commands]
    await ctx.reply.send("\n".join(lines), ephemeral=True)


async def forget_command(ctx: CommandContext, args: str) -> None:
    ctx.muse.policy.require_forget(ctx.message)
    scope = await ctx.muse.recall.scope(ctx.message)
    removed = await ctx.muse.recall.forget(scope)
    ctx.muse.forget_cached(scope.key)  # every model's cached prefix of it
    await ctx.reply.send(f"Forgot this conversation ({removed} messages).", ephemeral=True)


async def persona_command(ctx: CommandContext, args: str) -> None:
    action, _, rest = args.strip().partition(" ")
    key = (await ctx.muse.recall.scope(ctx.message)).key
    memory = ctx.muse.memory
    if action == "show" or not action:
        custom = await memory.get_persona(key)
        label = "custom" if custom else "default"
        if adapter := await memory.get_persona_adapter(key):
            label += f", adapter {adapter}"
        await ctx.reply.send(f"Persona ({label}): {custom or ctx.muse.text_settings.system_prompt}")
        return
    if not ctx.muse.policy.is_admin(ctx.message):
        # Named without the command: Discord offers set and reset as /persona-admin.
        raise PermissionDenied("Only admins can set or reset this conversation's persona.")
    if action == "set":
        adapter, prompt = split_adapter(rest, ctx.muse.text_engine.adapters)
        if not prompt:
            raise OptionError("/persona set needs the new system prompt after 'set'.")
        if len(prompt) > PERSONA_MAX_CHARS:
            raise OptionError(
                f"A persona can be at most {PERSONA_MAX_CHARS} characters (got {len(prompt)})."
            )
        await memory.set_persona(key, prompt, ctx.message.author_id, adapter)
        ctx.muse.forget_cached(key)
        with_adapter = f" with adapter {adapter}" if adapter else ""
        await ctx.reply.send(f"Persona set for this conversation{with_adapter}.")
    elif action == "reset":
        await memory.reset_persona(key)
        ctx.muse.forget_cached(key)
        await ctx.reply.send("Persona reset to the default.")
    else:
        raise OptionError(f"Unknown /persona action '{action}'; use set, show or reset.")


def split_adapter(rest: str, loaded: tuple[str, ...]) -> tuple[str | None, str]:
    """'--adapter NAME prompt…' -> (NAME, 'prompt…'); no flag -> (None, rest)."""
    words = rest.strip()
    if not words.startswith("--adapter"):
        return None, words
    _, _, after = words.partition(" ")
    name, _, prompt = after.strip().partition(" ")
    if not name:
        raise OptionError("--adapter needs a name: /persona set --adapter NAME <prompt>.")
    if name not in loaded:
        known = ", ".join(loaded) or "none are configured in [[text.adapters]]"
        raise OptionError(f"Unknown adapter '{name}'; known adapters: {known}.")
    return name, prompt.strip()


def approval_line(title: str, rows: list[Approval]) -> str:
    parts = [f"{r.label} {r.share:.0%} ({r.up}👍/{r.down}👎)" for r in rows]
    return f"{title}: " + " · ".join(parts)


async def stats_command(ctx: CommandContext, args: str) -> None:
    msg = ctx.message
    prefix = conversation_key(msg.platform, msg.workspace, "")
    up, down = await ctx.muse.memory.feedback_counts(prefix)
    lines = [f"Feedback here: 👍 {up} · 👎 {down}"]
    generations = ctx.muse.generations
    for by, title in (("persona", "Approval by persona"), ("model", "Approval by model")):
        if rows := await generations.approval(by, prefix):
            lines.append(approval_line(title, rows))
    await ctx.reply.send("\n".join(lines))


async def retry_command(ctx: CommandContext, args: str) -> None:
    """A new answer to the prompt of Muse's latest reply here (both are kept)."""
    await regenerate(ctx.muse, ctx.message, ctx.reply)


async def cancel_command(ctx: CommandContext, args: str) -> None:
    count = ctx.muse.cancel_requests(ctx.message)
    text = f"Cancelling {count} request(s) of yours." if count else "You have nothing to cancel."
    await ctx.reply.send(text, ephemeral=True)


def register(registry: CommandRegistry) -> None:
    registry.add("help", help_command, "list commands")
    registry.add("forget", forget_command, "clear this conversation's memory")
    registry.add(
        "persona",
        persona_command,
        "show or change this conversation's system prompt (set/reset: admins)",
        usage="show | set [--adapter NAME] <prompt> | reset",
    )
    registry.add("stats", stats_command, "👍/👎 feedback counts for this workspace")
    registry.add("cancel", cancel_command, "cancel your pending or running requests")
    registry.add(
        "retry", retry_command, "answer my latest reply's prompt again (🔄 on a reply does too)"
    )
