"""`/imagine`: parse the options, generate through the image engine, upload the PNGs."""

from __future__ import annotations

from core.chat.reply import Attachment
from core.commands.registry import CommandContext, CommandRegistry
from core.image.engine import ImageResult
from core.image.options import ImagineOptions, parse_imagine_args, usage

CAPTION_PROMPT_CHARS = 120


def _quoted_prompt(prompt: str) -> str:
    if len(prompt) > CAPTION_PROMPT_CHARS:
        prompt = prompt[: CAPTION_PROMPT_CHARS - 1].rstrip() + "…"
    return f"“{prompt}”"


def format_caption(result: ImageResult) -> str:
    """One line for any platform: prompt, the seeds (to reproduce), size, steps, blocks."""
    o = result.options
    seeds = result.seeds
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))
    parts = [_quoted_prompt(o.prompt), seed_text, o.size, f"{o.steps} step{'s' * (o.steps != 1)}"]
    if o.guidance:
        parts.append(f"guidance {o.guidance:g}")
    caption = " · ".join(parts)
    blocked = result.blocked_count
    if blocked:
        total = len(result.images)
        caption += (
            f" — {blocked} of {total} images blocked by the safety filter"
            if total > 1
            else " — blocked by the safety filter"
        )
    return caption


def attachments(result: ImageResult) -> list[Attachment]:
    """The images that may be posted (never the blocked ones)."""
    return [Attachment(im.filename, im.png) for im in result.delivered]


async def deliver(ctx: CommandContext, result: ImageResult) -> None:
    """Post a result: the images with their caption, or only a note if all were blocked."""
    files = attachments(result)
    if files:
        await ctx.reply.upload(files, format_caption(result))
    else:
        await ctx.reply.send(format_caption(result))


async def run_imagine(ctx: CommandContext, options: ImagineOptions) -> ImageResult:
    """Everything after parsing: fair use, moderation, generation, posting.

    Typed adapters (Discord) build `options` themselves and call this.
    """
    muse = ctx.muse
    msg = ctx.message
    muse.moderator.check_prompt(options.prompt, msg.session_id)
    async with muse.work(msg, ctx.reply, "image") as ticket:
        muse.admission.start(ticket)
        result = await muse.image_engine.generate(options)
        await muse.quotas.record(msg, "image", len(result.images))
    await deliver(ctx, result)
    return result


async def imagine_command(ctx: CommandContext, args: str) -> None:
    options = parse_imagine_args(ctx.message.text, ctx.muse.image_settings)
    await run_imagine(ctx, options)


def register(registry: CommandRegistry) -> None:
    registry.add(
        "imagine",
        imagine_command,
        "make pictures from a description (the seed is reported so you can remake one)",
        usage=usage().removeprefix("/imagine "),
    )
