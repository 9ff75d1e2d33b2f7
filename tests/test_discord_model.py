"""/model and /model-admin on Discord, when [[text.models]] offers a choice."""

from __future__ import annotations

import pytest

from core.chat.service import Muse
from core.commands import model as model_commands
from core.memory.store import Memory
from core.text.catalog import ModelEntry, TextModels
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.helpers import platform_muse
from tests.standins.discord_api import ADMIN_USER_ID, MANAGE_GUILD, NORMAL_USER_ID, DiscordStandin
from tests.test_discord_adapter import GENERAL_KEY, running, slash_and_wait, synced


@pytest.fixture
def mmuse(memory: Memory, text_engine: TextEngine, text_settings: TextSettings) -> Muse:
    core = platform_muse(memory, text_engine, text_settings)
    # A second name for the same engine: what is tested here is the Discord side.
    core.models = TextModels(
        ModelEntry("default", text_engine, "local"),
        {"twin": ModelEntry("twin", text_engine, "local")},
    )
    model_commands.register(core.commands)  # as register_commands does with models
    return core


async def test_members_list_models_and_only_admins_see_and_use_model_admin(
    mmuse: Muse, standin: DiscordStandin
) -> None:
    async with running(mmuse, standin):
        await synced(standin)
        admin = standin.synced_command("model-admin")
        assert admin["default_member_permissions"] == str(MANAGE_GUILD)
        assert "model" in standin.visible_commands(NORMAL_USER_ID)
        assert "model-admin" not in standin.visible_commands(NORMAL_USER_ID)

        _, [listed] = await slash_and_wait(standin, "model list", user=NORMAL_USER_ID)
        assert listed["content"].splitlines()[1].startswith("→ default: ")

        _, [refused] = await slash_and_wait(
            standin, "model-admin set", {"name": "twin"}, user=NORMAL_USER_ID
        )
        assert refused["content"] == "Only admins can use /model set."
        _, [done] = await slash_and_wait(
            standin, "model-admin set", {"name": "twin"}, user=ADMIN_USER_ID
        )
        assert done["content"].startswith("This channel now uses twin (")
        assert await mmuse.memory.get_channel_model(GENERAL_KEY) == "twin"
        _, [back] = await slash_and_wait(standin, "model-admin reset", user=ADMIN_USER_ID)
        assert back["content"].startswith("This channel uses the default model again")
        assert await mmuse.memory.get_channel_model(GENERAL_KEY) is None
