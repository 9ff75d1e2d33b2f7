"""Markdown as LLMs write it → Slack mrkdwn.

Conversions: `**b**`/`__b__` → `*b*`, `*i*`/`_i_` → `_i_`, `***bi***` → `*_bi_*`, `~~s~~` → `~s~`,
`[text](url)` / `![alt](url)` → `<url|text>`, `# heading` → `*heading*`, `-`/`*`/`+` bullets → `•`,
`---` → a rule, `> quote` kept. `&`, `<` and `>` become entities everywhere (Slack's rule) except
in the control sequences we emit or keep (`<url|text>`, channel links `<#C…>`); user mentions
`<@U…>` and broadcasts like `<!channel>` stay escaped so model output never pings anyone (as on
Discord, where replies allow no mentions).

Code is never reformatted: inline code and fenced blocks keep their content, only
entity-escaped, which Slack decodes for display (raw `<…>` inside code would otherwise be parsed
as a link or mention). Fences lose their language tag (Slack would print it) and an unclosed
fence is closed, so a half-streamed reply still renders as a code block.

`partial=True` is for text that is still streaming: on the last line it also hides a dangling
emphasis opener (`Hello **wor` → `Hello wor`), an unfinished link and an unclosed inline code
span, which the next, longer render shows properly.

Why not Slack's own `markdown_text` (chat.postMessage and chat.update take standard Markdown
there, and slack_sdk passes it through): decided against, for two properties we rely on.
No ping: in `text` every `<` we do not emit ourselves is escaped, so `<!channel>`, `<!here>`
or `<@U…>` in model output is shown, never acted on; Slack documents neither escaping nor how
mentions are treated in `markdown_text`, so the guarantee would rest on undocumented
behaviour that no test of ours can check. Exact final text: Slack translates `markdown_text`
into blocks of its own choosing (one input may become several), so a finished reply shows
Slack's rendering, which we neither know nor can compare; with `text` it is exactly
`to_mrkdwn(final)`, checked against the stand-ins. It also cannot be combined with `text` and
has its own 12,000-character limit. Worth another look only if Slack documents that mentions
in `markdown_text` are never parsed and returns the rendered text.
"""

from __future__ import annotations

import re

_BOLD, _ITALIC, _STRIKE = "\ue010", "\ue011", "\ue012"
_TOKEN_BASE, _TOKEN_LAST = 0xF0000, 0x10FFFD
# Private-use characters we use as markers and placeholders; outside code, input copies of them
# are replaced with U+FFFD so they cannot be mistaken for ours.
_RESERVED = re.compile("[\ue010-\ue012\U000f0000-\U0010ffff]")
_PLACEHOLDER = re.compile("[\U000f0000-\U0010fffd]")

_FENCE_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HR = re.compile(r"^\s{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^\s{0,3}(?:>[ \t]?)+(?P<rest>.*)$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:[ \t]+(?P<content>.*?))?(?:[ \t]+#+)?[ \t]*$")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<rest>.*)$")

_CODE = r"(?<!`)(?P<ticks>`+)(?!`)(?P<code>.+?)(?<!`)(?P=ticks)(?!`)"
_TOKEN = re.compile(
    _CODE
    + r"|(?P<link>!?\[(?P<label>[^\[\]]*)\]\((?P<url>[^()\s]+(?:\([^()\s]*\)[^()\s]*)*)"
    + r"(?:[ \t]+\"[^\"]*\")?\))"
    + r"|(?P<ref><#C[A-Z0-9]+(?:\|[^<>`]*)?>)"
    + r"|(?P<auto><(?P<auto_url>(?:https?|mailto):[^\s<>|`]+)(?:\|(?P<auto_label>[^<>`]*))?>)"
    + r"|\\(?P<escaped>[\\`*_{}\[\]()#+\-.!~<>|&])"
)
_CODE_ONLY = re.compile(_CODE)
_TICK_RUN = re.compile(r"`+")
_SCHEME = re.compile(r"^(?:https?|mailto|ftp):", re.IGNORECASE)
_TAIL_LINK = re.compile(r"!?\[(?P<label>[^\[\]`]*)(?:\]\([^()\s]*)?$")

_EMPHASIS = (
    (
        re.compile(r"(?<![*\w])\*\*\*(?=[^\s*])(.+?)(?<=[^\s*])\*\*\*(?![*\w])"),
        _BOLD + _ITALIC + r"\1" + _ITALIC + _BOLD,
    ),
    (re.compile(r"(?<!\*)\*\*(?=[^\s*])(.+?)(?<=[^\s*])\*\*(?!\*)"), _BOLD + r"\1" + _BOLD),
    (re.compile(r"(?<![_\w])__(?=[^\s_])(.+?)(?<=[^\s_])__(?![_\w])"), _BOLD + r"\1" + _BOLD),
    (re.compile(r"(?<!~)~~(?=[^\s~])(.+?)(?<=[^\s~])~~(?!~)"), _STRIKE + r"\1" + _STRIKE),
    (re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])"), _ITALIC + r"\1" + _ITALIC),
)
# After pairs are converted, whatever still looks like an opener has no closer (yet).
_DANGLING = re.compile(r"(?<![*\w])\*{1,3}(?=[^\s*])|(?<![_\w])_{1,2}(?=[^\s_])|~~(?=[^\s~])")

