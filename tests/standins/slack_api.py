"""Local stand-in for Slack's Web API, for tests that drive the real slack_sdk / slack_bolt.

    async with SlackApiStandin() as slack:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)

slack_sdk posts most methods form-encoded or as query parameters (`params=`), the chat.* methods
with blocks as JSON, and sends the token as `Authorization: Bearer ...`; all of these are parsed
and merged into `SlackCall.params` (values from forms/queries stay strings, as sent). Responses
follow Slack's documented shapes. Every request is recorded, including refused ones.
"""

from __future__ import annotations

import base64
import itertools
import json
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.slack_socket import Changes, SlackSocketStandin

BOT_TOKEN = "xoxb-muse-test-token"
APP_TOKEN = "xapp-1-muse-test-token"
TEAM_ID = "T0MUSE0001"
TEAM_NAME = "Muse Test"
TEAM_DOMAIN = "muse-test"
APP_ID = "A0MUSEAPP1"
BOT_USER_ID = "U0MUSEBOT1"
BOT_ID = "B0MUSEBOT1"
BOT_NAME = "muse"
UPLOAD = "upload"  # method name under which the upload POST to `upload_url` is recorded
RESPONSE_URL = "response_url"  # method name for POSTs to a slash command's response_url

# The bot scopes of the app manifest in README.md: what `scopes` may report for the bot token.
BOT_SCOPES = (
    "app_mentions:read,channels:history,groups:history,im:history,mpim:history,channels:read,"
    "groups:read,im:read,mpim:read,chat:write,commands,files:read,files:write,reactions:read,"
    "users:read"
).split(",")

# Slack rejects long texts with msg_too_long; it advises <= 4,000 characters and, per
# /work/shared/platform-notes.md, errors appear near there, so the stand-in is strict by default.
DEFAULT_MAX_TEXT = 4_000


