"""/imagine, built from the core's form (`core.image.options.imagine_form`): its fields'
ranges, choices and descriptions come from the [image] settings that validate them, so
Discord offers exactly what Muse accepts, and publishing them again after the settings
changed is what sync.py does. The typed values go to the core as they are; what a form
cannot say (a multiple of 8) the core checks, and words in the form's own terms.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Optional

import discord
from discord import app_commands

from adapters.discord.cogs.base import refuse_elsewhere
from adapters.discord.context import DiscordContext
from adapters.discord.images import imagine as imagine_pictures
from adapters.discord.translate import files_of_attachment
from core.image.options import FormField, ImagineOptions, imagine_form

MAX_DESCRIPTION = 100  # characters of an option's description
MAX_STRING = 6000  # characters a string option may be limited to
REFERENCE = "A picture to start from (image-to-image; strength says how far to go from it)"


def _annotation(field: FormField) -> Any:
    """The type discord.py reads an option from: a Range, or a Literal of the choices."""
    kind: Any
    if field.choices:
        kind = Literal[field.choices]  # type: ignore[valid-type]
    elif field.type is str:
        most = min(field.max_length or MAX_STRING, MAX_STRING)
        kind = app_commands.Range[str, 1, most]
    else:
        kind = app_commands.Range[field.type, field.min_value, field.max_value]  # type: ignore[misc]
    return kind if field.required else Optional[kind]  # noqa: UP045 (a runtime object)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def imagine_command(context: DiscordContext) -> app_commands.Command[Any, Any, None]:
    settings = context.muse.image_settings
    assert settings is not None, "/imagine without an image model"
    form = imagine_form(settings)

    async def imagine(
        interaction: discord.Interaction,
        reference: discord.Attachment | None = None,
        **values: Any,
    ) -> None:
        if await refuse_elsewhere(context, interaction):
            return
        options = ImagineOptions(
            prompt=values["prompt"],
            negative=values.get("negative") or "",
            seed=values.get("seed"),
            steps=values.get("steps"),
            width=values.get("width"),
            height=values.get("height"),
            guidance=values.get("guidance"),
            count=values.get("count"),
            strength=values.get("strength"),
            reference=reference.url if reference is not None else "",
        )
        files = (files_of_attachment(reference),) if reference is not None else ()
        await imagine_pictures(context, interaction, options, files)

    # discord.py reads a command's options from its callback's signature: this one's is
    # the form's.
    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for field in form:
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if field.required else None,
                annotation=_annotation(field),
            )
        )
    # A picture to start from (image-to-image); Discord's attachment option uploads it.
    parameters.append(
        inspect.Parameter(
            "reference",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Optional[discord.Attachment],  # noqa: UP045 (a runtime object)
        )
    )
    imagine.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    descriptions = {f.name: _clip(f.description) for f in form}
    descriptions["reference"] = REFERENCE
    app_commands.describe(**descriptions)(imagine)
    return app_commands.Command(
        name="imagine", description="Make pictures from a description", callback=imagine
    )
