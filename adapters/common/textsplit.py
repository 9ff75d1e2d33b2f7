"""Split long replies into platform-sized messages without breaking code blocks.

Cuts prefer, in order: paragraph breaks, line breaks, sentence ends, spaces, then a hard cut.
Whitespace at a cut stays at the end of the earlier chunk. A chunk that ends inside a fenced
code block gets a closing fence, and the next one reopens it with the same language tag, so
every chunk renders on its own; those inserted markers count toward the limit.

Fences follow Discord's (and Slack's) reading: every left-to-right, non-overlapping "```"
toggles a code block, as `str.count("```")` counts them. Cuts never split such a marker (a
backtick run is only cut at multiples of three from its start), so each chunk's original text
has the same fences it had in the whole message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = "```"
MIN_LIMIT = 10  # room for "```\n", "```" and a few characters of content

# Discord takes the rest of an opening fence's line as the language when it is one word.
_LANG = re.compile(r"[A-Za-z0-9_+#.\-]*")
_REOPEN = re.compile(r"```[A-Za-z0-9_+#.\-]*\n")
_CLOSERS = "\"')]}»”’"  # may follow a sentence end: `He said "no." Then...`
_SENTENCE_ENDS = ".!?…"

# Cut preferences, best first.
_PARAGRAPH, _LINE, _SENTENCE, _SPACE, _ANY = range(5)


@dataclass(frozen=True)
class Chunk:
    """One outgoing message: a slice of the input plus any fence markers added around it."""

    reopen: str  # "" or "```lang\n" that reopens a code block cut at the previous chunk
    body: str  # exactly text[start:start + len(body)] of the input
    close: str  # "" or "```" that closes a code block this chunk cuts

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into messages of at most `limit` characters (see module docstring).

    Empty text gives no messages. Text that fits is returned unchanged as one message.
    """
    return [chunk.text for chunk in split_chunks(text, limit)]


def join_bodies(chunks: list[Chunk]) -> str:
    """The input again: the chunks without their inserted fence markers."""
    return "".join(chunk.body for chunk in chunks)


def is_reopen_marker(marker: str) -> bool:
    return _REOPEN.fullmatch(marker) is not None


def split_chunks(text: str, limit: int) -> list[Chunk]:
    """Like `split_message`, keeping inserted markers apart from the input's text."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    if not text:
        return []
    if len(text) <= limit:
        return [Chunk("", text, "")]
    return _Splitter(text, limit).run()


class _Splitter:
    def __init__(self, text: str, limit: int) -> None:
        self.text = text
        self.limit = limit
        n = len(text)
        # Keep at least one non-space character for the last chunk: a whitespace-only
        # message is rejected as empty by chat platforms.
        self.last_content = len(text.rstrip())
        self.cuttable = [True] * (n + 1)  # cut between text[p-1] and text[p] keeps fences intact
        self.in_opener = [False] * (n + 1)  # cut inside an opening fence's "```lang\n" line
        self.after_opener = [False] * (n + 1)  # cut would leave an empty block behind
        self.inside = [False] * (n + 1)  # a code block is open at this cut
        self.lang = [""] * (n + 1)  # language tag of that open block
        self._scan()

    def _scan(self) -> None:
        text, n = self.text, len(self.text)
        run = 0  # length of the backtick run ending at the current position
        for p in range(1, n):
            run = run + 1 if text[p - 1] == "`" else 0
            if text[p] == "`" and run % 3 != 0:
                self.cuttable[p] = False
            if text[p - 1] == "\r" and text[p] == "\n":
                self.cuttable[p] = False

        opened = False
        lang = ""
        pos = 0
        boundaries: list[tuple[int, bool, str]] = []  # (position, inside after it, lang)
        while (start := text.find(FENCE, pos)) != -1:
            end = start + len(FENCE)
            opened = not opened
            if opened:
                line_end = text.find("\n", end)
                rest = text[end:line_end] if line_end != -1 else None
                if rest is not None and _LANG.fullmatch(rest):
                    lang = rest
                    for p in range(end, line_end + 1):
                        self.in_opener[p] = True
                    self.after_opener[line_end + 1] = True
                else:
                    lang = ""
            boundaries.append((end, opened, lang))
            pos = end

        state, current_lang, b = False, "", 0
        for p in range(n + 1):
            while b < len(boundaries) and boundaries[b][0] <= p:
                _, state, current_lang = boundaries[b]
                b += 1
            self.inside[p] = state
            self.lang[p] = current_lang if state else ""

    def _reopen_marker(self, p: int) -> str:
        if not self.inside[p]:
            return ""
        marker = f"{FENCE}{self.lang[p]}\n"
        # A long tag must not eat the room for content at small limits.
        if len(marker) + len(FENCE) > self.limit // 2:
            marker = f"{FENCE}\n"
        return marker

    def run(self) -> list[Chunk]:
        text, n = self.text, len(self.text)
        chunks: list[Chunk] = []
        start = 0
        while start < n:
            reopen = self._reopen_marker(start)
            if len(reopen) + n - start <= self.limit:
                chunks.append(Chunk(reopen, text[start:], ""))
                break
            cut = self._best_cut(start, len(reopen))
            close = FENCE if self.inside[cut] else ""
            chunks.append(Chunk(reopen, text[start:cut], close))
            start = cut
        return chunks

    def _fits(self, start: int, p: int, reopen_len: int) -> bool:
        close = len(FENCE) if self.inside[p] else 0
        return reopen_len + (p - start) + close <= self.limit

    def _best_cut(self, start: int, reopen_len: int) -> int:
        text = self.text
        hi = min(len(text) - 1, start + self.limit - reopen_len)
        room = self.limit - reopen_len - len(FENCE)
        lo = start + max(1, room // 2)  # preferred cuts must fill at least half a message
        for keep_content in (True, False):
            for level in (_PARAGRAPH, _LINE, _SENTENCE, _SPACE, _ANY):
                floor = start + 1 if level == _ANY else lo
                for p in range(hi, floor - 1, -1):
                    if keep_content and p > self.last_content:
                        continue
                    if not (self.cuttable[p] and not self.in_opener[p]):
                        continue
                    if not self._fits(start, p, reopen_len):
                        continue
                    if level != _ANY and self.after_opener[p]:
                        continue
                    if self._level_ok(p, level):
                        return p
        # Only degenerate inputs get here (e.g. an opening fence line longer than a
        # message): keep fence markers whole if possible, then cut anywhere.
        for p in range(hi, start, -1):
            if self.cuttable[p] and self._fits(start, p, reopen_len):
                return p
        return next(p for p in range(hi, start, -1) if self._fits(start, p, reopen_len))

    def _level_ok(self, p: int, level: int) -> bool:
        text = self.text
        before = text[p - 1]
        if level == _PARAGRAPH:
            return before == "\n" and p >= 2 and text[p - 2] == "\n"
        if level == _LINE:
            return before == "\n"
        if level in (_SENTENCE, _SPACE):
            if before not in " \t" or text[p] in " \t":
                return False
            if level == _SPACE:
                return True
            j = p - 1
            while j >= 0 and text[j] in " \t":
                j -= 1
            while j >= 0 and text[j] in _CLOSERS:
                j -= 1
            return j >= 0 and text[j] in _SENTENCE_ENDS
        return True
