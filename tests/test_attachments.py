"""Pictures and files posted with a mention, end to end through the Discord and Slack
stand-ins (the real discord.py / slack_bolt): downloaded from the platform's own host
(Slack with the bot token), pictures to the tiny vision model, documents into the prompt,
a specific message for each file Muse will not read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import load_vision
from bot.config import Config
from bot.features import register_commands
from core.chat import recall
from core.chat.events import IncomingFile
from core.chat.prompt import Turn
from core.chat.service import Muse
from core.fair_use.settings import LimitSettings
from core.files.fetch import FetchError
from core.files.settings import FileSettings
from core.memory.store import Memory
from core.runtime.device import DeviceArbiter
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from core.text.vision import VisionEngine
from core.text.vision_settings import VisionSettings
from tests.conftest_vision import (  # noqa: F401
    ModelInputs,
    model_inputs,
    tiny_vision_dir,
    vision_engine,
)
from tests.file_samples import CODE, locked_pdf, make_pdf, png
from tests.helpers import RecordingReply, answered, eventually, msg
from tests.standins.discord_api import DiscordStandin
from tests.standins.discord_payloads import GENERAL_CHANNEL_ID
from tests.standins.slack_api import BOT_TOKEN, SlackApiStandin
from tests.standins.slack_signing import ALICE, CHANNEL_ID, mention, message_event
from tests.test_discord_adapter import GENERAL_KEY, MENTION
from tests.test_discord_adapter import running as discord_running
from tests.test_slack_adapter import key as slack_key
from tests.test_slack_adapter import running as slack_running

MB = 1024 * 1024
ATTACHMENT = r"/attachments/\d+/%s"


def make_muse(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    vision: VisionEngine | None = None,
    **kwargs: Any,
) -> Muse:
    core = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=text_settings,
        limits=LimitSettings(requests_per_minute=0, notify_wait_seconds=3600),
        vision_engine=vision,
        vision_settings=vision.settings if vision is not None else VisionSettings(),
        **kwargs,
    )
    register_commands(core)
    return core


class Pieces:
    """Records what the vision engine streams (the reply grows piece by piece)."""

    def __init__(self, engine: VisionEngine) -> None:
        self.seen: list[list[str]] = []
        original = engine.stream

        async def stream(inputs: Any, gen: Any) -> AsyncIterator[str]:
            got: list[str] = []
            self.seen.append(got)
            async for piece in original(inputs, gen):
                got.append(piece)
                yield piece

        engine.stream = stream  # type: ignore[method-assign]


class Prompts(list[str]):
    """The new user turn of every text prompt the core builds (files included); and in
    `histories`, the history turns each one had."""

    histories: list[list[str]]


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Prompts:
    seen = Prompts()
    seen.histories = []
    original = recall.assemble

    def spy(tokenizer: Any, persona: str, summary: Any, items: Any, new: Turn, *args: Any) -> Any:
        seen.append(new.content)
        seen.histories.append([item.content for item in items if item.is_turn])
        return original(tokenizer, persona, summary, items, new, *args)

    monkeypatch.setattr(recall, "assemble", spy)
    return seen


async def bot_said(standin: DiscordStandin, count: int) -> list[str]:
    async def check() -> list[str]:
        said = [m["content"] for m in standin.bot_messages(GENERAL_CHANNEL_ID)]
        return said if len(said) >= count else []

    return await eventually(check)


# -- Discord -----------------------------------------------------------------------------------


async def test_discord_picture_is_downloaded_seen_answered_and_remembered(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    vision_engine: VisionEngine,  # noqa: F811
    model_inputs: ModelInputs,  # noqa: F811
    standin: DiscordStandin,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, vision_engine)
    pieces = Pieces(vision_engine)
    picture = png(96, 64)
    async with discord_running(muse, standin):
        car = standin.add_attachment("car.png", picture, "image/png")
        text = f"{MENTION} what is in this picture?"
        await standin.send_user_message(GENERAL_CHANNEL_ID, text, attachments=[car])
        [reply] = await answered(muse, GENERAL_KEY)

        # Downloaded from the stand-in's CDN path, once; pixel values reached the model.
        [download] = standin.calls("GET", ATTACHMENT % "car.png")
        assert download.status == 200 and "Authorization" not in download.headers
        [pixels] = model_inputs.pixel_values
        assert tuple(pixels.shape) == (1, 3, 32, 32)  # the tiny model's processor size
        # The reply streamed in pieces and the post ends as exactly what was stored.
        assert len(pieces.seen[0]) > 1 and reply.content == "".join(pieces.seen[0])
        assert standin.messages[int(reply.platform_message_id)]["content"] == reply.content

        # Memory keeps a reference (the URL), never the bytes; export shows it.
        [asked, _] = await muse.memory.export(GENERAL_KEY)
        assert asked["attachments"] == [
            {
                "name": "car.png",
                "kind": "image",
                "url": car["url"],
                "size": len(picture),
                "text": "",
            }
        ]

        # A follow-up without a picture still shows the model the picture (from the cache).
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} and what colour is it?")
        await answered(muse, GENERAL_KEY, 2)
        assert vision_engine.calls == 2 and len(model_inputs.pixel_values) == 2
        assert len(standin.calls("GET", ATTACHMENT % "car.png")) == 1


async def test_a_text_only_model_says_it_cannot_see(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    tiny_text_dir: Path,
    standin: DiscordStandin,
) -> None:
    # The configured [vision] model is the tiny *text* model: loading says it reads text only.
    config = Config(vision=VisionSettings(model=str(tiny_text_dir)))
    vision, why = await load_vision(config, DeviceArbiter(), tiny=False)
    assert vision is None
    muse = make_muse(memory, text_engine, text_settings, vision_missing=why)
    passes = text_engine.forward_passes
    async with discord_running(muse, standin):
        car = standin.add_attachment("car.png", png(), "image/png")
        await standin.send_user_message(
            GENERAL_CHANNEL_ID, f"{MENTION} what car?", attachments=[car]
        )
        [said] = await bot_said(standin, 1)
    assert said.startswith("I can't see pictures: my [vision] model")
    assert "reads text only" in said and "[vision] model" in said
    assert text_engine.forward_passes == passes  # no answer as if it had seen it
    assert [m for m in await muse.memory.recent(GENERAL_KEY) if m.role == "assistant"] == []


async def test_discord_pdf_and_code_are_read_into_the_prompt(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    standin: DiscordStandin,
    prompts: Prompts,
) -> None:
    muse = make_muse(memory, text_engine, text_settings)
    pdf = make_pdf(["the red dragon sings", "the blue sea is calm", "a third page"])
    async with discord_running(muse, standin):
        files = [
            standin.add_attachment("notes.pdf", pdf, "application/pdf"),
            standin.add_attachment("greet.py", CODE.encode(), "text/x-python"),
        ]
        text = f"{MENTION} what do these say?"
        await standin.send_user_message(GENERAL_CHANNEL_ID, text, attachments=files)
        await answered(muse, GENERAL_KEY)
    [prompt] = prompts
    assert prompt.startswith("what do these say?")
    assert "[file notes.pdf]\n[page 1]\nthe red dragon sings" in prompt
    assert "[page 2]\nthe blue sea is calm" in prompt
    assert f"[file greet.py]\n{CODE}\n[end of greet.py]" in prompt
    # The documents' text is remembered with the message, for follow-up questions.
    [asked, _] = await muse.memory.export(GENERAL_KEY)
    assert asked["content"] == "what do these say?"
    assert [(a["name"], a["kind"]) for a in asked["attachments"]] == [
        ("notes.pdf", "pdf"),
        ("greet.py", "text"),
    ]
    assert "the blue sea is calm" in asked["attachments"][0]["text"]


async def test_what_was_cut_is_said_and_follow_ups_reread_the_stored_text(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    standin: DiscordStandin,
    prompts: Prompts,
) -> None:
    limits = FileSettings(max_pdf_pages=2, max_file_tokens=40)
    muse = make_muse(memory, text_engine, text_settings, file_settings=limits)
    pdf = make_pdf(["the red dragon sings"] * 3)
    long_text = ("the quiet river " * 30).encode()
    async with discord_running(muse, standin):
        files = [
            standin.add_attachment("long.pdf", pdf, "application/pdf"),
            standin.add_attachment("river.md", long_text, "text/markdown"),
        ]
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} read", attachments=files)
        [reply] = await answered(muse, GENERAL_KEY)
        assert reply.content.startswith("(Note: long.pdf: read pages 1–2 of 3 ")
        assert "river.md was cut after" in reply.content and "to fit my prompt" in reply.content
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} and the river?")
        await answered(muse, GENERAL_KEY, 2)
    assert "[page 3]" not in prompts[0] and "[page 2]" in prompts[0]
    asked_first = prompts.histories[1][0]
    assert asked_first.startswith("read\n\n[file long.pdf]\n[page 1]")
    assert "[file river.md]\nthe quiet river" in asked_first
    # The follow-up's prompt has the file text again, from memory: nothing was downloaded.
    assert len(standin.calls("GET", ATTACHMENT % "river.md")) == 1
    assert "[file long.pdf]" not in prompts[1]  # the new turn is only the new message
    assert prompts[1] == "and the river?"


@pytest.mark.parametrize(
    ("name", "data", "declared", "message"),
    [
        ("huge.zip", b"PK\x03\x04", 50 * MB, "huge.zip is 50.0 MB; the limit is 20 MB"),
        ("photo.pdf", png(), None, "photo.pdf is named like a PDF, but its content is a PNG"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type", None, "broken.pdf is a damaged PDF"),
        ("locked.pdf", locked_pdf(["secret plans"]), None, "locked.pdf is password-protected"),
        ("tool.exe", b"MZ\x90\x00" + bytes(64), None, "I can't read tool.exe: it is a Windows"),
    ],
)
async def test_each_unreadable_file_gets_its_own_message(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    standin: DiscordStandin,
    name: str,
    data: bytes,
    declared: int | None,
    message: str,
) -> None:
    muse = make_muse(memory, text_engine, text_settings)
    passes = text_engine.forward_passes
    async with discord_running(muse, standin):
        file = standin.add_attachment(name, data, "application/pdf")
        if declared is not None:
            file["size"] = declared  # Discord says how big it is: nothing is downloaded
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} read", attachments=[file])
        [said] = await bot_said(standin, 1)
    assert said.startswith(message), said
    assert text_engine.forward_passes == passes
    downloads = standin.calls("GET", ATTACHMENT % name.replace(".", r"\."))
    assert len(downloads) == (0 if declared is not None else 1)


async def test_a_file_larger_than_it_claims_is_cut_off_while_downloading(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    standin: DiscordStandin,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, file_settings=FileSettings(max_file_mb=1))
    async with discord_running(muse, standin):
        file = standin.add_attachment("big.txt", b"a" * (3 * MB), "text/plain")
        file["size"] = 10  # a lie: the download itself is capped
        await standin.send_user_message(GENERAL_CHANNEL_ID, f"{MENTION} read", attachments=[file])
        [said] = await bot_said(standin, 1)
    assert said == "big.txt is over the 1 MB limit, so I stopped downloading it."


# -- Slack -------------------------------------------------------------------------------------


async def test_slack_picture_is_fetched_with_the_bot_token_and_seen(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    vision_engine: VisionEngine,  # noqa: F811
    model_inputs: ModelInputs,  # noqa: F811
    slack: SlackApiStandin,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, vision_engine)
    pieces = Pieces(vision_engine)
    async with slack_running(muse, slack) as r:
        car = slack.add_user_file("car.png", png(), "image/png")
        event = message_event(CHANNEL_ID, ALICE, f"{mention()} what is this?", files=[car])
        await r.event(event)
        [reply] = await answered(muse, slack_key())
    [(path, headers)] = slack.downloads
    assert path == f"/files-pri/{car['id']}/car.png"
    assert headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert [tuple(p.shape) for p in model_inputs.pixel_values] == [(1, 3, 32, 32)]
    assert len(pieces.seen[0]) > 1 and reply.content == "".join(pieces.seen[0])
    assert slack.calls("chat.update")  # the reply grew by edits


async def test_slack_files_elsewhere_or_refused_are_explained(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    slack: SlackApiStandin,
    prompts: Prompts,
) -> None:
    muse = make_muse(memory, text_engine, text_settings)
    async with slack_running(muse, slack) as r:
        code = slack.add_user_file("greet.py", CODE.encode(), "text/x-python")
        await r.event(message_event(CHANNEL_ID, ALICE, f"{mention()} review", files=[code]))
        await eventually(lambda: _true(bool(prompts)))
        assert f"[file greet.py]\n{CODE}" in prompts[0]

        # A file URL on another host: refused before any request is made.
        elsewhere = {**code, "name": "x.py", "url_private": "https://example.com/x.py"}
        await r.event(message_event(CHANNEL_ID, ALICE, f"{mention()} this", files=[elsewhere]))
        # Slack's sign-in page instead of the file (a token without files:read).
        slack.bot_token = "xoxb-another-token"
        await r.event(message_event(CHANNEL_ID, ALICE, f"{mention()} again", files=[code]))
        said = await slack.wait_for("chat.postEphemeral", 2)
    texts = [c.params["text"] for c in said]
    assert texts[0] == "I couldn't download x.py: it is not stored on Slack's own servers"
    assert texts[1].startswith("I couldn't download greet.py: Slack sent its sign-in page")
    assert "files:read" in texts[1]
    assert [p for p, _ in slack.downloads].count(f"/files-pri/{code['id']}/greet.py") == 2


async def _true(value: bool) -> bool:
    return value


async def test_a_vision_model_that_is_off_or_cannot_load_leaves_chat_running(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "no-such-model")
    config = Config(vision=VisionSettings(model=missing))
    assert await load_vision(config, DeviceArbiter(), tiny=False) == (
        None,
        f"my [vision] model ({missing}) could not be loaded",
    )
    off = Config(vision=VisionSettings(enabled=False))
    assert await load_vision(off, DeviceArbiter(), tiny=False) == (
        None,
        "[vision] is turned off in my config",
    )


async def test_pictures_over_the_cap_are_left_out_and_said_and_a_dead_link_is_survived(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    vision_engine: VisionEngine,  # noqa: F811
    model_inputs: ModelInputs,  # noqa: F811
) -> None:
    vision_engine.settings = VisionSettings(model="tiny", max_new_tokens=4, max_pictures=2)
    muse = make_muse(
        memory, text_engine, text_settings, vision_engine, file_settings=FileSettings(cache_mb=0)
    )
    store = {f"https://files.test/{i}.png": png(40 + i, 40) for i in range(3)}

    async def fetch(url: str, max_bytes: int) -> bytes:
        if url not in store:
            raise FetchError("gone (HTTP 404)")
        return store[url]

    muse.fetchers["test"] = fetch
    files = tuple(IncomingFile(f"{i}.png", url) for i, url in enumerate(store))
    reply = RecordingReply()
    await muse.handle_message(msg("three cars", attachments=files), reply)
    assert reply.sent[0].startswith("(Note: I looked at the first 2 of 3 pictures.)\n\n")
    assert [tuple(p.shape) for p in model_inputs.pixel_values] == [(2, 3, 32, 32)]
    # The links die (no cache): the follow-up says so and is answered from the text.
    store.clear()
    passes = text_engine.forward_passes
    await muse.handle_message(msg("which was red?"), reply)
    assert reply.sent[1].startswith(  # the newest two pictures of the history
        "(Note: I could not look at 1.png again: I couldn't download 1.png: gone (HTTP 404) "
        "I could not look at 2.png again: I couldn't download 2.png: gone (HTTP 404))\n\n"
    )
    assert text_engine.forward_passes > passes and vision_engine.calls == 1
