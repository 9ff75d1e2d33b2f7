"""`/imagine`: parse the options, generate through the image engine, upload the PNGs; and
what the buttons under pictures mean (reroll, variations, who may delete them)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from PIL import Image

from core.chat.events import IncomingFile, Message
from core.chat.reply import Attachment
from core.commands.registry import CommandContext, CommandRegistry
from core.errors import UserError
from core.fair_use.policy import Policy
from core.files.read import FileProblem, read_picture
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
    "VARIATION_STRENGTH",
    "asked_by",
    "format_caption",
    "may_delete",
    "reference_picture",
    "register",
    "reroll",
    "run_imagine",
    "variations",
]

CAPTION_PROMPT_CHARS = 120
VARIATIONS = 4  # pictures a "variations" request makes, at most ([image] max_count caps it)
VARIATION_STRENGTH = 0.6  # how far variations of a shown picture go from it
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
    if o.reference and o.strength is not None:
        parts.append(f"from a reference, strength {o.strength:g}")
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
        reference = await reference_picture(ctx, options)
        muse.admission.start(ticket)
        result = await muse.image_engine.generate(options, reference)
        await muse.quotas.record(msg, "image", len(result.images))
    await deliver(ctx, result)
    return result


async def reference_picture(ctx: CommandContext, options: ImagineOptions) -> Image.Image | None:
    """The picture an image-to-image request starts from, fetched through the platform's
    fetcher (the same limits as files posted in chat); None for text-to-image."""
    if not options.reference:
        return None
    muse, msg = ctx.muse, ctx.message
    posted = {f.url: f for f in msg.attachments}
    name = PurePosixPath(urlsplit(options.reference).path).name or "reference"
    file = posted.get(options.reference) or IncomingFile(name, options.reference)
    largest = max(muse.image_settings.max_width * muse.image_settings.max_height / 1e6, 0.1)
    try:
        data = await muse.seeing.download(msg.platform, file)
        picture = await asyncio.to_thread(
            read_picture, file.name, data, muse.file_settings, largest
        )
    except FileProblem as exc:
        raise UserError(f"The reference picture: {exc}") from None
    return picture.image


async def imagine_command(ctx: CommandContext, args: str) -> None:
    """`/imagine …` typed as text; a picture posted with it is the reference."""
    posted = ctx.message.attachments
    reference = posted[0].url if posted else ""
    options = parse_imagine_args(ctx.message.text, ctx.muse.image_settings, reference)
    await run_imagine(ctx, options)


# -- the buttons under pictures -------------------------------------------------------------


def reroll(options: ImagineOptions) -> ImagineOptions:
    """The same request with a new random seed."""
    return dataclasses.replace(options, seed=random_seed())


def variations(options: ImagineOptions, settings: ImageSettings, shown: str = "") -> ImagineOptions:
    """More pictures of the same request, with the seeds that follow the shown ones
    (s+n, s+n+1, …), so each stays reproducible from the seed in its caption.

    `shown`: where the platform keeps the first shown picture (its URL), when the adapter
    knows it; the variations then start from that picture (image-to-image at
    VARIATION_STRENGTH), so they stay close to it rather than being new draws.
    """
    count = options.count or settings.count
    varied = dataclasses.replace(
        options,
        seed=((options.seed or 0) + count) % (MAX_SEED + 1),
        count=max(1, min(VARIATIONS, settings.max_count)),
    )
    if shown:
        varied = dataclasses.replace(varied, reference=shown, strength=VARIATION_STRENGTH)
    return varied


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
