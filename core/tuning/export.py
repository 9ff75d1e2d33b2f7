"""Preference data from 👍/👎, as JSONL rows in TRL's documented dataset columns.

KTO (unpaired preference): `prompt`, `completion`, `label`, one row per voted reply, the
label from the net vote (ties are left out). DPO (preference): `prompt`, `chosen`,
`rejected`, from replies to the same prompt (a reply and its regenerations, 🔄) whose net
votes are opposite. Both in TRL's conversational form: the prompt is the list of chat
messages Muse actually sent the model (stored at generation time, not rebuilt), the
completions are one assistant message each.

Privacy: purged users are gone already (a purge deletes every generation whose prompt
holds their words, and their votes); conversations in an opted-out channel
(`[privacy] training_opt_out`) are skipped. Rows hold TRL's columns only, unless
`metadata` adds `persona`, `model` and `user` (who asked): an HMAC of the platform id under
a secret kept in the database, stable across exports and not reversible without it. (No
platform id is ever written.)
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from core.chat.events import conversation_key
from core.tuning.generations import Generation, Generations

__all__ = ["Format", "dpo_rows", "export_feedback", "kto_rows", "opted_out", "pseudonym"]

Format = Literal["kto", "dpo"]


def pseudonym(key: bytes, user: str) -> str:
    """A stable stand-in for "platform:id" that cannot be turned back without `key`."""
    return "u_" + hmac.new(key, user.encode(), hashlib.sha256).hexdigest()[:16]


def opted_out(conversation: str, channels: Iterable[str]) -> bool:
    """Whether a conversation key lies in one of the "platform:channel" entries (threads
    included, as [policy] allowed_channels reads them)."""
    parts = conversation.split(":")
    for entry in channels:
        platform, _, channel = entry.partition(":")
        if len(parts) >= 3 and parts[0] == platform:
            # The key escapes ":" in ids: compare with the channel escaped the same way.
            if parts[2] == conversation_key(platform, None, channel).split(":")[2]:
                return True
    return False


def _net(votes: list[tuple[str, int]]) -> int:
    return sum(v for _, v in votes)


def _completion(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _meta(g: Generation, key: bytes | None) -> dict[str, Any]:
    """The optional columns (`key` None: none)."""
    if key is None:
        return {}
    return {"user": pseudonym(key, g.asker), "persona": g.persona, "model": g.model}


def kto_rows(
    gens: list[Generation], votes: dict[int, list[tuple[str, int]]], key: bytes | None
) -> Iterator[dict[str, Any]]:
    for g in gens:
        net = _net(votes.get(g.id, []))
        if net:
            yield {
                "prompt": g.prompt,
                "completion": _completion(g.completion),
                "label": net > 0,
                **_meta(g, key),
            }


def dpo_rows(
    gens: list[Generation], votes: dict[int, list[tuple[str, int]]], key: bytes | None
) -> Iterator[dict[str, Any]]:
    """Every (👍, 👎) pair among the replies to one prompt."""
    by_root: dict[int, list[Generation]] = {}
    for g in gens:
        by_root.setdefault(g.root, []).append(g)
    for group in by_root.values():
        liked = [g for g in group if _net(votes.get(g.id, [])) > 0]
        disliked = [g for g in group if _net(votes.get(g.id, [])) < 0]
        for good, bad in itertools.product(liked, disliked):
            if good.prompt != bad.prompt:  # both must answer the very same messages
                continue
            yield {
                "prompt": good.prompt,
                "chosen": _completion(good.completion),
                "rejected": _completion(bad.completion),
                **_meta(good, key),
            }


async def export_feedback(
    generations: Generations, fmt: Format, opt_out: Iterable[str] = (), metadata: bool = False
) -> list[str]:
    """The JSONL lines of a `fmt` export (one JSON object per line); `metadata` adds the
    pseudonymised `user`, `persona` and `model` columns."""
    channels = list(opt_out)
    gens = [g for g in await generations.all() if not opted_out(g.conversation, channels)]
    votes = await generations.votes()
    key = await generations.export_key() if metadata else None
    rows = kto_rows(gens, votes, key) if fmt == "kto" else dpo_rows(gens, votes, key)
    return [json.dumps(row, ensure_ascii=False) for row in rows]
