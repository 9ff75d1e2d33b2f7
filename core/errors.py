"""Errors that carry a message meant for the person who caused them."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refusal: shown to the user as is, never logged as a fault."""


class OptionError(UserError):
    """A command option is missing, unknown or out of range."""


class PermissionDenied(UserError):
    """The author may not do this here."""


class Busy(UserError):
    """The work queue is full."""


class ModelUnavailable(Exception):
    """A model could not be loaded; the message says what to change."""


class DatabaseUnavailable(Exception):
    """The database file cannot be opened where the config puts it; the message says why."""
