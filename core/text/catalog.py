"""The text models admins may choose between per channel: [text]'s own ("default") and each
[[text.models]] entry, every one a loaded TextBackend (in-process or a server's client)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.text.backend import TextBackend
from core.text.settings import DEFAULT_MODEL_NAME

__all__ = ["ModelEntry", "TextModels"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    backend: TextBackend
    kind: str  # "local" or "openai"
    description: str = ""

    def label(self) -> str:
        where = "in Muse" if self.kind == "local" else "on a server"
        text = f"{self.name}: {self.backend.model_name} ({where})"
        return f"{text}, {self.description}" if self.description else text


@dataclass
class TextModels:
    """Name -> entry, the default first. Each backend keeps its own prefix cache, so a
    channel that switches models never reuses another model's cached prefix."""

    default: ModelEntry
    named: dict[str, ModelEntry] = field(default_factory=dict)

    @property
    def entries(self) -> list[ModelEntry]:
        return [self.default, *self.named.values()]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str | None) -> ModelEntry | None:
        if name is None or name == DEFAULT_MODEL_NAME:
            return self.default
        return self.named.get(name)

    def forget(self, cache_key: str) -> None:
        for entry in self.entries:
            entry.backend.forget(cache_key)

    async def close(self) -> None:
        for entry in self.named.values():  # the default is the service's own to close
            await entry.backend.close()
