"""`muse doctor`: each check in order, one line each, the fix under what fails, exit 1 then;
run as a user runs it, against the Discord and Slack stand-ins."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import doctor
from core.memory.store import MIGRATIONS
from tests.helpers import run_muse
from tests.standins.discord_api import TOKEN, DiscordStandin
from tests.standins.slack_api import APP_TOKEN, BOT_SCOPES, BOT_TOKEN, SlackApiStandin

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["python", "torch", "gpu memory", "config", "database", "text model"]


@dataclass
class Line:
    status: str
    name: str
    detail: str
    fix: str = ""


def parse(stdout: str) -> list[Line]:
    """The check lines of doctor's output, each with the fix printed under it."""
    found: list[Line] = []
    for text in stdout.splitlines():
        if text.startswith(" ") and text.strip().startswith("fix: "):
            found[-1].fix = text.strip().removeprefix("fix: ")
        elif text[:4].strip() in ("ok", "warn", "skip", "FAIL"):
            found.append(Line(text[:4].strip(), text[6:22].strip(), text[23:]))
    return found


def by_name(lines: list[Line]) -> dict[str, Line]:
    return {line.name: line for line in lines}


async def run_doctor(
    tmp_path: Path, config: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    path = tmp_path / "muse.toml"
    path.write_text(config)
    args = ("doctor", "--config", str(path), "--db", str(tmp_path / "muse.db"))
    done = await asyncio.to_thread(run_muse, *args, env=env or {}, cwd=tmp_path)
    assert done.stderr == ""  # the report alone: no library chatter, no traceback
    return done.returncode, done.stdout


async def doctor_on_both(
    tmp_path: Path, tiny_text_dir: Path, standin: DiscordStandin, slack: SlackApiStandin
) -> tuple[int, str]:
    """`muse doctor` with both platforms on the stand-ins, with the tokens they accept."""
    return await run_doctor(
        tmp_path,
        f'[text]\nmodel = "{tiny_text_dir}"\n[image]\nenabled = false\n'
        f'[discord]\napi_url = "{standin.api_url}"\n[slack]\napi_url = "{slack.api_url}"\n',
        env={"DISCORD_TOKEN": TOKEN, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN},
    )


@pytest.mark.slow
async def test_a_bad_token_and_a_missing_model_folder_are_reported_with_their_fixes(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    missing = tmp_path / "no-such-model"
    async with DiscordStandin() as standin:
        code, out = await run_doctor(
            tmp_path,
            f'[text]\nmodel = "{tiny_text_dir}"\n[image]\nmodel = "{missing}"\n'
            f'[discord]\napi_url = "{standin.api_url}"\n',
            env={"DISCORD_TOKEN": "not-the-token"},
        )
    assert code == 1, out
    lines = parse(out)
    assert [line.name for line in lines] == [*ORDER, "image model", "discord"]
    checks = by_name(lines)
    assert checks["discord"].status == "FAIL"
    assert "Discord rejected the token (401 Unauthorized)" in checks["discord"].detail
    assert "DISCORD_TOKEN" in checks["discord"].fix
    image = checks["image model"]
    assert image.status == "FAIL" and f"folder '{missing}' does not exist" in image.detail
    assert image.fix.startswith("point [image] model at a folder saved with save_pretrained")
    assert checks["text model"].status == "ok" and str(tiny_text_dir) in checks["text model"].detail
    assert (
        checks["database"].status == "ok"
        and "created at the first start" in checks["database"].detail
    )
    assert all(line.status in ("ok", "skip") for line in lines if line.name in ORDER)
    assert all(line.fix == "" for line in lines if line.status != "FAIL")
    assert out.splitlines()[-1] == "muse doctor: 2 problem(s)"
    assert "not-the-token" not in out


@pytest.mark.slow
async def test_valid_tokens_intents_and_scopes_pass(tmp_path: Path, tiny_text_dir: Path) -> None:
    async with DiscordStandin() as standin, SlackApiStandin() as slack:
        slack.scopes = list(BOT_SCOPES)
        code, out = await doctor_on_both(tmp_path, tiny_text_dir, standin, slack)
        assert [c.token for c in slack.calls("auth.test")] == [BOT_TOKEN]
    assert code == 0, out
    checks = by_name(parse(out))
    assert [name for name in checks][len(ORDER) :] == [
        "discord",
        "discord intents",
        "slack",
        "slack scopes",
        "slack app token",
    ]
    assert checks["discord"].detail.startswith("token valid: bot ")
    assert checks["discord intents"].detail == "Message Content intent enabled"
    assert checks["slack scopes"].detail == f"all {len(doctor.SLACK_SCOPES)} bot scopes granted"
    assert all(c.status in ("ok", "skip") for c in checks.values()), out
    assert out.splitlines()[-1] == "muse doctor: everything Muse needs is in place"


@pytest.mark.slow
async def test_a_missing_intent_and_a_missing_scope_are_reported_with_their_fixes(
    tmp_path: Path, tiny_text_dir: Path
) -> None:
    async with DiscordStandin() as standin, SlackApiStandin() as slack:
        standin.application_flags = 0  # the Portal's Message Content switch is off
        slack.scopes = [s for s in BOT_SCOPES if s not in ("files:write", "reactions:read")]
        code, out = await doctor_on_both(tmp_path, tiny_text_dir, standin, slack)
    assert code == 1, out
    checks = by_name(parse(out))
    intents = checks["discord intents"]
    assert intents.status == "FAIL" and "Message Content intent is not enabled" in intents.detail
    assert "message_content_intent = false" in intents.fix
    scopes = checks["slack scopes"]
    assert (
        scopes.status == "FAIL"
        and scopes.detail == "missing bot scopes: files:write, reactions:read"
    )
    assert "reinstall" in scopes.fix
    assert checks["discord"].status == checks["slack"].status == "ok"


def test_an_invalid_config_fails_and_the_checks_that_need_it_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "muse.toml"
    path.write_text("[text]\ntemperature = 9\n")
    out = io.StringIO()
    assert doctor.doctor(str(path), None, out) == 1
    checks = by_name(parse(out.getvalue()))
    assert checks["config"].status == "FAIL"
    assert "[text] temperature = 9: must be a number from 0.0 to 5.0" in checks["config"].detail
    assert f"muse check-config {path}" in checks["config"].fix
    for name in ("gpu memory", "database", "models", "platforms"):
        assert checks[name].status == "skip", name


def test_database_schema_versions(tmp_path: Path) -> None:
    current = len(MIGRATIONS)
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {current + 1}")
    check = doctor.check_database(str(newer))
    assert check.status == "FAIL" and f"newer than this Muse's {current}" in check.detail
    assert "upgrade Muse" in check.fix
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as conn:
        conn.execute("PRAGMA user_version = 2")
    check = doctor.check_database(str(older))
    assert check.status == "ok"
    assert check.detail.endswith(f"schema version 2 (migrated to {current} at the next start)")
    with sqlite3.connect(older) as conn:  # doctor changed nothing
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    fresh = doctor.check_database(str(tmp_path / "sub" / "new.db"))
    assert fresh.status == "ok" and not (tmp_path / "sub").exists()


def test_a_hub_id_that_is_not_cached_fails_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = doctor.ModelSource("[text] model", "nobody/no-such-model", "config.json", "Qwen/x")
    check = doctor.check_model(source)
    assert (
        check.status == "FAIL" and "not in the hub cache, and HF_HUB_OFFLINE is set" in check.detail
    )
    assert check.fix.startswith("download it once with the network on (hf download nobody/")


def test_the_scopes_checked_are_the_readme_manifests() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    manifest = re.search(r"bot: \[([^\]]+)\]", readme)
    assert manifest is not None
    listed = [s.strip() for s in manifest.group(1).split(",")]
    assert sorted(listed) == sorted(doctor.SLACK_SCOPES) == sorted(BOT_SCOPES)


def test_a_hub_id_the_hub_cannot_be_asked_about_fails_with_the_network_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route to host")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    source = doctor.ModelSource("[text] model", "nobody/no-such-model", "config.json", "Qwen/x")
    check = doctor.check_model(source)
    assert check.status == "FAIL"
    assert (
        check.detail
        == "nobody/no-such-model: not in the hub cache; cannot reach the hub (ConnectionError)"
    )
    assert check.fix.startswith("check the network (the first start downloads the model), or point")
