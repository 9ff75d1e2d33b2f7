"""Durable conversation memory in SQLite (WAL), keyed by conversation key.

All SQL uses parameters; the schema is versioned with `PRAGMA user_version` and
migrated forward on open.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# Append only: each entry migrates the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        author_id TEXT NOT NULL DEFAULT '',
        author_name TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL,
        platform_message_id TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages (conversation, id);
    CREATE TABLE personas (
        conversation TEXT PRIMARY KEY,
        prompt TEXT NOT NULL,
        set_by TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    );
    CREATE TABLE feedback (
        platform TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        conversation TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        PRIMARY KEY (platform, message_id, user_id)
    );
    """,
    # 2: per-user daily usage for quotas.
    """
    CREATE TABLE usage (
        day TEXT NOT NULL,
        user TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        PRIMARY KEY (day, user, kind)
    );
    """,
    # 3: scheduled posts, and one row per (schedule, fire time) so a slot posts once.
    """
    CREATE TABLE schedules (
        id INTEGER PRIMARY KEY,
        name TEXT,
        source TEXT NOT NULL CHECK (source IN ('config', 'chat')),
        platform TEXT NOT NULL,
        workspace TEXT,
        channel TEXT NOT NULL,
        thread TEXT,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('text', 'image', 'text+image')),
        prompt TEXT NOT NULL,
        persona TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_by TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        active_since REAL NOT NULL,
        UNIQUE (source, name)
    );
    CREATE TABLE schedule_runs (
        schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        fire_time INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('claimed', 'posted', 'failed', 'missed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        message_id TEXT,
        claimed_by TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (schedule_id, fire_time)
    );
    """,
    # 4: what chat adapters must remember across restarts: threads Muse takes part in, and
    # image requests behind persistent buttons (options as JSON, message ids as a JSON list).
    """
    CREATE TABLE adapter_threads (
        platform TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        PRIMARY KEY (platform, thread_id)
    );
    CREATE TABLE image_requests (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        requester TEXT NOT NULL,
        workspace TEXT,
        channel TEXT NOT NULL,
        thread TEXT,
        options TEXT NOT NULL,
        message_ids TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL
    );
    """,
    # 5: a post cut short by shutdown is "interrupted" (retried on the next start within
    # the grace period); SQLite cannot alter a CHECK, so the table is rebuilt.
    """
    CREATE TABLE schedule_runs_v5 (
        schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
        fire_time INTEGER NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('claimed', 'posted', 'failed', 'missed', 'interrupted')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        message_id TEXT,
        claimed_by TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (schedule_id, fire_time)
    );
    INSERT INTO schedule_runs_v5 SELECT * FROM schedule_runs;
    DROP TABLE schedule_runs;
    ALTER TABLE schedule_runs_v5 RENAME TO schedule_runs;
    """,
    # 6: small values a chat adapter keeps between starts, by key (e.g. what Discord was
    # last given as slash commands, so they are published again only once they change).
    """
    CREATE TABLE adapter_state (
        platform TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (platform, key)
    );
    """,
    # 7: the feedback loop. Each reply's generation: the chat messages the model was given
    # (JSON, exactly as sent), what it wrote, which persona/adapter/model, and the reply it
    # regenerates; the users whose words are in the prompt (JSON list of "platform:id", so a
    # purge removes every generation that quotes them); a persona may bind a LoRA adapter;
    # one secret key per database for pseudonymising user ids in exports.
    """
    CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        conversation TEXT NOT NULL,
        reply_ids TEXT NOT NULL DEFAULT '[]',
        prompt TEXT NOT NULL,
        completion TEXT NOT NULL,
        asker TEXT NOT NULL DEFAULT '',
        authors TEXT NOT NULL DEFAULT '[]',
        persona TEXT NOT NULL DEFAULT '',
        adapter TEXT,
        model TEXT NOT NULL DEFAULT '',
        regenerates INTEGER REFERENCES generations (id) ON DELETE SET NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX generations_by_conversation ON generations (conversation, id);
    CREATE TABLE generation_replies (
        platform_message_id TEXT NOT NULL,
        generation_id INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
        PRIMARY KEY (platform_message_id, generation_id)
    );
    ALTER TABLE personas ADD COLUMN adapter TEXT;
    CREATE TABLE export_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key TEXT NOT NULL
    );
    """,
    # 8: channel-aware memory. Rolling summaries of the turns that fell out of the prompt
    # (through_id: the newest message covered; oldest_at: when the oldest covered one was
    # said, for retention); channel messages not addressed to Muse, kept as context; and
    # each channel's memory settings. Only new tables: existing rows keep their keys.
    """
    CREATE TABLE summaries (
        conversation TEXT PRIMARY KEY,
        content TEXT NOT NULL,
        through_id INTEGER NOT NULL,
        oldest_at REAL NOT NULL,
        revisions INTEGER NOT NULL DEFAULT 1,
        updated_at REAL NOT NULL
    );
    CREATE TABLE channel_context (
        id INTEGER PRIMARY KEY,
        conversation TEXT NOT NULL,
        author_id TEXT NOT NULL DEFAULT '',
        author_name TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL,
        platform_message_id TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX channel_context_by_conversation ON channel_context (conversation, id);
    CREATE TABLE channel_memory (
        channel TEXT PRIMARY KEY,
        scope TEXT NOT NULL DEFAULT 'channel' CHECK (scope IN ('channel', 'thread')),
        context INTEGER NOT NULL DEFAULT 1 CHECK (context IN (0, 1)),
        set_by TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    );
    """,
    # 9: files and pictures posted with a message, as references (the platform's URL, never
    # the bytes) plus the text read from documents; they go with their message (forget,
    # purge, retention) through the foreign key.
    """
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        conversation TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'text', 'pdf')),
        url TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        text TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE INDEX attachments_by_message ON attachments (message_id);
    """,
    # 10: /model set: the text model a conversation uses (absent: [text]'s own). By name, so a
    # name dropped from the config falls back to the default instead of failing.
    """
    CREATE TABLE channel_models (
        conversation TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        set_by TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    );
    """,
]


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation: str
    role: str
    author_id: str
    author_name: str
    content: str
    platform_message_id: str | None
    created_at: float


