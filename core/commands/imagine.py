"""`/imagine`: parse the options, generate through the image engine, upload the PNGs; and
what the buttons under pictures mean (reroll, variations, who may delete them)."""

from __future__ import annotations

import dataclasses

from core.chat.events import Message
from core.chat.reply import Attachment
from core.commands.registry import CommandContext, CommandRegistry
from core.fair_use.policy import Policy
from core.image.engine import ImageResult
from core.image.options import (
    MAX_SEED,
    ImageSettings,
    ImagineOptions,
    parse_imagine_args,
    random_seed,
    usage,
    validate_imagine,
)

__all__ = [
    "DELETE_REFUSED",
    "REQUEST_GONE",
    "VARIATIONS",
    "asked_by",
    "format_caption",
    "may_delete",
    "register",
    "reroll",
    "run_imagine",
    "variations",
]

CAPTION_PROMPT_CHARS = 120
VARIATIONS = 4  # pictures a "variations" request makes, at most ([image] max_count caps it)
DELETE_REFUSED = "Only the person who asked for these pictures, or an admin, can delete them."
REQUEST_GONE = "I no longer know how these pictures were made; use /imagine again."


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


def asked_by(name: str) -> str:
    """What a caption adds where the platform does not show who asked for the pictures:
    their name as plain text, which pings nobody."""
    return f" · asked by {name}"


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
    """/imagine from typed options: checked against [image] with the text parser's
    wording (before any fair-use accounting), then moderation, generation, posting.

    Typed adapters (Discord's app command, its buttons) build `options` themselves and
    call this through `Muse.run_command(..., typed=...)`.
    """
    muse = ctx.muse
    msg = ctx.message
    options = validate_imagine(options, muse.image_settings)
    muse.moderator.check_prompt(options.prompt, msg.conversation)
    async with muse.work(msg, ctx.reply, "image") as ticket:
        muse.admission.start(ticket)
        result = await muse.image_engine.generate(options)
        await muse.quotas.record(msg, "image", len(result.images))
    await deliver(ctx, result)
    return result


async def imagine_command(ctx: CommandContext, args: str) -> None:
    options = parse_imagine_args(ctx.message.text, ctx.muse.image_settings)
    await run_imagine(ctx, options)


# -- the buttons under pictures -------------------------------------------------------------


def reroll(options: ImagineOptions) -> ImagineOptions:
    """The same request with a new random seed."""
    return dataclasses.replace(options, seed=random_seed())


def variations(options: ImagineOptions, settings: ImageSettings) -> ImagineOptions:
    """More pictures of the same request, with the seeds that follow the shown ones
    (s+n, s+n+1, …), so each stays reproducible from the seed in its caption."""
    shown = options.count or settings.count
    return dataclasses.replace(
        options,
        seed=((options.seed or 0) + shown) % (MAX_SEED + 1),
        count=max(1, min(VARIATIONS, settings.max_count)),
    )


def may_delete(policy: Policy, msg: Message, requester_id: str | None) -> bool:
    """Pictures may be deleted by whoever asked for them, or an admin."""
    return msg.author_id == requester_id or policy.is_admin(msg)


def register(registry: CommandRegistry) -> None:
    registry.add(
        "imagine",
        imagine_command,
        "make pictures from a description (the seed is reported so you can remake one)",
        usage=usage().removeprefix("/imagine "),
    )
