"""Muse's TOML config: the typed `Config`, how it is loaded, and how problems are reported.

Each section is a pydantic model defined next to what uses it: types, ranges, choices and
docs are declared once on its fields, cross-field checks are its own model validators.

`Config` is a pydantic-settings `BaseSettings` rather than a plain model fed by hand, so
that where values come from is declared as settings sources with a precedence, and merged
by pydantic-settings: first the secrets' environment variables (each secret field names
its own, e.g. DISCORD_TOKEN), then the file, read by pydantic-settings' TOML source. The
sources are built per load (`_build_sources`, pydantic-settings >= 2.13) because the path
is the caller's, not the class's. No other environment variable and no .env file is read,
so nothing set for another program changes Muse's config.

A `ValidationError` becomes one line per problem naming the section and key, all at once
(`[text] temperature = 9: must be a number from 0.0 to 5.0`), in a `ConfigError`; secret
values are never shown. `render_example()` writes config.example.toml from the same models.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from adapters.discord.settings import DiscordSettings
from adapters.slack.settings import SlackSettings
from bot.settings import LoggingSettings, MetricsSettings, MuseSettings
from core.fair_use.settings import GuardSettings, LimitSettings, ModerationRule, PolicySettings
from core.files.settings import FileSettings
from core.image.options import ImageSettings
from core.memory.settings import MemorySettings, PrivacySettings
from core.schedule.settings import ScheduleEntries, SchedulerSettings
from core.text.settings import TextSettings
from core.text.vision_settings import VisionSettings

__all__ = ["Config", "ConfigError", "describe", "load_config", "render_example"]


class ConfigError(Exception):
    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class Config(BaseSettings):
    """The whole config: one attribute per section, in the order config.example.toml shows."""

    # case_sensitive: [TEXT] is not [text]; hide_input_in_errors: a ValidationError printed
    # anywhere never carries a token.
    model_config = SettingsConfigDict(
        extra="forbid", case_sensitive=True, hide_input_in_errors=True
    )

    muse: MuseSettings = Field(default_factory=MuseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    files: FileSettings = Field(default_factory=FileSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    moderation: list[ModerationRule] = Field(default_factory=list)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    schedules: ScheduleEntries = Field(default_factory=list)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Config(...) in code: its arguments, then the secret variables; nothing else.
        return init_settings, SecretsFromEnvironment(settings_cls)

    @property
    def sections(self) -> dict[str, BaseModel | list[BaseModel]]:
        """Every section by name, for code that treats them alike (secrets, platforms)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def _sections(
    settings_cls: type[BaseModel] = Config,
) -> dict[str, tuple[type[BaseModel], bool]]:
    """Section name -> (its model, whether the file holds a list of [[name]] tables)."""
    found = {}
    for name, field in settings_cls.model_fields.items():
        is_list = get_origin(field.annotation) is list
        model = get_args(field.annotation)[0] if is_list else field.annotation
        found[name] = (model, is_list)
    return found


@functools.cache
def _properties(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """The fields' JSON schema: type, minimum/maximum, enum, description, env."""
    return model.model_json_schema()["properties"]


class SecretsFromEnvironment(PydanticBaseSettingsSource):
    """The secret fields' own variables (`env` on the field), e.g. DISCORD_TOKEN."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str] | None = None,
        file: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(settings_cls)
        self.environ = os.environ if environ is None else environ
        self.file = file or {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the variables directly

    def __call__(self) -> dict[str, Any]:
        found: dict[str, dict[str, str]] = {}
        for section, (model, is_list) in _sections(self.settings_cls).items():
            # A section the file got wrong (`discord = 1`) stays wrong, and is reported.
            if is_list or not isinstance(self.file.get(section, {}), dict):
                continue
            for key, prop in _properties(model).items():
                if prop.get("env") and self.environ.get(prop["env"]):
                    found.setdefault(section, {})[key] = self.environ[prop["env"]]
        return found


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path` (None: all defaults). Raises ConfigError listing every problem."""
    source = str(path) if path else "config"
    sources: list[PydanticBaseSettingsSource] = []
    raw: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError([f"file not found: {path}"], source)
        try:
            toml = TomlConfigSettingsSource(Config, toml_file=Path(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"cannot read the file: {exc}"], source) from None
        raw, sources = toml.toml_data, [toml]
    # The environment's secrets win over the file's (a token is often kept out of files).
    sources.insert(0, SecretsFromEnvironment(Config, env, raw))
    try:
        return Config(_build_sources=(tuple(sources), {}))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, raw), source) from None


