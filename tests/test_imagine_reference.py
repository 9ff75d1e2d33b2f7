"""/imagine from a reference picture (image-to-image): the terminal's --reference path,
Discord's attachment option and 🔁 variations, a picture posted with Slack's
`@Muse /imagine`; on the tiny pipeline, through diffusers' image-to-image pipeline made
from the loaded one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.shell import REPLY_PREFIX, ShellAdapter
from bot.features import register_commands
from core.chat.service import Muse
from core.fair_use.settings import LimitSettings
from core.image.engine import ImageEngine, read_png_metadata
from core.memory.store import Memory
from core.text.engine import TextEngine
from core.text.settings import TextSettings
from tests.conftest_image import image_engine, image_settings, tiny_image_dir  # noqa: F401
from tests.file_samples import png
from tests.standins.discord_api import DiscordStandin
from tests.standins.slack_api import BOT_TOKEN, SlackApiStandin
from tests.standins.slack_signing import ALICE, CHANNEL_ID, mention, message_event
from tests.test_discord_adapter import button_ids, slash_and_wait, synced
from tests.test_discord_adapter import running as discord_running
from tests.test_slack_adapter import picture_buttons
from tests.test_slack_adapter import running as slack_running


def make_muse(
    memory: Memory, text_engine: TextEngine, text_settings: TextSettings, images: ImageEngine
) -> Muse:
    core = Muse(
        memory=memory,
        text_engine=text_engine,
        arbiter=text_engine.arbiter,
        text_settings=text_settings,
        limits=LimitSettings(requests_per_minute=0, notify_wait_seconds=3600),
        image_engine=images,
        image_settings=images.settings,
    )
    register_commands(core)
    return core


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def picture_facts(data: bytes) -> tuple[tuple[int, int], dict[str, str]]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, read_png_metadata(data)


async def test_terminal_reference_makes_a_png_of_the_asked_size_with_its_strength(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
    tmp_path: Path,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, image_engine)
    reference = tmp_path / "car.png"
    reference.write_bytes(png(50, 40, "red"))
    out = io.StringIO()
    shell = ShellAdapter(muse, stdin=io.StringIO(), stdout=out, image_dir=tmp_path / "imgs")
    line = f"/imagine a red car --reference {reference} --strength 0.5 --size 96x64 --seed 9"
    await shell.handle_line(line)
    printed = out.getvalue().splitlines()
    assert printed[0] == (
        f"{REPLY_PREFIX}“a red car” · seed 9 · 96x64 · 2 steps · from a reference, strength 0.5"
    )
    size, meta = picture_facts(read_bytes(Path(printed[1])))
    assert size == (96, 64)
    assert meta["strength"] == "0.5" and "Denoising strength: 0.5" in meta["parameters"]
    # The image-to-image pipeline is the loaded one's components, not a second copy.
    assert image_engine.img2img.unet is image_engine.pipe.unet
    assert image_engine.img2img.vae is image_engine.pipe.vae

    # Strength without a picture, and a path that is not a picture: plain messages.
    await shell.handle_line("/imagine a red car --strength 0.5")
    (tmp_path / "notes.png").write_text("not a picture")
    await shell.handle_line(f"/imagine a red car --reference {tmp_path / 'notes.png'}")
    await shell.handle_line(f"/imagine a red car --reference {tmp_path / 'missing.png'}")
    said = out.getvalue().splitlines()[2:]
    assert said[0].endswith("--strength needs a reference picture to start from (attach one).")
    assert said[1].endswith(
        "The reference picture: notes.png is not a picture: its content is UTF-8 text."
    )
    assert "The reference picture: I couldn't download missing.png" in said[2]
    assert "is not a file" in said[2]


async def test_discord_reference_option_and_variations_start_from_pictures(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
    standin: DiscordStandin,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, image_engine)
    async with discord_running(muse, standin):
        await synced(standin)
        command = standin.synced_command("imagine")
        option = next(o for o in command["options"] if o["name"] == "reference")
        assert option["type"] == 11 and not option.get("required")  # an attachment option
        car = standin.add_attachment("car.png", png(50, 40), "image/png")
        values: dict[str, Any] = {
            "prompt": "a red car",
            "reference": car,
            "strength": 0.4,
            "width": 96,
            "height": 64,
            "seed": 5,
        }
        record, [pictures] = await slash_and_wait(standin, "imagine", values)
        assert standin.calls("GET", rf"/attachments/{car['id']}/car\.png")
        [followup] = standin.calls("POST", rf"/webhooks/\d+/{record.token}")
        [(_, made)] = followup.files
        size, meta = picture_facts(made)
        assert size == (96, 64) and meta["strength"] == "0.4"
        assert "from a reference, strength 0.4" in followup.json["content"]

        # 🔁 variations: image-to-image from the picture the button is under.
        message = standin.messages[int(pictures["id"])]
        [shown] = message["attachments"]
        vary = next(b for b in button_ids(message) if ":vary:" in b)
        click = await standin.click(vary, int(message["id"]))
        await standin.wait_for_call("POST", rf"/webhooks/\d+/{click.token}")
        assert standin.calls("GET", rf"/attachments/{shown['id']}/[^/]+")
        [more] = standin.calls("POST", rf"/webhooks/\d+/{click.token}")
        assert "seeds 6, 7, 8, 9" in more.json["content"]
        for _, data in more.files:
            size, meta = picture_facts(data)
            assert size == (96, 64) and meta["strength"] == "0.6"


async def test_slack_picture_posted_with_imagine_is_the_reference(
    memory: Memory,
    text_engine: TextEngine,
    text_settings: TextSettings,
    image_engine: ImageEngine,  # noqa: F811
    slack: SlackApiStandin,
) -> None:
    muse = make_muse(memory, text_engine, text_settings, image_engine)
    async with slack_running(muse, slack) as r:
        car = slack.add_user_file("car.png", png(50, 40), "image/png")
        text = f"{mention()} /imagine a red car --strength 0.3 --size 64x96"
        await r.event(message_event(CHANNEL_ID, ALICE, text, files=[car]))
        buttons = await picture_buttons(slack, 1)
        [(path, headers)] = slack.downloads
        assert path.endswith("/car.png") and headers["Authorization"] == f"Bearer {BOT_TOKEN}"
        [shared] = slack.uploaded_files()
        assert shared.data is not None
        size, meta = picture_facts(shared.data)
        assert size == (64, 96) and meta["strength"] == "0.3"

        # 🔁 variations start from the shared picture: its url_private from files.info.
        await r.press(buttons["blocks"][0]["elements"][1]["action_id"], buttons)
        await picture_buttons(slack, 2)
    assert slack.calls("files.info")[-1].params["file"] == shared.file_id
    assert slack.downloads[-1][0] == f"/files-pri/{shared.file_id}/{shared.filename}"
    varied = [f for f in slack.uploaded_files() if f is not shared]
    assert len(varied) == 4
    for upload in varied:
        assert upload.data is not None
        size, meta = picture_facts(upload.data)
        assert size == (64, 96) and meta["strength"] == "0.6"