class SlackError(Exception):
    """Raised by a method handler to answer `{"ok": false, "error": ...}`."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class SlackCall:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]  # keys lower-cased
    token: str | None
    content_type: str
    at: float  # time.monotonic() when the request arrived
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class UploadedFile:
    file_id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    data: bytes | None = None  # None until the upload POST arrives
    title: str | None = None
    channel_id: str | None = None
    channels: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False
    deleted: bool = False


Handler = Callable[[dict[str, Any], str], dict[str, Any]]


class SlackApiStandin:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        app_id: str = APP_ID,
        max_text_length: int | None = DEFAULT_MAX_TEXT,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.max_text_length = max_text_length
        # The bot token's scopes, answered in `X-OAuth-Scopes` as Slack does (None: no header).
        self.scopes: list[str] | None = None
        # Overrides for conversations.info / users.info; unknown ids get a synthesized object.
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}
        # Files people shared (served at url_private), and every download's headers.
        self.user_files: dict[str, tuple[str, bytes]] = {}
        self.downloads: list[tuple[str, dict[str, str]]] = []  # (path, request headers)
        self.reactions: list[tuple[str, str, str]] = []  # (channel, timestamp, name)
        self.ephemerals: list[dict[str, Any]] = []
        # What people said, for conversations.history / .replies (see `said`), and the most
        # a page of those holds (Slack may return fewer than `limit` before the end).
        self.history: list[dict[str, Any]] = []
        self.history_page_max: int | None = None
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._calls: list[SlackCall] = []
        self._ratelimits: dict[str, list[int]] = {}  # method -> [times left, retry_after]
        self._failures: dict[str, list[Any]] = {}  # method -> [times left, error]
        self._changes = Changes()
        self.socket = SlackSocketStandin(app_id, self._changes)
        self._last_ts_us = 0
        self._file_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "reactions.add": self._reactions_add,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.delete": self._files_delete,
            "files.info": self._files_info,
            "apps.connections.open": self._connections_open,
        }

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> SlackApiStandin:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/commands/{tail:.+}", self._respond)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        app.router.add_get(self.socket.path, self.socket.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackApiStandin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """What to pass as `AsyncWebClient(base_url=...)` (trailing slash matters to urljoin)."""
        return f"{self.base_url}/api/"

    # --- scripting ----------------------------------------------------------------------------

    def ratelimit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 429 with `Retry-After: retry_after`."""
        self._ratelimits[method] = [times, retry_after]

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}` (HTTP 200)."""
        self._failures[method] = [times, error]

    def said(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        ts: str | None = None,
    ) -> dict[str, Any]:
        """A person's message that conversations.history / .replies will show."""
        message = {"type": "message", "user": user, "text": text, "ts": ts or self._next_ts()}
        if thread_ts:
            message["thread_ts"] = thread_ts
        message["channel"] = channel
        self.history.append(message)
        return message

    # --- inspection ---------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        return [c for c in self._calls if method is None or c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:
        """Wait until `method` has been called `count` times (any outcome); returns its calls."""
        await self._changes.until(
            lambda: len(self.calls(method)) >= count,
            timeout,
            lambda: f"{count}x {method} (calls so far: {[c.method for c in self._calls]})",
        )
        return self.calls(method)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages the app has posted and not deleted, oldest first, with edits applied."""
        found = [m for (ch, _), m in self._messages.items() if channel is None or ch == channel]
        return sorted(found, key=lambda m: ts_key(m["ts"]))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._messages.get((channel, ts))

    def response_url(self) -> str:
        """A fresh slash-command `response_url` whose POSTs are recorded as RESPONSE_URL calls."""
        return f"{self.base_url}/commands/{self.team_id}/{next(self._file_ids)}/standin"

    def uploaded_files(self) -> list[UploadedFile]:
        """Files shared and not deleted since."""
        return [f for f in self.files.values() if f.completed and not f.deleted]

    # --- HTTP plumbing ------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        arrived = time.monotonic()
        params: dict[str, Any] = dict(request.query)
        content_type = request.content_type
        bad_json = False
        if request.body_exists:
            if content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body, bad_json = None, True
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        token = token or params.pop("token", None)
        params.pop("token", None)

        if bad_json:
            status, body, headers = 200, {"ok": False, "error": "invalid_json"}, {}
        else:
            status, body, headers = self._answer(method, params, token)
        self._calls.append(
            SlackCall(
                method=method,
                params=params,
                headers={k.lower(): v for k, v in request.headers.items()},
                token=token,
                content_type=content_type,
                at=arrived,
                status=status,
                response=body,
            )
        )
        self._changes.notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token not in (self.bot_token, self.app_token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        wants_app_token = method == "apps.connections.open"
        if (token == self.app_token) != wants_app_token:
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        limit = self._ratelimits.get(method)
        if limit and limit[0] > 0:
            limit[0] -= 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limit[1])}
        failure = self._failures.get(method)
        if failure and failure[0] > 0:
            failure[0] -= 1
            return 200, {"ok": False, "error": failure[1]}, {}
        scopes = {}
        if self.scopes is not None and token == self.bot_token:
            scopes = {"X-OAuth-Scopes": ",".join(self.scopes)}
        try:
            return 200, {"ok": True, **handler(params, token)}, scopes
        except SlackError as e:
            return 200, {"ok": False, "error": e.error}, {}

    async def _upload(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        file_id = request.match_info["file_id"]
        upload = self.files.get(file_id)
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            data = part.file.read() if part is not None else b""
            if upload is not None and part is not None and part.filename:
                upload.filename = part.filename
        else:
            data = await request.read()
        status, text = (404, "file not found") if upload is None else (200, f"OK - {len(data)}")
        if upload is not None:
            upload.data = data
        self._calls.append(
            SlackCall(
                method=UPLOAD,
                params={
                    "file_id": file_id,
                    "filename": upload.filename if upload else None,
                    "size": len(data),
                },
                headers={k.lower(): v for k, v in request.headers.items()},
                token=None,
                content_type=request.content_type,
                at=arrived,
                status=status,
                response={"ok": status == 200, "body": text},
            )
        )
        self._changes.notify()
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _respond(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        ok = isinstance(payload, dict)
        self._calls.append(
            SlackCall(
                method=RESPONSE_URL,
                params={**(payload if ok else {}), "url": str(request.url)},
                headers={k.lower(): v for k, v in request.headers.items()},
                token=None,
                content_type=request.content_type,
                at=arrived,
                status=200 if ok else 400,
                response={"ok": ok, "body": "ok" if ok else "invalid_payload"},
            )
        )
        self._changes.notify()
        return web.Response(status=200 if ok else 400, text="ok" if ok else "invalid_payload")

    # --- helpers ------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        # Slack ts: seconds.microseconds, unique and increasing within a channel.
        now = int(time.time() * 1_000_000)
        self._last_ts_us = max(now, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _check_text(self, text: str | None) -> None:
        if text and self.max_text_length is not None and len(text) > self.max_text_length:
            raise SlackError("msg_too_long")

    def _bot_message(self, ts: str, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": params.get("text") or "",
            "ts": ts,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": BOT_NAME},
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = _maybe_json(params[key])
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return message

    def _stored(self, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        channel, ts = _need(params, "channel", "channel_not_found"), params.get("ts")
        if not ts or (channel, ts) not in self._messages:
            raise SlackError("message_not_found")
        return channel, ts, self._messages[(channel, ts)]

    # --- methods ------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = _need(params, "channel", "channel_not_found")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        self._check_text(params.get("text"))
        ts = self._next_ts()
        message = self._bot_message(ts, params)
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": dict(message)}

    def _update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel, ts, message = self._stored(params)
        if not any(params.get(k) is not None for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        self._check_text(params.get("text"))
        for key in ("text", "blocks", "attachments"):
            if params.get(key) is not None:
                message[key] = _maybe_json(params[key])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    def _delete(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel, ts, _ = self._stored(params)
        del self._messages[(channel, ts)]
        return {"channel": channel, "ts": ts}

    def _post_ephemeral(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = _need(params, "channel", "channel_not_found")
        user = _need(params, "user", "user_not_in_channel")
        if not any(params.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        self._check_text(params.get("text"))
        ts = self._next_ts()
        self.ephemerals.append({**self._bot_message(ts, params), "channel": channel, "to": user})
        return {"message_ts": ts}

    def _reactions_add(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        name = _need(params, "name", "invalid_name")
        channel = _need(params, "channel", "no_item_specified")
        timestamp = _need(params, "timestamp", "no_item_specified")
        if (channel, timestamp, name) in self.reactions:
            raise SlackError("already_reacted")
        self.reactions.append((channel, timestamp, name))
        return {}

    def _conversations_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = _need(params, "channel", "channel_not_found")
        if channel in self.channels:
            return {"channel": self.channels[channel]}
        is_im, is_private = channel.startswith("D"), channel.startswith(("D", "G"))
        info: dict[str, Any] = {
            "id": channel,
            "created": 1_700_000_000,
            "is_channel": not is_private,
            "is_group": channel.startswith("G"),
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "is_member": True,
            "context_team_id": self.team_id,
        }
        if not is_im:
            info.update(name=f"chan-{channel.lower()}", is_general=False, num_members=3)
        return {"channel": info}

    def _channel_history(self, channel: str) -> list[dict[str, Any]]:
        posted = [{**m, "channel": ch} for (ch, _), m in self._messages.items() if ch == channel]
        found = [m for m in self.history if m["channel"] == channel] + posted
        return sorted(found, key=lambda m: ts_key(m["ts"]))

    def _page(
        self, found: list[dict[str, Any]], params: dict[str, Any], default_limit: int, most: int
    ) -> dict[str, Any]:
        """One page as Slack answers it: `limit` (1 to `most`), `oldest` / `latest`
        (exclusive unless `inclusive`), and an opaque `cursor` to continue from."""
        limit = int(params.get("limit") or default_limit)
        if not 1 <= limit <= most:
            raise SlackError("invalid_limit")
        inclusive = str(params.get("inclusive", "0")).lower() in ("1", "true")
        oldest, latest = params.get("oldest"), params.get("latest")

        def inside(ts: str) -> bool:
            if oldest is not None and (
                ts_key(ts) < ts_key(str(oldest)) or (not inclusive and ts == str(oldest))
            ):
                return False
            return (
                latest is None
                or ts_key(ts) < ts_key(str(latest))
                or (inclusive and ts == str(latest))
            )

        found = [m for m in found if inside(m["ts"])]
        start = 0
        if params.get("cursor"):
            try:
                resume = base64.b64decode(str(params["cursor"])).decode().removeprefix("next_ts:")
            except ValueError:
                raise SlackError("invalid_cursor") from None
            start = next((i for i, m in enumerate(found) if m["ts"] == resume), len(found))
        size = min(limit, self.history_page_max or limit)
        page = found[start : start + size]
        rest = found[start + size :]
        cursor = base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode() if rest else ""
        shown = [{k: v for k, v in m.items() if k != "channel"} for m in page]
        return {
            "messages": shown,
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_history(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = _need(params, "channel", "channel_not_found")
        top = [m for m in self._channel_history(channel) if m.get("thread_ts") in (None, m["ts"])]
        return self._page(list(reversed(top)), params, 100, 999)  # newest first

    def _conversations_replies(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = _need(params, "channel", "channel_not_found")
        ts = _need(params, "ts", "thread_not_found")
        found = self._channel_history(channel)
        if not any(m["ts"] == ts for m in found):
            raise SlackError("thread_not_found")
        thread = [m for m in found if m["ts"] == ts or m.get("thread_ts") == ts]
        return self._page(thread, params, 1000, 1000)  # the parent, then replies, oldest first

    def _users_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = _need(params, "user", "user_not_found")
        if user in self.users:
            return {"user": self.users[user]}
        is_bot = user == self.bot_user_id
        name = BOT_NAME if is_bot else f"user-{user.lower()}"
        real_name = "Muse" if is_bot else f"User {user}"
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "deleted": False,
                "real_name": real_name,
                "tz": "Europe/Paris",
                "is_bot": is_bot,
                "is_admin": False,
                "profile": {"display_name": name, "real_name": real_name, "team": self.team_id},
            }
        }

    def _get_upload_url(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        filename = _need(params, "filename", "invalid_arguments")
        try:
            length = int(params.get("length", ""))
        except ValueError as e:
            raise SlackError("invalid_arguments") from e
        file_id = f"F0MUSE{next(self._file_ids):05d}"
        self.files[file_id] = UploadedFile(
            file_id=file_id,
            filename=filename,
            length=length,
        )
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        items = _maybe_json(params.get("files") or "[]")
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        uploads: list[UploadedFile] = []
        for item in items:
            upload = self.files.get(str(item.get("id")))
            if upload is None or upload.data is None:
                raise SlackError("file_not_found")  # *assumed* error name
            uploads.append(upload)
        channels = [c for c in str(params.get("channels") or "").split(",") if c]
        for item, upload in zip(items, uploads, strict=True):
            upload.title = item.get("title") or upload.filename
            upload.channel_id = params.get("channel_id")
            upload.channels = channels
            upload.thread_ts = params.get("thread_ts")
            upload.initial_comment = params.get("initial_comment")
            upload.completed = True
        files = [self._file_object(u) for u in uploads]
        # Sharing posts a message; its ts is not returned (Slack shares asynchronously).
        for channel in ([params["channel_id"]] if params.get("channel_id") else []) + channels:
            ts = self._next_ts()
            message = self._bot_message(ts, params)
            message.update(text=params.get("initial_comment") or "", files=files, upload=True)
            self._messages[(channel, ts)] = message
        return {"files": files}

    def _files_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        upload = self.files.get(str(params.get("file")))
        if upload is None or not upload.completed or upload.deleted:
            raise SlackError("file_not_found")
        return {"file": self._file_object(upload)}

    def _files_delete(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        """A bot may delete the files it uploaded; they vanish from the messages sharing
        them, and a message left with neither files nor text goes too."""
        upload = self.files.get(_need(params, "file", "file_not_found"))
        if upload is None or upload.deleted:
            raise SlackError("file_not_found")
        upload.deleted = True
        for key, message in list(self._messages.items()):
            files = message.get("files")
            if files and any(f["id"] == upload.file_id for f in files):
                message["files"] = [f for f in files if f["id"] != upload.file_id]
                if not message["files"] and not message.get("text"):
                    del self._messages[key]
        return {}

    def add_user_file(
        self, name: str, data: bytes, mimetype: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """A file a person shared, as a message event's `files` entry carries it; its
        `url_private` is served here, to the bot token only (as Slack does)."""
        file_id = f"F{next(self._file_ids):08d}"
        self.user_files[file_id] = (name, data)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "",
            "size": len(data),
            "url_private": f"{self.base_url}/files-pri/{file_id}/{name}",
            "url_private_download": f"{self.base_url}/files-pri/{file_id}/download/{name}",
        }

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """url_private: the bytes for `Authorization: Bearer <bot token>`; otherwise, as
        Slack does, its HTML sign-in page with a 200."""
        self.downloads.append((request.path, dict(request.headers)))
        file_id = request.match_info["file_id"]
        found = self.user_files.get(file_id)
        shared = self.files.get(file_id)  # one the bot shared
        if found is None and shared is not None and shared.data is not None:
            found = (shared.filename, shared.data)
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}" or not found:
            page = "<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
            return web.Response(text=page, content_type="text/html")
        return web.Response(body=found[1], content_type="application/octet-stream")

    def _file_object(self, upload: UploadedFile) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        now = int(time.time())
        return {
            "id": upload.file_id,
            "created": now,
            "timestamp": now,
            "name": upload.filename,
            "title": upload.title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "",
            "user": self.bot_user_id,
            "size": len(upload.data or b""),
            "url_private": f"{self.base_url}/files-pri/{upload.file_id}/{upload.filename}",
            "permalink": (
                f"https://{TEAM_DOMAIN}.slack.com/files/{self.bot_user_id}/"
                f"{upload.file_id}/{upload.filename}"
            ),
        }

    def _connections_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ticket = self.socket.issue_ticket()
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"url": f"{ws_base}{self.socket.path}?ticket={ticket}&app_id={self.app_id}"}


def ts_key(ts: str) -> tuple[int, int]:
    """Order Slack ts values exactly (a float cannot hold every microsecond)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _need(params: dict[str, Any], key: str, error: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise SlackError(error)
    return str(value)


def _maybe_json(value: Any) -> Any:
    """Form-encoded clients send blocks/files as JSON strings; JSON clients send them as-is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
