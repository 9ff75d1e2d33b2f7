"""/schedule add | list | remove | run-now, when the core's scheduler is running.

The typed options are written back into the core command's text form; the core parses,
checks admin rights and answers. The command is for admins: Discord shows it to members
with Manage Server only, and not in DMs (schedules post into a server's channels).
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.cogs.base import run_core_command
from adapters.discord.cogs.commands import ADMINS, SERVERS_ONLY
from adapters.discord.context import DiscordContext


class ScheduleCog(commands.Cog):
    schedule = app_commands.Group(
        name="schedule",
        description="Admins: scheduled posts here",
        default_permissions=ADMINS,
        guild_only=True,
        allowed_contexts=SERVERS_ONLY,
    )

    def __init__(self, context: DiscordContext) -> None:
        self.context = context

    @schedule.command(name="add", description="Post here every day or on a cron rule")
    @app_commands.describe(
        mode="daily at a time, or a crontab rule",
        when='"HH:MM" for daily, or "M H DOM MON DOW" for cron',
        timezone="IANA timezone, e.g. Europe/Paris",
        kind="what to post",
        prompt="What to post about; {date} {weekday} {channel} {time} are filled in",
        persona="A system prompt for these posts (default: the channel's)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        mode: Literal["daily", "cron"],
        when: str,
        timezone: str,
        kind: Literal["text", "image", "text+image"],
        prompt: str,
        persona: str | None = None,
    ) -> None:
        spec = when.strip() if mode == "daily" else f'"{when.strip()}"'
        text = f"add {mode} {spec} {timezone.strip()} {kind} {prompt.strip()}"
        if persona and persona.strip():
            text += f" --persona {persona.strip()}"
        await run_core_command(self.context, interaction, "schedule", text)

    @schedule.command(name="list", description="Scheduled posts in this server")
    async def list_(self, interaction: discord.Interaction) -> None:
        await run_core_command(self.context, interaction, "schedule", "list", ephemeral=True)

    @schedule.command(name="remove", description="Remove a scheduled post")
    @app_commands.describe(number="The schedule's number from /schedule list")
    async def remove(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1]
    ) -> None:
        await run_core_command(self.context, interaction, "schedule", f"remove {number}")

    @schedule.command(name="run-now", description="Make a scheduled post now")
    @app_commands.describe(number="The schedule's number from /schedule list")
    async def run_now(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1]
    ) -> None:
        await run_core_command(
            self.context, interaction, "schedule", f"run-now {number}", ephemeral=True
        )
