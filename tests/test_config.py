from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import ConfigError, load_config, render_example
from tests.helpers import run_muse

ROOT = Path(__file__).resolve().parent.parent


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.problems


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.text.model.startswith("Qwen/Qwen2.5")
    assert config.muse.db == "muse.db"


def test_example_file_is_current_and_valid() -> None:
    example = ROOT / "config.example.toml"
    assert example.read_text() == render_example(), "run `make example-config`"
    load_config(example)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[text]\ntemperature = 9\n", "[text] temperature = 9: must be a number from 0.0 to 5.0"),
        ('[text]\nmax_new_tokens = "lots"\n', "[text] max_new_tokens = 'lots': must be an integer"),
        ("[text]\nmax_new_tokens = 0\n", "must be an integer from 1 to 32768"),
        ("[text]\nmax_new_tokens = true\n", "[text] max_new_tokens = True: must be an integer"),
        ('[text]\ndtype = "int8"\n', "must be one of 'auto', 'float32', 'bfloat16', 'float16'"),
        ("[text]\nmodle = 'x'\n", "[text] modle: unknown key; known keys are: model,"),
        ("[txet]\n", "[txet]: unknown section"),
        ("[policy]\nadmins = [1, 2]\n", "[policy] admins = [1, 2]: must be a list of strings"),
        ('[policy]\nadmins = "discord:1"\n', "must be a list of strings"),
        ("[muse]\ndb = 3\n", "[muse] db = 3: must be a string"),
        ("text = 1\n", "text: must be a [text] table"),
        ("[text\n", "not valid TOML"),
    ],
)
def test_each_invalid_value_has_its_message(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, "[text]\ntemperature = -1\ntop_p = 2\nfoo = 1\n")
    assert len(found) == 3


def test_cross_field_problems_name_the_entry(tmp_path: Path) -> None:
    found = problems(tmp_path, "[slack]\nbot_token = 'xoxb-1'\nmode = 'http'\nhttp_path = 'x'\n")
    assert found == ["[slack] http_path = 'x': must start with /"]  # fields first, then:
    found = problems(tmp_path, "[slack]\nbot_token = 'xoxb-1'\nmode = 'http'\n")
    assert found == ["[slack] mode = 'http' needs signing_secret (or SLACK_SIGNING_SECRET)"]
    found = problems(tmp_path, "[[schedules]]\nname = 'x'\n[[schedules]]\nname = 'x'\n")
    assert found == ["[[schedules]] x: needs a channel", "[[schedules]] x: needs a channel"]
    assert problems(tmp_path, "schedules = [1]\n") == ["[[schedules]] entry 0: must be a table"]


def test_secrets_come_from_env_and_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[discord]\ntoken = 'from-the-file'\n")
    env = {"DISCORD_TOKEN": "from-env", "SLACK_BOT_TOKEN": "xoxb-2", "SLACK_APP_TOKEN": "xapp-2"}
    config = load_config(path, env=env)
    assert isinstance(config.discord.token, SecretStr)
    assert config.discord.token.get_secret_value() == "from-env"
    assert config.slack.bot_token.get_secret_value() == "xoxb-2"
    assert "from-env" not in repr(config) and "from-the-file" not in repr(config)
    assert load_config(path, env={}).discord.token.get_secret_value() == "from-the-file"
    # Only the secrets' own variables are read: no other key can come from the environment.
    unrelated = {"TEXT": '{"model": "x"}', "MUSE_DB": "x", "discord": '{"api_url": "x"}'}
    assert load_config(None, env=unrelated) == load_config(None, env={})


def test_secrets_may_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "discord-token"
    secret.write_text("from-a-file\n")
    path = tmp_path / "c.toml"
    path.write_text(f"[discord]\ntoken_file = '{secret}'\n")
    assert load_config(path, env={}).discord.token.get_secret_value() == "from-a-file"
    both = problems(tmp_path, f"[discord]\ntoken = 'abc'\ntoken_file = '{secret}'\n")
    assert both == ["[discord] token_file is set and so is token (or DISCORD_TOKEN): keep one"]
    missing = tmp_path / "nope"
    found = problems(tmp_path, f"[slack]\nbot_token_file = '{missing}'\n")
    [line] = found
    assert line.startswith(f"[slack] bot_token_file = '{missing}': cannot read it (")


def test_secret_values_never_appear_in_problems(tmp_path: Path) -> None:
    text = "[discord]\ntoken = ['hunter2-secret']\n[slack]\nsigning_secret = 42\n"
    found = problems(tmp_path, text)
    assert found == [
        "[discord] token = <hidden>: must be a string",
        "[slack] signing_secret = <hidden>: must be a string",
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.slow
def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[text]\ntemperature = 0.2\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[text]\ntemperature = 'hot'\ntop_p = 3\n")
    ok = run_muse("check-config", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout
    fail = run_muse("check-config", str(bad))
    assert fail.returncode == 2
    assert "2 problem(s)" in fail.stderr
    assert "temperature = 'hot'" in fail.stderr and "top_p = 3" in fail.stderr
    assert "Traceback" not in fail.stderr


@pytest.mark.slow
def test_check_config_refuses_what_run_would_refuse(tmp_path: Path) -> None:
    """Device strings, dtype for the device, the database path, local model folders,
    timezones: each named with its key, all at once, no traceback, exit 2 - and `muse
    chat` refuses the same file the same way instead of starting."""
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "bad.toml"
    config.write_text(
        '[muse]\ndb = "a-file/muse.db"\n'
        '[text]\ndevice = "banana"\nmodel = "./models/missing"\n'
        '[image]\ndevice = "cpu"\ndtype = "float16"\n'
    )
    checked = run_muse("check-config", str(config), cwd=tmp_path)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert "[text] device = 'banana': must be auto, cpu, mps, cuda" in checked.stderr
    assert "[image] dtype = 'float16': dtype float16 needs a GPU" in checked.stderr
    # The file-system checks need a config whose types are right first.
    config.write_text('[muse]\ndb = "a-file/muse.db"\n[text]\nmodel = "./models/missing"\n')
    checked = run_muse("check-config", str(config), cwd=tmp_path)
    assert checked.returncode == 2, checked.stderr
    assert "[muse] db = 'a-file/muse.db': a-file is a file, not a folder" in checked.stderr
    assert "[text] model = './models/missing': Model folder './models/missing' does not exist" in (
        checked.stderr
    )
    chat = run_muse("chat", "--config", str(config), cwd=tmp_path)
    assert chat.returncode == 2 and chat.stderr == checked.stderr
    nested = run_muse(
        "chat", "--tiny", "--db", str(tmp_path / "no" / "such" / "m.db"), cwd=tmp_path
    )
    assert (
        nested.returncode == 2 and "folder" in nested.stderr and "does not exist" in nested.stderr
    )
    assert not (tmp_path / "no").exists()  # no surprise mkdir -p