RULE = "──────────"


def to_mrkdwn(markdown: str, *, partial: bool = False) -> str:
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        if fence is not None:
            stripped = line.strip()
            if len(stripped) >= len(fence) and set(stripped) == {fence[0]}:
                out.append("```")
                fence = None
            else:
                out.append(escape(line))
            continue
        opener = _FENCE_OPEN.match(line)
        if opener and not (opener["fence"][0] == "`" and "`" in opener["info"]):
            fence = opener["fence"]
            out.append("```")  # the language tag is dropped: Slack would show it as code
            continue
        out.append(_line(line, tail=partial and i == len(lines) - 1))
    if fence is not None:
        out.append("```")
    return "\n".join(out)


def escape(text: str) -> str:
    """Slack's three reserved characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _line(line: str, tail: bool) -> str:
    if not line.strip():
        return line
    if _HR.match(line):
        return RULE
    quote = _QUOTE.match(line)
    if quote:
        inner = _line(quote["rest"], tail)
        return f"> {inner}" if inner.strip() else ">"
    heading = _HEADING.match(line)
    if heading:
        # The whole heading becomes bold; Slack cannot nest bold, so inner bold is dropped.
        inner = _inline(heading["content"] or "", tail, bold="").strip()
        return f"*{inner}*" if inner else ""
    bullet = _BULLET.match(line)
    if bullet:
        return f"{bullet['indent']}• {_inline(bullet['rest'], tail)}"
    return _inline(line, tail)


def _inline(text: str, tail: bool, bold: str = "*") -> str:
    if tail:
        text = _close_tail_code(text)
        text = _TAIL_LINK.sub(lambda m: m["label"], text)
    rendered: list[str] = []

    def park(match: re.Match[str]) -> str:
        # Tokens are parked behind one placeholder character so emphasis can wrap them
        # (`**`code`**`) but never reach inside them.
        token = _render_token(match)
        if _TOKEN_BASE + len(rendered) > _TOKEN_LAST:
            return token
        rendered.append(token)
        return chr(_TOKEN_BASE + len(rendered) - 1)

    pieces: list[str] = []
    done = 0
    for match in _TOKEN.finditer(text):
        pieces += [_RESERVED.sub("\ufffd", text[done : match.start()]), park(match)]
        done = match.end()
    pieces.append(_RESERVED.sub("\ufffd", text[done:]))
    masked = escape("".join(pieces))
    for pattern, replacement in _EMPHASIS:
        masked = pattern.sub(replacement, masked)
    if tail:
        masked = _DANGLING.sub("", masked)
    masked = masked.replace(_BOLD, bold).replace(_ITALIC, "_").replace(_STRIKE, "~")
    return _PLACEHOLDER.sub(lambda m: rendered[ord(m.group()) - _TOKEN_BASE], masked)


def _render_token(match: re.Match[str]) -> str:
    if match["code"] is not None:
        code = match["code"]
        ticks = "`" if "`" not in code else match["ticks"]  # Slack knows single backticks only
        return f"{ticks}{escape(code)}{ticks}"
    if match["link"] is not None:
        return _link(match["url"], match["label"], match["link"].startswith("!"))
    if match["ref"] is not None:
        return match["ref"]
    if match["auto"] is not None:
        return _link(match["auto_url"], match["auto_label"] or "", False)
    return escape(match["escaped"])


def _link(url: str, label: str, image: bool) -> str:
    label = label.replace("**", "").replace("__", "").replace("`", "").strip()
    if not _SCHEME.match(url):
        # Slack only links absolute URLs; show a relative one next to its text instead.
        return f"{escape(label)} ({escape(url)})" if label else escape(url)
    target = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    label = label or ("image" if image else "")
    if not label or label == url:
        return f"<{target}>"
    return f"<{target}|{escape(label)}>"


def _close_tail_code(text: str) -> str:
    """Close (or drop, if nothing follows it yet) an inline code span still being streamed."""
    spans = [m.span() for m in _CODE_ONLY.finditer(text)]
    for run in _TICK_RUN.finditer(text):
        if any(start <= run.start() < end for start, end in spans):
            continue
        if text[run.end() :].strip():
            return text + run.group()
        return text[: run.start()]
    return text
