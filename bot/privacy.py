"""Data requests from the command line: export a conversation or the rated replies as
training data, purge a user."""

from __future__ import annotations

import json
import time

from core.memory.store import Memory
from core.tuning.export import Format

DAY = 86400


async def export_conversation(db: str, conversation: str) -> str:
    memory = await Memory.open(db)
    try:
        rows = await memory.export(conversation)
    finally:
        await memory.close()
    return json.dumps(
        {"conversation": conversation, "messages": rows}, ensure_ascii=False, indent=2
    )


async def export_feedback(
    db: str, fmt: Format, opt_out: list[str], metadata: bool = False
) -> list[str]:
    from core.tuning.export import export_feedback as rows
    from core.tuning.generations import Generations

    memory = await Memory.open(db)
    try:
        return await rows(Generations(memory.connection), fmt, opt_out, metadata)
    finally:
        await memory.close()


def parse_user(user: str) -> tuple[str, str]:
    platform, sep, user_id = user.partition(":")
    if not sep or not platform or not user_id:
        raise ValueError(f"--user must look like platform:id (e.g. discord:1234), not {user!r}")
    return platform, user_id


async def purge_user(db: str, user: str) -> dict[str, int]:
    platform, user_id = parse_user(user)
    memory = await Memory.open(db)
    try:
        return await memory.purge_user(platform, user_id)
    finally:
        await memory.close()


async def prune_old(memory: Memory, retention_days: int) -> int:
    if retention_days <= 0:
        return 0
    return await memory.prune(time.time() - retention_days * DAY)
