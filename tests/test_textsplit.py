"""Message splitting: limits, lossless reassembly and balanced code fences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.common.textsplit import (
    FENCE,
    MIN_LIMIT,
    Chunk,
    is_reopen_marker,
    join_bodies,
    split_chunks,
    split_message,
)

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé漢😀", min_size=1, max_size=12)
_long_words = st.text(alphabet="xyz", min_size=40, max_size=300)
_langs = st.sampled_from(["", "py", "python", "c++", "js", "objective-c", "a" * 40])
_code_blocks = st.builds(
    lambda lang, lines: f"{FENCE}{lang}\n" + "\n".join(lines) + f"\n{FENCE}",
    _langs,
    st.lists(st.text(alphabet="ab =()`{}\t", max_size=60), max_size=30),
)
_pieces = st.one_of(
    _words,
    _words,
    _words,
    st.sampled_from([" ", " ", "  ", "\n", "\n\n", "\n\n\n", ". ", "! ", '?" ', "\r\n", "\t"]),
    _long_words,
    _code_blocks,
    st.sampled_from(["`", "``", FENCE, "````", "``````", f"{FENCE}py\n", f"{FENCE}\n"]),
)
_texts = st.lists(_pieces, min_size=1, max_size=120).map("".join)
# Long texts for the real platform limits: repeat a generated text until it spans messages.
_big_texts = st.tuples(_texts, st.integers(1, 60)).map(lambda t: t[0] * t[1])
# Anything at all, backtick-heavy, for the fence bookkeeping.
_wild_texts = st.text(
    alphabet=st.sampled_from(["`", "`", "a", " ", "\n", ".", "p", "y"]), max_size=400
)


def _check(text: str, limit: int) -> list[Chunk]:
    chunks = split_chunks(text, limit)
    assert split_message(text, limit) == [c.text for c in chunks]
    assert join_bodies(chunks) == text
    if len(text) <= limit:
        assert [c.text for c in chunks] == ([text] if text else [])
    offset = 0
    for i, chunk in enumerate(chunks):
        assert len(chunk.text) <= limit, (i, len(chunk.text))
        assert chunk.body, "every chunk carries some of the input"
        assert text[offset : offset + len(chunk.body)] == chunk.body
        offset += len(chunk.body)
        # Markers appear exactly where the input is inside a code block at the cut.
        inside_at_end = text[:offset].count(FENCE) % 2 == 1
        last = i == len(chunks) - 1
        assert chunk.close == (FENCE if inside_at_end and not last else "")
        if i + 1 < len(chunks):
            assert bool(chunks[i + 1].reopen) == inside_at_end
        assert chunk.reopen == "" or is_reopen_marker(chunk.reopen)
        # Each message renders on its own: its fences pair up (the last one may keep an
        # unclosed fence of the input).
        if not last or text.count(FENCE) % 2 == 0:
            assert chunk.text.count(FENCE) % 2 == 0, (i, chunk)
    return chunks


@settings(max_examples=150, deadline=None)
@given(text=_big_texts, limit=st.sampled_from([2000, 4000]))
def test_platform_limits(text: str, limit: int) -> None:
    _check(text, limit)


@settings(max_examples=300, deadline=None)
@given(text=_texts, limit=st.integers(MIN_LIMIT, 120))
def test_small_limits(text: str, limit: int) -> None:
    _check(text, limit)


@settings(max_examples=300, deadline=None)
@given(text=_wild_texts, limit=st.integers(MIN_LIMIT, 60))
def test_backtick_soup(text: str, limit: int) -> None:
    _check(text, limit)


def test_short_and_empty_texts_pass_through() -> None:
    assert split_message("", 2000) == []
    assert split_message("hello\n\nworld", 2000) == ["hello\n\nworld"]
    with pytest.raises(ValueError):
        split_message("hello", MIN_LIMIT - 1)


def test_prefers_paragraph_break_over_later_line_breaks() -> None:
    first = "First paragraph line one.\nline two is here"  # 42 chars
    second = "Second paragraph. It goes on\nand on with more words"
    text = f"{first}\n\n{second}"
    chunks = split_message(text, 80)
    assert chunks[0] == f"{first}\n\n"  # whitespace stays with the earlier chunk
    assert chunks[1] == second


def test_prefers_line_then_sentence_then_space() -> None:
    line = split_message("alpha beta. gamma delta\nepsilon zeta eta theta iota", 40)
    assert line[0] == "alpha beta. gamma delta\n"
    sentence = split_message("Alpha beta gamma. Delta epsilon zeta eta theta", 30)
    assert sentence[0] == "Alpha beta gamma. "
    space = split_message("alpha beta gamma delta epsilon zeta eta theta", 30)
    assert space[0] == "alpha beta gamma delta "
    assert "".join(space) == "alpha beta gamma delta epsilon zeta eta theta"


def test_hard_cut_of_a_long_word() -> None:
    chunks = split_message("x" * 125, 50)
    assert chunks == ["x" * 50, "x" * 50, "x" * 25]


def test_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" for i in range(30))
    text = f"Here you go:\n\n```python\n{code}\n```\nDone."
    chunks = split_message(text, 120)
    assert len(chunks) > 2
    # A break that would leave a mostly empty message is passed over for a later line end.
    assert chunks[0].startswith("Here you go:\n\n```python\nprint(0)\n")
    assert chunks[0].endswith("\n```")
    for chunk in chunks[1:-1]:
        assert chunk.startswith("```python\n")
        assert chunk.endswith("\n```")  # cut at a line end, so the fence sits on its own line
        assert len(chunk) <= 120
    assert chunks[-1].startswith("```python\n") and chunks[-1].endswith("```\nDone.")
    reassembled = join_bodies(split_chunks(text, 120))
    assert reassembled == text


def test_small_limit_keeps_long_language_tag_out_of_the_way() -> None:
    text = "```" + "x" * 30 + "\n" + "code line\n" * 10 + "```"
    chunks = split_message(text, 50)
    assert all(len(c) <= 50 for c in chunks)
    assert all(c.count(FENCE) % 2 == 0 for c in chunks)
    assert chunks[1].startswith("```\n")  # the 30-letter tag would not leave room to work


def test_unclosed_fence_stays_open_only_in_the_last_chunk() -> None:
    text = "intro\n```js\n" + "let a = 1;\n" * 20
    chunks = split_message(text, 60)
    assert all(c.count(FENCE) % 2 == 0 for c in chunks[:-1])
    assert chunks[-1].startswith("```js\n") and chunks[-1].count(FENCE) == 1
