"""Errors that carry a message meant for the person who caused them."""

from __future__ import annotations

from typing import Literal

# How a surface names a command's options, so errors speak its language: "flags" where
# people type `--width 512` (the terminal, Slack's slash commands, commands in a message),
# "fields" where they fill in a form's `width` field (Discord's slash commands, buttons).
Terms = Literal["flags", "fields"]


class UserError(Exception):
    """Bad input or a refusal: shown to the user as is, never logged as a fault."""

    def in_terms(self, terms: Terms) -> str:
        """The message as worded for a surface (the same on every surface by default)."""
        return str(self)


class OptionError(UserError):
    """A command option is missing, unknown or out of range. `str()` is the message in
    flag terms; `fields`, where it differs, the same message naming form fields."""

    def __init__(self, message: str, *, fields: str | None = None) -> None:
        super().__init__(message)
        self.fields = fields

    def in_terms(self, terms: Terms) -> str:
        if terms == "fields" and self.fields is not None:
            return self.fields
        return str(self)


class PermissionDenied(UserError):
    """The author may not do this here."""


class Busy(UserError):
    """The work queue is full."""


class ModelUnavailable(Exception):
    """A model could not be loaded; the message says what to change."""


class DatabaseUnavailable(Exception):
    """The database file cannot be opened where the config puts it; the message says why."""
