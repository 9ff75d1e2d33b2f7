"""Which commands the core offers. Registered here, by the wiring, never by a constructor,
so building a `Muse` or a `Scheduler` has no side effects and no module imports its user."""

from __future__ import annotations

from core.chat.service import Muse
from core.commands import chat as chat_commands
from core.commands import imagine as imagine_commands
from core.commands import memory as memory_commands
from core.commands import model as model_commands
from core.commands import schedule as schedule_commands
from core.commands import summarize as summarize_commands
from core.schedule.scheduler import Scheduler

__all__ = ["register_commands"]


def register_commands(muse: Muse, scheduler: Scheduler | None = None) -> None:
    """/help, /forget, /persona, /stats, /cancel, /memory, /summarize; /imagine with an
    image engine; /model with [[text.models]]; /schedule with a scheduler."""
    chat_commands.register(muse.commands)
    memory_commands.register(muse.commands)
    summarize_commands.register(muse.commands)
    if muse.models is not None:
        model_commands.register(muse.commands)
    if muse.image_engine is not None:
        imagine_commands.register(muse.commands)
    if scheduler is not None:
        schedule_commands.register(muse.commands, scheduler)
