"""Muse on Discord (discord.py): chat by mention/reply/thread/DM with streamed replies,
slash commands, buttons under pictures, reactions as feedback, scheduled posts.

    from adapters.discord.adapter import DiscordAdapter
    adapter = DiscordAdapter(muse, settings)   # settings: the [discord] section
    await adapter.run()                        # serves until cancelled, then closes

This package file imports nothing, so `adapters.discord.settings` loads without
discord.py (the config loader needs only that). Modules: adapter (DiscordAdapter),
settings ([discord]), client (bot class, intents, API endpoint), translate (discord.py ->
core Message), triggers (when to answer), surfaces + reply (the core's Reply on Discord:
answers, "thinking…" and typing only for accepted work), images (/imagine and its
persistent buttons; their requests in adapters.common.image_requests), sync (slash
command publishing, when they changed), outbound (scheduled posts), cogs/ (features and
who sees them; /imagine built from the core's form).
"""
