"""Markdown → Slack mrkdwn: examples, plus properties over generated text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.slack.mrkdwn import _RESERVED, RULE, escape, to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("***both***", "*_both_*"),
        ("*it has **bold** inside*", "_it has *bold* inside_"),
        ("~~gone~~", "~gone~"),
        ("**`code` in bold**", "*`code` in bold*"),
        ("[docs](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|docs>"),
        ("[**docs**](https://example.com)", "<https://example.com|docs>"),
        ("![a cat](https://example.com/cat.png)", "<https://example.com/cat.png|a cat>"),
        ("[https://example.com](https://example.com)", "<https://example.com>"),
        ("[wiki](https://w.org/X_(y))", "<https://w.org/X_(y)|wiki>"),
        ("[notes](notes.md)", "notes (notes.md)"),
        ("<https://example.com>", "<https://example.com>"),
        ("# Title", "*Title*"),
        ("### **Step 1:** install ###", "*Step 1: install*"),
        ("#hashtag", "#hashtag"),
        ("- one\n* two\n  + nested", "• one\n• two\n  • nested"),
        ("* **Key**: value", "• *Key*: value"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted *words*", "> quoted _words_"),
        ("---", RULE),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        (
            "hey <@U0ALICE001> in <#C0GENERAL1|general>",
            "hey &lt;@U0ALICE001&gt; in <#C0GENERAL1|general>",
        ),
        ("<!channel> wake up", "&lt;!channel&gt; wake up"),
        (
            "<!here|here> and <!subteam^S0TEAM|team>",
            "&lt;!here|here&gt; and &lt;!subteam^S0TEAM|team&gt;",
        ),
        ("[<!here>](https://example.com)", "<https://example.com|&lt;!here&gt;>"),
        ("[x](https://example.com/<!here>)", "<https://example.com/%3C!here%3E|x>"),
        ("<#C0GENERAL1|<!here>>", "&lt;#C0GENERAL1|&lt;!here&gt;&gt;"),
        ("snake_case and 2*3*4 stay", "snake_case and 2*3*4 stay"),
        ("Use **kwargs to forward", "Use **kwargs to forward"),
        ("plain text.\n\nTwo paragraphs!", "plain text.\n\nTwo paragraphs!"),
    ],
)
def test_examples(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_inline_code_is_not_reformatted() -> None:
    assert to_mrkdwn("run `**kwargs` or `a < b`") == "run `**kwargs` or `a &lt; b`"
    assert to_mrkdwn("``x ` y``") == "``x ` y``"  # a backtick inside needs the double ticks
    assert to_mrkdwn("## The `**kwargs` **trick**") == "*The `**kwargs` trick*"


def test_fences_keep_content_and_drop_language() -> None:
    markdown = "Look:\n```python\ndef f(**kw):\n    return [x](y) < 1\n```\n**done**"
    assert to_mrkdwn(markdown) == (
        "Look:\n```\ndef f(**kw):\n    return [x](y) &lt; 1\n```\n*done*"
    )
    assert to_mrkdwn("~~~\n# not a heading\n~~~") == "```\n# not a heading\n```"
    assert to_mrkdwn("1. step\n   ```bash\n   pip install x\n   ```") == (
        "1. step\n```\n   pip install x\n```"
    )


def test_unclosed_fence_is_closed() -> None:
    assert to_mrkdwn("```js\nlet a = **b**") == "```\nlet a = **b**\n```"


@pytest.mark.parametrize(
    ("partial_text", "shown"),
    [
        ("Hello **wor", "Hello wor"),
        ("Hello **world** and *mo", "Hello *world* and mo"),
        ("see [the docs](https://exa", "see the docs"),
        ("run `pip ins", "run `pip ins`"),
        ("almost `", "almost "),
        ("# Head", "*Head*"),
    ],
)
def test_partial_text_renders_cleanly(partial_text: str, shown: str) -> None:
    assert to_mrkdwn(partial_text, partial=True) == shown


def test_partial_only_touches_the_last_line() -> None:
    assert to_mrkdwn("Use **kwargs\nand **mo", partial=True) == "Use **kwargs\nand mo"


# --- properties ---------------------------------------------------------------------------------

PROSE = st.text(alphabet=st.sampled_from("abcXYZ 019.,;:!?'\"()"), max_size=80)
# Everything markdown-ish except what opens code (backticks, tildes) or brackets a link label.
TEXT_LINE = st.text(alphabet=st.sampled_from("ab *_#>-+<&|!:()@ \\1."), max_size=40)
CODE_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=30,
).filter(lambda s: not (len(s.strip()) >= 3 and set(s.strip()) <= {"`"}))
INLINE_CODE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r`"),
    min_size=1,
    max_size=20,
)


def unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


# Pieces of mentions, links, entities, code and emphasis, so that generated text often forms them.
PIECES = ["<", ">", "<!", "<@", "<#", "C0G", "U0A", "here", "channel", "subteam^S1", "|", "&"]
PIECES += ["[", "](", ")", "https://", "mailto:", "x.y", "`", "```", "*", "_", "~", "#", "\n"]
PIECES += [" ", "a", "-"]
SLACKISH = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
URL_TAIL = st.lists(st.sampled_from([p for p in PIECES if not set(p) & set("() \n")]), max_size=8)
LINKS = st.tuples(
    SLACKISH, URL_TAIL.map("".join), st.sampled_from(["[{}](https://{})", "<https://{1}|{0}>"])
).map(lambda t: t[2].format(t[0], t[1]))
CONTROL = re.compile(r"<([^<>]*)>")
# The only control sequences we emit: links and channel references, which ping nobody.
HARMLESS = re.compile(r"#C[A-Z0-9]+(?:\|[^<>]*)?|(?i:https?|mailto|ftp):[^\s<>|]*(?:\|[^<>]*)?")


@given(st.one_of(st.text(max_size=300), SLACKISH, LINKS), st.booleans())
@example("[<!here>](HTTP://x) <https://a|<@U0A>> [x](https://a<!channel>)", False)
@settings(max_examples=300)
def test_any_text_pings_nobody_and_escapes_the_rest(markdown: str, partial: bool) -> None:
    out = to_mrkdwn(markdown, partial=partial)
    controls = CONTROL.findall(out)
    # No <!channel>, <!here>, <!subteam^…> or <@U…>: every < opens a link or channel ref.
    assert "<!" not in out and "<@" not in out
    assert all(HARMLESS.fullmatch(c) for c in controls), controls
    assert out.count("<") == len(controls)
    # Everything else follows Slack's escaping: & only in entities, > only as quote markers.
    rest = re.sub(r"(?m)^>(?: ?>)*", "", CONTROL.sub("", out))
    assert not re.search(r"&(?!amp;|lt;|gt;)", rest) and ">" not in rest
    # Our private-use markers and placeholders never leak into the text.
    if not _RESERVED.search(markdown):
        assert not _RESERVED.search(out)


@given(PROSE)
def test_plain_prose_is_unchanged(text: str) -> None:
    assert to_mrkdwn(text) == text


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("text"), TEXT_LINE),
            st.tuples(st.just("fence"), st.sampled_from(["", "python", "js"]), st.lists(CODE_LINE)),
            st.tuples(st.just("inline"), TEXT_LINE, INLINE_CODE, TEXT_LINE),
        ),
        max_size=6,
    )
)
@settings(max_examples=200)
def test_code_is_preserved_verbatim(pieces: list[tuple]) -> None:
    lines: list[str] = []
    for piece in pieces:
        if piece[0] == "fence":
            lines += [f"```{piece[1]}", *piece[2], "```"]
        elif piece[0] == "inline":
            lines.append(f"{piece[1]} `{piece[2]}` {piece[3]}")
        else:
            lines.append(piece[1])
    markdown = "\n".join(lines)
    out = to_mrkdwn(markdown)

    for piece in pieces:
        if piece[0] == "fence":
            block = "\n".join(["```", *(escape(code) for code in piece[2]), "```"])
            assert block in out
            assert unescape(escape("\n".join(piece[2]))) == "\n".join(piece[2])
        elif piece[0] == "inline":
            assert f"`{escape(piece[2])}`" in out

    # Every prefix (a reply mid-stream) renders with balanced fences.
    for cut in range(0, len(markdown) + 1, max(1, len(markdown) // 8)):
        shown = to_mrkdwn(markdown[:cut], partial=True)
        assert sum(line == "```" for line in shown.split("\n")) % 2 == 0