def _problems(exc: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One line per problem, from the errors and what the file said; a list's bad items
    (`admins = [1, 2]`) are one problem of the field."""
    lines: dict[tuple[Any, ...], None] = {}
    for error in exc.errors(include_url=False):
        section = _sections().get(str(error["loc"][0]))
        depth = 3 if section and section[1] else 2  # [[name]] entries have an index
        lines.update({(error["loc"][:depth], line): None for line in _lines(error, raw)})
    return [line for _, line in lines]


def _lines(error: Any, raw: Mapping[str, Any]) -> list[str]:
    loc, kind = list(error["loc"]), error["type"]
    # A validator's own words ("must start with /"); else the field's type says what is allowed.
    message = str(error["ctx"]["error"]) if kind == "value_error" else None
    sections = _sections()
    name = str(loc.pop(0))
    if name not in sections:
        return [f"[{name}]: unknown section; known sections are: {', '.join(sections)}"]
    model, is_list = sections[name]
    table = raw.get(name)
    if is_list:
        if not loc:
            if message is None:
                return [f"{name}: must be a list of [[{name}]] tables"]
            return [f"[[{name}]] {line}" for line in message.splitlines()]
        index = loc.pop(0)
        table = _item(table, index)
        if not loc:
            if message is None:
                return [f"[[{name}]] entry {index}: must be a table"]
            label = _item(table, getattr(model, "label_key", "")) or f"entry {index}"
            return [f"[[{name}]] {label}: {line}" for line in message.splitlines()]
        where = f"[{name}[{index}]]"
    else:
        if not loc:
            if message is None:
                return [f"{name}: must be a [{name}] table"]
            return [f"[{name}] {line}" for line in message.splitlines()]
        where = f"[{name}]"
    key = str(loc[0])
    if kind == "extra_forbidden":
        return [f"{where} {key}: unknown key; known keys are: {', '.join(model.model_fields)}"]
    prop = _properties(model)[key]
    shown = "<hidden>" if prop.get("writeOnly") else _shown(_item(table, key))
    return [f"{where} {key} = {shown}: {message or 'must be ' + describe(prop)}"]


def _item(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPES = {"string": "a string", "integer": "an integer", "number": "a number"}


def describe(prop: Mapping[str, Any]) -> str:
    """What a field allows, in words, from its JSON schema."""
    if "enum" in prop:
        return "one of " + ", ".join(repr(choice) for choice in prop["enum"])
    if prop.get("type") == "array":
        item = describe(prop["items"]).removeprefix("a ").removeprefix("an ")
        return f"a list of {item}s"
    if prop.get("type") == "boolean":
        return "true or false"
    text = _TYPES.get(prop.get("type", ""), "a value")
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        text += f" from {low} to {high}"
    elif low is not None:
        text += f" of at least {low}"
    elif high is not None:
        text += f" of at most {high}"
    if "multipleOf" in prop:
        text += f", a multiple of {prop['multipleOf']}"
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return json.dumps(value, ensure_ascii=False)  # JSON scalars and lists are TOML too


def _render_fields(model: type[BaseModel], prefix: str) -> list[str]:
    lines = []
    for key, prop in _properties(model).items():
        lines.append(f"{prefix}# {prop.get('description', '')} ({describe(prop)})")
        if prop.get("env"):
            lines.append(f"{prefix}# May come from the environment variable {prop['env']}.")
        default = model.model_fields[key].get_default(call_default_factory=True)
        lines.append(f"{prefix}{key} = {_toml_value(default)}")
    return lines


def render_example() -> str:
    """config.example.toml: every section and key, its doc, default and allowed values."""
    out = [
        "# Muse configuration. Every key is shown with its default; delete what you do not change.",
        "# Validate with: muse check-config PATH",
        "",
    ]
    for name, (model, is_list) in _sections().items():
        out.append(f"# {(model.__doc__ or '').strip().splitlines()[0]}")
        if is_list:  # none by default: the entry is shown commented out
            out.append(f"# [[{name}]]")
            out.extend(_render_fields(model, prefix="# "))
        else:
            out.append(f"[{name}]")
            out.extend(_render_fields(model, prefix=""))
        out.append("")
    return "\n".join(out)
