"""SlackReply: the core's Reply on Slack — mrkdwn, split, paced, streamed by chat.update.

Streaming, pacing (`update_interval_seconds` per channel), continuing past `limit`
characters in the same thread and the status message are
`adapters.common.streamed_reply`'s, over chat.postMessage / chat.update / chat.delete.
This adds the rendering (split on the Markdown, then converted to mrkdwn, which never
pings anyone), Slack's private answers (response_url, chat.postEphemeral), retrying a
failed write and files_upload_v2. The final state is exactly `render(final text)`.

Slack's chat streaming API (chat.startStream/appendStream/stopStream) is not used: it
needs a thread and, in channels, the recipient's ids, it takes Markdown that Slack renders
its own way (so the final text could not be guaranteed to match ours), and not every
workspace has it yet; chat.update works everywhere and within Tier 3 when paced.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.pacing import ChannelPacer
from adapters.common.streamed_reply import EMPTY_ANSWER, StreamedReply
from adapters.common.textsplit import MIN_LIMIT, split_message
from adapters.slack.mrkdwn import to_mrkdwn
from core.chat.reply import Attachment, Sent

log = logging.getLogger(__name__)

FILES_PER_UPLOAD = 10  # files shared together under one comment
_GONE = {"not_in_channel", "channel_not_found", "is_archived"}

# Bolt's `respond`: posts to a slash command's response_url.
Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Where:
    channel: str
    thread_ts: str | None = None  # None: top level (DMs, scheduled posts)
    user: str | None = None  # who sees ephemeral answers; None: they are posted normally


class ImagePostHook(Protocol):
    """Lets the image feature name who asked in the caption, and put its buttons under
    the posted pictures."""

    def caption(self, text: str) -> str: ...

    async def posted(self, reply: SlackReply, file_ids: list[str]) -> None: ...


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


class SlackSurface:
    """A channel or thread, through chat.postMessage / chat.update / chat.delete; a
    message is its ts. Private answers do not come here (see SlackReply)."""

    def __init__(self, client: AsyncWebClient, where: Where, limit: int) -> None:
        self.client = client
        self.where = where
        self.pace_key = where.channel
        self.max_length = limit

    async def post(self, text: str, *, ephemeral: bool = False, after: str | None = None) -> str:
        return await self.post_message(text)

    async def post_message(self, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """chat.postMessage in the reply's place, links unfurled never; its ts."""
        extra = {"blocks": blocks} if blocks is not None else {}
        resp = await self.client.chat_postMessage(
            channel=self.where.channel,
            thread_ts=self.where.thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        return str(resp["ts"])

    async def edit(self, message: str, text: str) -> str:
        await self.client.chat_update(channel=self.where.channel, ts=message, text=text)
        return message

    async def delete(self, message: str) -> None:
        await self.client.chat_delete(channel=self.where.channel, ts=message)


class SlackReply(StreamedReply[str]):
    def __init__(
        self,
        client: AsyncWebClient,
        where: Where,
        pacer: ChannelPacer,
        limit: int,
        *,
        respond: Respond | None = None,
        private: bool = False,
        images: ImagePostHook | None = None,
    ) -> None:
        """`respond`: a slash command's response_url (ephemeral answers go there);
        `private`: every answer is seen by `where.user` alone; `images`: what goes with
        posted pictures (the requester's name, buttons)."""
        self.slack = SlackSurface(client, where, limit)
        super().__init__(self.slack, pacer)
        self.client = client
        self.where = where
        self.limit = limit
        self.respond = respond
        self.private = private
        self.images = images
        self._told_privately = False  # a private status was shown (it cannot be edited)

    # -- hooks of the streamed reply ----------------------------------------------------

    def render(self, text: str, *, final: bool) -> list[str]:
        return render(text, self.limit, partial=not final)

    def retryable(self, exc: Exception) -> bool:
        return isinstance(exc, SlackApiError) and _error(exc) not in _GONE

    def status_gone(self, exc: Exception) -> bool:
        if not isinstance(exc, SlackApiError):
            return False
        log.warning("slack: could not delete a status message: %s", _error(exc))
        return True

    # -- Reply protocol -----------------------------------------------------------------

    async def send(self, text: str, *, ephemeral: bool = False) -> Sent:
        if ephemeral or self.private:
            await self.drop_status()
            await self._ephemeral(text)
            return Sent((), text)
        try:
            return await super().send(text)
        except SlackApiError as exc:
            # A slash command in a channel Muse is not in: answer through the command.
            if self.respond is None or _error(exc) not in _GONE or self.has_messages:
                raise
            await self.respond(text=to_mrkdwn(text), response_type="in_channel")
            return self.sent(text)

    async def upload(self, files: list[Attachment], text: str) -> Sent:
        if not files:
            return await self.send(text)
        await self.drop_status()
        caption = self.images.caption(text) if self.images is not None else text
        captions = render(caption, self.limit) if caption.strip() else []
        file_ids: list[str] = []
        for i in range(0, len(files), FILES_PER_UPLOAD):
            group = files[i : i + FILES_PER_UPLOAD]
            comment = captions[0] if i == 0 and captions else None
            async with self.turn():
                file_ids += await self._upload(group, comment)
        ids = list(file_ids)
        for extra in captions[1:]:
            ids.append(await self.post_paced(extra))
        if self.images is not None:
            await self.images.posted(self, file_ids)
        return Sent(tuple(ids), text)

    async def post_blocks(self, text: str, blocks: list[dict[str, Any]]) -> str:
        """A Block Kit message (`text`: what notifications show) in the reply's place,
        paced like every write; its ts."""
        async with self.turn():
            return await self.slack.post_message(text, blocks)

    async def status(self, text: str) -> None:
        if not self.private:
            await super().status(text)
        elif not self._told_privately:
            await self._ephemeral(text)  # once: ephemeral messages cannot be edited
            self._told_privately = True

    # -- Web API calls (one each) -------------------------------------------------------

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
                await self.post_paced(chunk)


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc)
