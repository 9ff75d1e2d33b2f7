"""SlackReply: the core's Reply on Slack — mrkdwn, split, paced, streamed by chat.update.

A streamed answer is posted with its first words and grows by chat.update; every write
takes a turn of the channel's pacer, and each turn makes the one write that brings the
messages closest to the newest text, so a slow channel gets fewer, bigger edits. Text over
`limit` characters continues in further messages in the same thread, split on the Markdown
by `adapters.common.textsplit` (code fences closed and reopened) and then converted to mrkdwn. The
final state is exactly `render(final text)`.

Slack's chat streaming API (chat.startStream/appendStream/stopStream) is not used: it
needs a thread and, in channels, the recipient's ids, it takes Markdown that Slack renders
its own way (so the final text could not be guaranteed to match ours), and not every
workspace has it yet; chat.update works everywhere and within Tier 3 when paced.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.pacing import ChannelPacer
from adapters.common.streaming import follow
from adapters.common.textsplit import MIN_LIMIT, split_message
from adapters.slack.mrkdwn import to_mrkdwn
from core.chat.reply import Attachment, Sent

log = logging.getLogger(__name__)

EMPTY_ANSWER = "…"  # Slack refuses an empty text; shown when a reply has no text at all
FILES_PER_UPLOAD = 10  # files shared together under one comment
WRITE_ATTEMPTS = 3  # consecutive failed writes (after slack_sdk's own retries) before giving up
_GONE = {"not_in_channel", "channel_not_found", "is_archived"}

# Bolt's `respond`: posts to a slash command's response_url.
Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Where:
    channel: str
    thread_ts: str | None = None  # None: top level (DMs, scheduled posts)
    user: str | None = None  # who sees ephemeral answers; None: they are posted normally


def render(text: str, limit: int, *, partial: bool = False) -> list[str]:
    """Markdown -> mrkdwn messages of at most `limit` characters each.

    The split is made on the Markdown (so fences are handled once, by textsplit); when
    conversion makes a piece longer than `limit` (entities, link syntax), split smaller.
    """
    if not text.strip():
        return [EMPTY_ANSWER]
    size = limit
    while True:
        pieces = split_message(text, size)
        last = len(pieces) - 1
        rendered = [to_mrkdwn(p, partial=partial and i == last) for i, p in enumerate(pieces)]
        rendered = [r if r.strip() else EMPTY_ANSWER for r in rendered]
        longest = max(len(r) for r in rendered)
        if longest <= limit or size <= MIN_LIMIT:
            return rendered
        size = max(MIN_LIMIT, min(size - 1, size * limit // longest - 8))


class SlackReply:
    def __init__(
        self,
        client: AsyncWebClient,
        where: Where,
        pacer: ChannelPacer,
        limit: int,
        *,
        respond: Respond | None = None,
        private: bool = False,
    ) -> None:
        """`respond`: a slash command's response_url (ephemeral answers go there);
        `private`: every answer is seen by `where.user` alone."""
        self.client = client
        self.where = where
        self.pacer = pacer
        self.limit = limit
        self.respond = respond
        self.private = private
        self.status_ts: str | None = None
        self._status_text = ""
        self._messages: list[str] = []  # ts of the current answer's messages
        self._shown: list[str] = []  # what each of them shows

    # -- Reply protocol -----------------------------------------------------------------

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        if ephemeral or self.private:
            await self._drop_status()
            await self._ephemeral(text)
            return Sent((), text)
        self._begin()
        try:
            await self._show(lambda: text, final=True)
        except SlackApiError as exc:
            # A slash command in a channel Muse is not in: answer through the command.
            if self.respond is None or exc.response.get("error") not in _GONE or self._messages:
                raise
            await self.respond(text=to_mrkdwn(text), response_type="in_channel")
        return self._sent(text)

    async def stream(self, pieces: AsyncIterator[str]) -> Sent:
        self._begin()
        final = await follow(pieces, lambda current: self._show(current, final=False))
        await self._show(lambda: final, final=True)
        return self._sent(final)

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        if not files:
            return await self.send(text)
        await self._drop_status()
        captions = render(text, self.limit) if text.strip() else []
        ids: list[str] = []
        for i in range(0, len(files), FILES_PER_UPLOAD):
            group = files[i : i + FILES_PER_UPLOAD]
            comment = captions[0] if i == 0 and captions else None
            async with self.pacer.turn(self.where.channel):
                ids += await self._upload(group, comment)
        for extra in captions[1:]:
            async with self.pacer.turn(self.where.channel):
                ids.append(await self._post(extra))
        return Sent(tuple(ids), text)

    async def status(self, text: str) -> None:
        if self.private:
            if self.status_ts is None and not self._status_text:
                await self._ephemeral(text)  # once: ephemeral messages cannot be edited
                self._status_text = text
            return
        async with self.pacer.turn(self.where.channel):
            if self.status_ts is None:
                self.status_ts = await self._post(to_mrkdwn(text))
            else:
                await self._update(self.status_ts, to_mrkdwn(text))
        self._status_text = text

    # -- Web API calls (one each) -------------------------------------------------------

    async def _post(self, text: str) -> str:
        resp = await self.client.chat_postMessage(
            channel=self.where.channel,
            thread_ts=self.where.thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(resp["ts"])

    async def _update(self, ts: str, text: str) -> None:
        await self.client.chat_update(channel=self.where.channel, ts=ts, text=text)

    async def _delete(self, ts: str) -> None:
        await self.client.chat_delete(channel=self.where.channel, ts=ts)

    async def _upload(self, files: Sequence[Attachment], comment: str | None) -> list[str]:
        resp = await self.client.files_upload_v2(
            channel=self.where.channel,
            thread_ts=self.where.thread_ts,
            file_uploads=[
                {"content": f.data, "filename": f.filename, "title": f.filename} for f in files
            ],
            initial_comment=comment,
        )
        return [str(f.get("id")) for f in resp.get("files") or []]

    async def _ephemeral(self, text: str) -> None:
        for chunk in render(text, self.limit):
            if self.respond is not None:
                await self.respond(text=chunk, response_type="ephemeral")
            elif self.where.user is not None:
                await self.client.chat_postEphemeral(
                    channel=self.where.channel,
                    user=self.where.user,
                    thread_ts=self.where.thread_ts,
                    text=chunk,
                )
            else:  # nobody to show it to privately (a scheduled post): post it
                async with self.pacer.turn(self.where.channel):
                    await self._post(chunk)

    # -- the shown state ----------------------------------------------------------------

    def _begin(self) -> None:
        """Start a new answer; a status message becomes its first message."""
        self._messages, self._shown = [], []
        if self.status_ts is not None:
            self._messages, self._shown = [self.status_ts], [to_mrkdwn(self._status_text)]
            self.status_ts = None

    async def _drop_status(self) -> None:
        if self.status_ts is None:
            return
        ts, self.status_ts = self.status_ts, None
        async with self.pacer.turn(self.where.channel):
            try:
                await self._delete(ts)
            except SlackApiError as exc:
                log.warning("slack: could not delete a status message: %s", _error(exc))

    async def _show(self, text: Callable[[], str], *, final: bool) -> None:
        """Write, a paced turn at a time, until the messages show `text()`."""
        failures = 0
        while render(text(), self.limit, partial=not final) != self._shown:
            async with self.pacer.turn(self.where.channel):
                try:  # the newest text, read once the turn is ours
                    await self._write_once(render(text(), self.limit, partial=not final))
                    failures = 0
                except SlackApiError as exc:
                    failures += 1
                    if failures >= WRITE_ATTEMPTS or _error(exc) in _GONE:
                        raise
                    log.warning("slack: write failed (%s); trying again", _error(exc))

    async def _write_once(self, chunks: list[str]) -> None:
        """The one post, update or delete that brings the messages closest to `chunks`."""
        for i, chunk in enumerate(chunks):
            if i == len(self._messages):
                self._messages.append(await self._post(chunk))
                self._shown.append(chunk)
                return
            if self._shown[i] != chunk:
                await self._update(self._messages[i], chunk)
                self._shown[i] = chunk
                return
        if len(self._messages) > len(chunks):  # the text got shorter (e.g. a redaction)
            await self._delete(self._messages[-1])
            self._messages.pop()
            self._shown.pop()

    def _sent(self, text: str) -> Sent:
        return Sent(tuple(self._messages), text)


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc)
