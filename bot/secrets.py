"""Keep tokens and signing secrets out of every log line and traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from pydantic import BaseModel, SecretStr

__all__ = ["HIDDEN", "RedactSecrets", "collect_secrets", "install"]

# Slack token shapes, in case one arrives from somewhere other than the config.
_SLACK_TOKEN = re.compile(r"\bxox[abeprs]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}")
HIDDEN = "<hidden>"


def collect_secrets(sections: Mapping[str, BaseModel | list[BaseModel]]) -> set[str]:
    """Values of every SecretStr field in the sections (tokens read from env included)."""
    found = set()
    for section in sections.values():
        for item in section if isinstance(section, list) else [section]:
            for name in type(item).model_fields:
                value = getattr(item, name)
                if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 6:
                    found.add(value.get_secret_value())
    return found


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: set[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is hidden whole.
        self.secrets = sorted(secrets, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return _SLACK_TOKEN.sub(HIDDEN, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def install(secrets: set[str]) -> RedactSecrets:
    """Attach the filter to every root handler (records from all loggers pass there)."""
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
