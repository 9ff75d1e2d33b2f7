"""The committed locks agree with pyproject's ranges and with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    return {canonicalize_name(n): v for n, v in PIN.findall(text)}


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    for lock, extra in (("run.lock", None), ("test.lock", "test")):
        locked = pins(lock)
        for req in declared(extra):
            name = canonicalize_name(req.name)
            if name == "torch":  # installed first, outside the locks (see Makefile)
                assert name not in locked
                continue
            assert name in locked, f"{req.name} missing from {lock}"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{lock}: {req.name}=={locked[name]} is outside pyproject's {req.specifier}"
            )


def test_ranges_have_an_upper_bound_below_the_next_major() -> None:
    for req in declared("test"):
        if req.name == "tzdata":  # calendar-versioned data, no API to break
            continue
        assert any(s.operator == "<" for s in req.specifier), f"{req} has no upper bound"


def test_run_lock_is_the_test_lock_without_the_test_tools() -> None:
    run, test = pins("run.lock"), pins("test.lock")
    assert {n: test.get(n) for n in run} == run


def test_torch_pin_satisfies_pyproject() -> None:
    spec = (ROOT / "requirements" / "torch.txt").read_text(encoding="utf-8").strip()
    version = spec.split("==")[1]
    torch_req = next(r for r in declared() if r.name == "torch")
    assert torch_req.specifier.contains(version)