@dataclass(frozen=True)
class StoredAttachment:
    """A file posted with a message: where the platform keeps it, and what was read of it."""

    name: str
    kind: str  # "image", "text" or "pdf"
    url: str
    size: int = 0
    text: str = ""  # documents: the text the prompt used; pictures: ""


def db_path_problem(path: str) -> str | None:
    """Why SQLite could not create or open a database at `path` (None if it can).

    Muse creates the file, never missing folders: a typo in a path should be reported,
    not become a new directory tree somewhere unexpected.
    """
    if path == ":memory:":
        return None
    target = Path(path).expanduser()
    folder = target.parent
    if target.is_dir():
        return "that is a folder; give the path of a database file inside it"
    if not folder.exists():
        if any(p.exists() and not p.is_dir() for p in folder.parents):
            return "a part of that path is a file, not a folder"
        return f"folder {folder} does not exist (create it first)"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not target.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create files in {folder} (no write permission)"
    return None


class Memory:
    """One aiosqlite connection; aiosqlite runs every statement on its own thread."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: str | Path) -> Memory:
        path = str(path)
        if (problem := db_path_problem(path)) is not None:
            raise DatabaseUnavailable(f"database {path}: {problem}")
        db = await aiosqlite.connect(path, timeout=30)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        memory = cls(db, path)
        await memory._migrate()
        return memory

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database {self.path} has schema version {version}, newer than this Muse "
                f"({len(MIGRATIONS)}); upgrade Muse or use another --db"
            )
        for target in range(version + 1, len(MIGRATIONS) + 1):
            # executescript commits first; the version bump rides in the same script.
            await self._db.executescript(
                f"BEGIN;\n{MIGRATIONS[target - 1]}\nPRAGMA user_version = {int(target)};\nCOMMIT;"
            )
            log.info("database %s migrated to schema version %d", self.path, target)

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS)

    async def close(self) -> None:
        await self._db.close()

    async def add_message(
        self,
        conversation: str,
        role: str,
        content: str,
        *,
        author_id: str = "",
        author_name: str = "",
        platform_message_id: str | None = None,
        created_at: float | None = None,
    ) -> int:
        cur = await self._db.execute(
            "INSERT INTO messages (conversation, role, author_id, author_name, content,"
            " platform_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                conversation,
                role,
                author_id,
                author_name,
                content,
                platform_message_id,
                time.time() if created_at is None else created_at,
            ),
        )
        await self._db.commit()
        return int(cur.lastrowid or 0)

    async def add_attachments(
        self, message_id: int, conversation: str, files: list[StoredAttachment]
    ) -> None:
        for f in files:  # not executemany: see Generations.record
            await self._db.execute(
                "INSERT INTO attachments (message_id, conversation, name, kind, url, size, text,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, conversation, f.name, f.kind, f.url, f.size, f.text, time.time()),
            )
        await self._db.commit()

    async def attachments_of(self, message_ids: list[int]) -> dict[int, list[StoredAttachment]]:
        """The files of these messages, by message id, in the order they were posted."""
        if not message_ids:
            return {}
        marks = ",".join("?" * len(message_ids))
        async with self._db.execute(
            "SELECT message_id, name, kind, url, size, text FROM attachments"
            f" WHERE message_id IN ({marks}) ORDER BY id",
            message_ids,
        ) as cur:
            rows = await cur.fetchall()
        found: dict[int, list[StoredAttachment]] = {}
        for row in rows:
            values = dict(row)
            found.setdefault(values.pop("message_id"), []).append(StoredAttachment(**values))
        return found

    async def recent(self, conversation: str, limit: int = 200) -> list[StoredMessage]:
        """The newest `limit` messages of a conversation, oldest first."""
        async with self._db.execute(
            "SELECT * FROM (SELECT * FROM messages WHERE conversation = ? ORDER BY id DESC"
            " LIMIT ?) ORDER BY id",
            (conversation, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [StoredMessage(**dict(row)) for row in rows]

    async def forget(self, conversation: str) -> int:
        """Delete a conversation's messages, its summary and its channel context; returns
        how many messages went."""
        cur = await self._db.execute("DELETE FROM messages WHERE conversation = ?", (conversation,))
        removed = cur.rowcount
        for table in ("summaries", "channel_context"):
            await self._db.execute(f"DELETE FROM {table} WHERE conversation = ?", (conversation,))
        await self._db.commit()
        return removed

    async def find_by_platform_id(self, platform_message_id: str) -> StoredMessage | None:
        async with self._db.execute(
            "SELECT * FROM messages WHERE platform_message_id = ? ORDER BY id DESC LIMIT 1",
            (platform_message_id,),
        ) as cur:
            row = await cur.fetchone()
        return StoredMessage(**dict(row)) if row else None

    async def get_persona(self, conversation: str) -> str | None:
        async with self._db.execute(
            "SELECT prompt FROM personas WHERE conversation = ?", (conversation,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_persona(
        self, conversation: str, prompt: str, set_by: str, adapter: str | None = None
    ) -> None:
        """`adapter`: a LoRA persona ([[text.adapters]] name) bound with the prompt."""
        await self._db.execute(
            "INSERT INTO personas (conversation, prompt, set_by, updated_at, adapter)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (conversation) DO UPDATE SET prompt = excluded.prompt,"
            " set_by = excluded.set_by, updated_at = excluded.updated_at,"
            " adapter = excluded.adapter",
            (conversation, prompt, set_by, time.time(), adapter),
        )
        await self._db.commit()

    async def get_persona_adapter(self, conversation: str) -> str | None:
        async with self._db.execute(
            "SELECT adapter FROM personas WHERE conversation = ?", (conversation,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] is not None else None

    async def get_channel_model(self, conversation: str) -> str | None:
        async with self._db.execute(
            "SELECT model FROM channel_models WHERE conversation = ?", (conversation,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_channel_model(self, conversation: str, model: str, set_by: str) -> None:
        await self._db.execute(
            "INSERT INTO channel_models (conversation, model, set_by, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (conversation) DO UPDATE SET"
            " model = excluded.model, set_by = excluded.set_by, updated_at = excluded.updated_at",
            (conversation, model, set_by, time.time()),
        )
        await self._db.commit()

    async def reset_channel_model(self, conversation: str) -> bool:
        cur = await self._db.execute(
            "DELETE FROM channel_models WHERE conversation = ?", (conversation,)
        )
        await self._db.commit()
        return cur.rowcount > 0

    async def reset_persona(self, conversation: str) -> bool:
        cur = await self._db.execute("DELETE FROM personas WHERE conversation = ?", (conversation,))
        await self._db.commit()
        return cur.rowcount > 0

    async def add_feedback(
        self, platform: str, message_id: str, user_id: str, value: int, conversation: str = ""
    ) -> None:
        """Record 👍 (1) or 👎 (-1); a user's later reaction replaces the earlier one."""
        await self._db.execute(
            "INSERT INTO feedback (platform, message_id, user_id, value, conversation, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, message_id, user_id)"
            " DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            (platform, message_id, user_id, value, conversation, time.time()),
        )
        await self._db.commit()

    async def remove_feedback(
        self, platform: str, message_id: str, user_id: str, value: int
    ) -> None:
        await self._db.execute(
            "DELETE FROM feedback WHERE platform = ? AND message_id = ? AND user_id = ?"
            " AND value = ?",
            (platform, message_id, user_id, value),
        )
        await self._db.commit()

    async def feedback_counts(self, conversation_prefix: str = "") -> tuple[int, int]:
        """(👍, 👎) counts, optionally for conversations under a key prefix."""
        async with self._db.execute(
            "SELECT COALESCE(SUM(value = 1), 0), COALESCE(SUM(value = -1), 0) FROM feedback"
            " WHERE substr(conversation, 1, length(?)) = ?",
            (conversation_prefix, conversation_prefix),
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def export(self, conversation: str) -> list[dict[str, object]]:
        """Every stored message of a conversation, oldest first (for data requests), each
        with the references of its files (`attachments`)."""
        async with self._db.execute(
            "SELECT * FROM messages WHERE conversation = ? ORDER BY id", (conversation,)
        ) as cur:
            rows = [dict(row) for row in await cur.fetchall()]
        files = await self.attachments_of([int(row["id"]) for row in rows])
        for row in rows:
            row["attachments"] = [vars(f) for f in files.get(int(row["id"]), [])]
        return rows

    async def export_memory(self, conversation: str) -> dict[str, object]:
        """A conversation's summary and channel context (for data requests)."""
        async with self._db.execute(
            "SELECT * FROM summaries WHERE conversation = ?", (conversation,)
        ) as cur:
            summary = await cur.fetchone()
        async with self._db.execute(
            "SELECT * FROM channel_context WHERE conversation = ? ORDER BY id", (conversation,)
        ) as cur:
            context = [dict(row) for row in await cur.fetchall()]
        return {"summary": dict(summary) if summary else None, "channel_context": context}

    async def purge_user(self, platform: str, user_id: str) -> dict[str, int]:
        """Delete everything a user wrote or gave on one platform; returns counts per table.

        Summaries of conversations the user spoke in go too (they may retell what the
        user said); they are made again from what remains when turns next fall out.
        """
        prefix = f"{platform}:"
        statements = {
            "summaries": (
                "DELETE FROM summaries WHERE conversation IN ("
                " SELECT conversation FROM messages WHERE author_id = ? AND role = 'user'"
                " AND substr(conversation, 1, length(?)) = ?"
                " UNION SELECT conversation FROM channel_context WHERE author_id = ?"
                " AND substr(conversation, 1, length(?)) = ?)",
                (user_id, prefix, prefix, user_id, prefix, prefix),
            ),
            "channel_context": (
                "DELETE FROM channel_context WHERE author_id = ?"
                " AND substr(conversation, 1, length(?)) = ?",
                (user_id, prefix, prefix),
            ),
            "messages": (
                "DELETE FROM messages WHERE author_id = ? AND role = 'user'"
                " AND substr(conversation, 1, length(?)) = ?",
                (user_id, prefix, prefix),
            ),
            "feedback": (
                "DELETE FROM feedback WHERE platform = ? AND user_id = ?",
                (platform, user_id),
            ),
            "usage": ("DELETE FROM usage WHERE user = ?", (f"{platform}:{user_id}",)),
            # Every generation whose prompt holds their words, not only those they asked.
            "generations": (
                "DELETE FROM generations WHERE asker = ?1 OR EXISTS"
                " (SELECT 1 FROM json_each(generations.authors) WHERE value = ?1)",
                (f"{platform}:{user_id}",),
            ),
        }
        counts = {}
        for table, (sql, params) in statements.items():
            cur = await self._db.execute(sql, params)
            counts[table] = cur.rowcount
        await self._db.commit()
        return counts

    async def prune(self, older_than: float) -> int:
        """Delete messages created before `older_than` (a Unix time), channel context as old,
        and summaries retelling anything that old; returns how many messages went."""
        cur = await self._db.execute("DELETE FROM messages WHERE created_at < ?", (older_than,))
        removed = cur.rowcount
        await self._db.execute("DELETE FROM channel_context WHERE created_at < ?", (older_than,))
        await self._db.execute("DELETE FROM summaries WHERE oldest_at < ?", (older_than,))
        await self._db.commit()
        return removed

    @property
    def connection(self) -> aiosqlite.Connection:
        """For feature modules that own their own tables (schedules)."""
        return self._db
