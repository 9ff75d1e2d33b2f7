"""Load, validate and document Muse's TOML config.

Sections are the settings dataclasses; each field's `metadata` holds its doc and limits.
Validation collects every problem (key, value, what is allowed) instead of stopping at
the first, and `render_example()` writes config.example.toml from the same schema.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sections import SECTIONS


class ConfigError(Exception):
    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass
class Config:
    sections: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)


def _describe(tp: Any, meta: Mapping[str, Any]) -> str:
    """What is allowed, in words."""
    if "choices" in meta:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(inner[0], meta) + " (or leave it out)"
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_describe(item, {}).removeprefix('a ').removeprefix('an ')}s"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    base = names.get(tp, getattr(tp, "__name__", str(tp)))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        return f"{base} from {lo} to {hi}"
    if lo is not None:
        return f"{base} of at least {lo}"
    if hi is not None:
        return f"{base} of at most {hi}"
    return base


def _check(tp: Any, value: Any, meta: Mapping[str, Any]) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _check(inner[0], value, meta)
    if origin is list:
        if not isinstance(value, list):
            return False, value
        (item,) = typing.get_args(tp)
        checked = [_check(item, v, {}) for v in value]
        return all(ok for ok, _ in checked), [v for _, v in checked]
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        return True, value
    if ok and "choices" in meta:
        ok = value in meta["choices"]
    if ok and meta.get("min") is not None:
        ok = value >= meta["min"]
    if ok and meta.get("max") is not None:
        ok = value <= meta["max"]
    return ok, value


def _shown(value: Any, meta: Mapping[str, Any]) -> str:
    if meta.get("secret"):
        return "<hidden>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def build_section(
    name: str, cls: type, raw: Mapping[str, Any], env: Mapping[str, str], problems: list[str]
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        f = fields.get(key)
        if f is None:
            known = ", ".join(fields)
            problems.append(f"[{name}] {key}: unknown key; known keys are: {known}")
            continue
        ok, coerced = _check(hints[key], value, f.metadata)
        if ok:
            values[key] = coerced
        else:
            allowed = _describe(hints[key], f.metadata)
            problems.append(f"[{name}] {key} = {_shown(value, f.metadata)}: must be {allowed}")
    for f in fields.values():
        var = f.metadata.get("env")
        if var and env.get(var):
            values[f.name] = env[var]
    return cls(**values)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path` (None: all defaults). Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = str(path) if path else "config"
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"file not found: {path}"], source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"cannot read the file: {exc}"], source) from None
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SECTIONS:
            problems.append(f"[{key}]: unknown section; known sections are: {', '.join(SECTIONS)}")
        elif not isinstance(value, dict) and not SECTIONS[key].is_list:
            problems.append(f"{key}: must be a [{key}] table")
    for name, spec in SECTIONS.items():
        value = raw.get(name, [] if spec.is_list else {})
        if spec.is_list:
            if not isinstance(value, list):
                problems.append(f"{name}: must be a list of [[{name}]] tables")
                value = []
            sections[name] = [
                build_section(f"{name}[{i}]", spec.cls, item, env, problems)
                if isinstance(item, dict)
                else problems.append(f"[[{name}]] entry {i}: must be a table")
                for i, item in enumerate(value)
            ]
        elif isinstance(value, dict):
            sections[name] = build_section(name, spec.cls, value, env, problems)
    for name, spec in SECTIONS.items():
        if spec.validate is not None and name in sections and not problems:
            problems.extend(spec.validate(sections[name]))
    if problems:
        raise ConfigError(problems, source)
    return Config(sections, Path(path) if path else None)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _render_fields(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = []
    instance = (
        cls()
        if all(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in dataclasses.fields(cls)
        )
        else None
    )
    for f in dataclasses.fields(cls):
        meta = f.metadata
        doc = meta.get("doc", "")
        lines.append(f"{prefix}# {doc} ({_describe(hints[f.name], meta)})")
        if meta.get("env"):
            lines.append(f"{prefix}# May come from the environment variable {meta['env']}.")
        if instance is not None:
            value = getattr(instance, f.name)
            line = f"{f.name} = {_toml_value(value)}"
            lines.append(f"{prefix}{line}" if value is not None else f"{prefix}# {f.name} =")
        else:
            lines.append(f"{prefix}# {f.name} = (required)")
    return lines


def render_example() -> str:
    out = [
        "# Muse configuration. Every key is shown with its default; delete what you do not change.",
        "# Validate with: muse check-config PATH",
        "",
    ]
    for name, spec in SECTIONS.items():
        doc = (spec.cls.__doc__ or "").strip().splitlines()[0]
        out.append(f"# {doc}")
        if spec.is_list:
            out.append(f"# [[{name}]]")
            out.extend(_render_fields(spec.cls, prefix="# "))
        else:
            out.append(f"[{name}]")
            out.extend(_render_fields(spec.cls))
        out.append("")
    return "\n".join(out)
