"""Files people post: kinds by magic bytes, the download policy (hosts, redirects, caps),
the picture cache, and attachment references in memory (cascade with their message,
export, migration of an existing database)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from adapters.common.download import HostFetcher
from core.files.fetch import FetchError, FileCache, TooLarge
from core.files.read import FileProblem, read_file
from core.files.settings import FileSettings
from core.files.sniff import sniff
from core.memory.store import MIGRATIONS, Memory, StoredAttachment
from tests.file_samples import make_pdf, png


def test_kinds_come_from_the_bytes_not_the_name() -> None:
    assert sniff(png()).label == "a PNG image"
    assert sniff(b"\xff\xd8\xff\xe0....JFIF").kind == "image"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ").kind == "image"
    assert sniff(make_pdf(["x"])).kind == "pdf"
    assert sniff("naïve café ☕\n".encode()).kind == "text"
    assert sniff(b"PK\x03\x04rest").label.startswith("a ZIP archive")
    assert sniff(b"\x00\x01\x02binary").kind == "other"
    # A name that claims nothing Muse checks is read by its content.
    assert read_file("notes", b"# Title\nbody", FileSettings()).text == "# Title\nbody"
    with pytest.raises(FileProblem, match="named like a picture, but its content is a PDF"):
        read_file("scan.jpg", make_pdf(["x"]), FileSettings())


def test_huge_pictures_are_refused_before_decoding_and_others_scaled_down() -> None:
    settings = FileSettings(max_image_megapixels=1.0, vision_megapixels=0.01)
    with pytest.raises(FileProblem, match=r"is 1200×1000 pixels; the limit is 1 megapixels"):
        read_file("big.png", png(1200, 1000), settings)
    picture = read_file("ok.png", png(400, 200), settings)
    assert picture.original == (400, 200)  # type: ignore[union-attr]
    width, height = picture.image.size  # type: ignore[union-attr]
    assert width * height <= 10_000 and abs(width / height - 2) < 0.1


def test_the_cache_drops_the_least_recently_used_within_its_size() -> None:
    cache = FileCache(10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"  # a is now the most recent
    cache.put("c", b"123")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"12345", None, b"123")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def file(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query.get("n", "10")))

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/file", file)
    app.router.add_get("/away", away)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def test_downloads_stay_on_the_platforms_hosts_and_under_the_cap(server: str) -> None:
    fetch = HostFetcher([server], {"Authorization": "Bearer t"}, what="Slack")
    assert await fetch(f"{server}/file?n=10", 100) == b"x" * 10
    with pytest.raises(TooLarge):
        await fetch(f"{server}/file?n=5000", 100)
    with pytest.raises(FetchError, match="not stored on Slack's own servers"):
        await fetch("https://example.com/file", 100)
    # A redirect within the allowed hosts is followed; one elsewhere is not (the token
    # would go with it).
    assert await fetch(f"{server}/away?to=/file%3Fn%3D3", 100) == b"xxx"
    with pytest.raises(FetchError, match="not stored on Slack's own servers"):
        await fetch(f"{server}/away?to=https://example.com/file", 100)
    assert fetch.fetched == [f"{server}/file?n=10", f"{server}/file?n=3"]


async def test_references_go_with_their_message_and_are_exported(memory: Memory) -> None:
    key = "discord:g:c"
    car = StoredAttachment("car.png", "image", "https://cdn.discordapp.com/a/car.png", 123)
    doc = StoredAttachment("a.md", "text", "https://cdn.discordapp.com/a/a.md", 9, "# hi")
    first = await memory.add_message(key, "user", "look", author_id="ann")
    await memory.add_attachments(first, key, [car, doc])
    second = await memory.add_message(key, "user", "old", author_id="bob", created_at=1.0)
    await memory.add_attachments(second, key, [car])
    assert await memory.attachments_of([first, second]) == {first: [car, doc], second: [car]}
    exported = await memory.export(key)
    assert exported[0]["attachments"][1] == {
        "name": "a.md",
        "kind": "text",
        "url": doc.url,
        "size": 9,
        "text": "# hi",
    }
    await memory.prune(time.time() - 60)  # retention removes bob's old message...
    assert await memory.attachments_of([first, second]) == {first: [car, doc]}
    await memory.purge_user("discord", "ann")  # ...and a purge ann's, files included
    assert await memory.attachments_of([first]) == {}
    count = await (await memory.connection.execute("SELECT COUNT(*) FROM attachments")).fetchone()
    assert count is not None and count[0] == 0


async def test_a_database_from_before_attachments_migrates_and_keeps_its_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    # The schema this change's migration starts from (wherever merging puts it).
    before = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE attachments" in m)
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:before]:
            db.executescript(script)
        db.execute(
            "INSERT INTO messages (conversation, role, content, created_at)"
            " VALUES ('k', 'user', 'hello', 1.0)"
        )
        db.execute(f"PRAGMA user_version = {before}")
    memory = await Memory.open(path)
    try:
        [kept] = await memory.recent("k")
        assert kept.content == "hello" and memory.schema_version == len(MIGRATIONS)
        await memory.add_attachments(kept.id, "k", [StoredAttachment("a.txt", "text", "u")])
        assert (await memory.export("k"))[0]["attachments"][0]["name"] == "a.txt"
    finally:
        await memory.close()
