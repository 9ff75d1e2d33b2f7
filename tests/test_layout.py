"""The package dependency rules, read from the code's own imports (deferred and type-only
ones included): no cycles; core never reaches adapters or a platform library; engines
never reach chat code; the config loader stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "adapters", "bot", "bench")
PLATFORM_LIBRARIES = ("discord", "slack_bolt", "slack_sdk")
ENGINES = ("core.text", "core.image", "core.runtime")
CHAT_SIDE = ("core.chat", "core.commands", "core.memory", "core.schedule", "core.fair_use")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name an import statement anywhere in the file names."""
    names: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    mods = modules()

    def own(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = {own(t) for t in imported_names(name, path)}
        edges[name] = {t for t in targets if t and t != name}
    return edges


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_never_imports_adapters_bot_or_platform_libraries() -> None:
    for name, path in modules().items():
        if within(name, ("core",)):
            bad = {
                t
                for t in imported_names(name, path)
                if within(t, ("adapters", "bot", *PLATFORM_LIBRARIES))
            }
            assert not bad, f"{name} imports {sorted(bad)}"


def test_engines_never_import_chat_code() -> None:
    for name, path in modules().items():
        if within(name, ENGINES):
            bad = {t for t in imported_names(name, path) if within(t, CHAT_SIDE)}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_adapters_never_import_the_wiring() -> None:
    for name, path in modules().items():
        if within(name, ("adapters",)):
            bad = {t for t in imported_names(name, path) if within(t, ("bot",))}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_config_and_cli_load_no_model_or_platform_library() -> None:
    heavy = ("torch", "transformers", "diffusers", *PLATFORM_LIBRARIES)
    code = (
        "import sys, bot.config, bot.cli; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
