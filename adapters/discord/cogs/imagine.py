"""/imagine with typed options named as in the shell (prompt, negative, seed, steps, width,
height, count, guidance), handed to the core as they are. Ranges here only guide Discord's
form; the core checks the configured limits and words the errors."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.cogs.base import refuse_elsewhere
from adapters.discord.context import DiscordContext
from adapters.discord.images import imagine as imagine_pictures
from core.image.options import MAX_SEED, MIN_SIZE, ImagineOptions


class ImagineCog(commands.Cog):
    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    @app_commands.command(name="imagine", description="Make pictures from a description")
    @app_commands.describe(
        prompt="What to draw",
        negative="What to keep out of the picture",
        seed="Reuse a seed to remake a picture (shown in every caption)",
        steps="Denoising steps",
        width="Width in pixels (a multiple of 8)",
        height="Height in pixels (a multiple of 8)",
        count="How many pictures",
        guidance="Guidance (CFG) scale; turbo models want 0",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: str,
        negative: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        width: app_commands.Range[int, MIN_SIZE, 8192] | None = None,
        height: app_commands.Range[int, MIN_SIZE, 8192] | None = None,
        count: app_commands.Range[int, 1, 64] | None = None,
        guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
    ) -> None:
        if await refuse_elsewhere(self.context, interaction):
            return
        options = ImagineOptions(
            prompt=prompt,
            negative=negative or "",
            seed=seed,
            steps=steps,
            width=width,
            height=height,
            guidance=guidance,
            count=count,
        )
        await imagine_pictures(self.context, interaction, options)
