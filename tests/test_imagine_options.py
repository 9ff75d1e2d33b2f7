"""/imagine option parsing and validation: every bad value gets a one-line error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, load_config
from core.errors import OptionError
from core.image.options import (
    MAX_SEED,
    ImageSettings,
    ImagineOptions,
    parse_imagine_args,
    parse_size,
    validate_imagine,
)

SETTINGS = ImageSettings(
    steps=2, max_steps=8, width=512, height=512, max_width=1024, max_height=768, max_count=4
)


def error(text: str, settings: ImageSettings = SETTINGS) -> str:
    with pytest.raises(OptionError) as info:
        parse_imagine_args(text, settings)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_issue_example_parses() -> None:
    o = parse_imagine_args(
        'a lighthouse at dawn --negative "blurry" --seed 42 --steps 2 --size 512x512 --count 2',
        SETTINGS,
    )
    assert o == ImagineOptions(
        prompt="a lighthouse at dawn",
        negative="blurry",
        seed=42,
        steps=2,
        width=512,
        height=512,
        guidance=0.0,
        count=2,
    )


def test_defaults_come_from_settings_and_a_seed_is_chosen() -> None:
    settings = SETTINGS.model_copy(
        update={"steps": 3, "width": 256, "height": 128, "guidance": 1.5, "count": 2}
    )
    o = parse_imagine_args("a cat", settings)
    assert (o.steps, o.width, o.height, o.guidance, o.count, o.negative) == (
        3,
        256,
        128,
        1.5,
        2,
        "",
    )
    assert o.seed is not None and 0 <= o.seed <= MAX_SEED
    # Chosen at parse time (so it can be reported), and not a constant.
    seeds = {parse_imagine_args("a cat", settings).seed for _ in range(20)}
    assert len(seeds) > 1


def test_quoting_equals_form_and_words_around_options() -> None:
    o = parse_imagine_args(
        "a cat --negative 'blurry, low quality' on a mat --width=640 --height 384 --guidance 1.5",
        SETTINGS,
    )
    assert o.prompt == "a cat on a mat"
    assert o.negative == "blurry, low quality"
    assert (o.width, o.height, o.guidance) == (640, 384, 1.5)


def test_apostrophes_smart_quotes_and_double_dash() -> None:
    o = parse_imagine_args("a dragon's lair --negative “ugly, dark”", SETTINGS)
    assert (o.prompt, o.negative) == ("a dragon's lair", "ugly, dark")
    o = parse_imagine_args("poster reading -- --seed 5", SETTINGS)
    assert o.prompt == "poster reading --seed 5"
    assert parse_imagine_args("x --negative -1", SETTINGS).negative == "-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "needs a prompt"),
        ("   --seed 3", "needs a prompt"),
        ("a" * 10_000, "10000 characters long; the most is 1000"),
        ("a --negative " + "b" * 1001, "--negative is 1001 characters long; the most is 1000"),
        ("a --size 99999x3", "--size 99999x3: the width must be a multiple of 8 from 64 to 1024"),
        ("a --size 512x3", "--size 512x3: the height must be a multiple of 8 from 64 to 768"),
        ("a --size 516x512", "the width must be a multiple of 8"),
        ("a --size 512", "--size 512: expected WIDTHxHEIGHT"),
        ("a --size big", "--size big: expected WIDTHxHEIGHT"),
        ("a --width 2048", "--width 2048: must be a multiple of 8 from 64 to 1024"),
        ("a --height 60", "--height 60: must be a multiple of 8 from 64 to 768"),
        ("a --steps -1", "--steps -1: must be a whole number from 1 to 8"),
        ("a --steps 0", "--steps 0: must be a whole number from 1 to 8"),
        ("a --steps 9", "--steps 9: must be a whole number from 1 to 8"),
        ("a --steps two", "--steps two: must be a whole number from 1 to 8"),
        ("a --steps 1.5", "--steps 1.5: must be a whole number from 1 to 8"),
        ("a --count 5", "--count 5: must be a whole number from 1 to 4"),
        ("a --count 0", "--count 0: must be a whole number from 1 to 4"),
        ("a --seed -1", f"--seed -1: must be a whole number from 0 to {MAX_SEED}"),
        (f"a --seed {MAX_SEED + 1}", f"--seed {MAX_SEED + 1}: must be a whole number from 0"),
        ("a --seed 0x10", "--seed 0x10: must be a whole number"),
        ("a --guidance 21", "--guidance 21: must be a number from 0 to 20"),
        ("a --guidance -0.5", "--guidance -0.5: must be a number from 0 to 20"),
        ("a --guidance nan", "--guidance nan: must be a number from 0 to 20"),
        ("a --guidance inf", "--guidance inf: must be a number from 0 to 20"),
        ('a "unclosed', "Unbalanced quotes"),
    ],
)
def test_bad_values_name_the_option_value_and_range(text: str, expected: str) -> None:
    assert expected in error(text)


def test_unknown_option_lists_the_known_ones() -> None:
    message = error("a cat --foo 3")
    assert message.startswith("Unknown option --foo;")
    for name in ("--negative", "--seed", "--steps", "--size", "--count", "--guidance"):
        assert name in message


@pytest.mark.parametrize("option", ["seed", "negative", "size", "steps", "count"])
def test_missing_value(option: str) -> None:
    assert error(f"a cat --{option}").startswith(f"--{option} needs a value, e.g. --{option} ")
    # The next option is not taken as this one's value.
    assert f"--{option} needs a value" in error(f"a cat --{option} --width 512")


def test_settings_maxima_are_what_limits() -> None:
    roomy = SETTINGS.model_copy(update={"max_steps": 100, "max_count": 16, "max_width": 2048})
    o = parse_imagine_args("a --steps 100 --count 16 --width 2048", roomy)
    assert (o.steps, o.count, o.width) == (100, 16, 2048)
    assert "from 1 to 8" in error("a --steps 100")


def test_validate_fills_defaults_for_typed_adapters() -> None:
    o = validate_imagine(ImagineOptions("  a fox  ", seed=7), SETTINGS)
    assert (o.prompt, o.seed, o.steps, o.width, o.height, o.count) == ("a fox", 7, 2, 512, 512, 1)
    assert validate_imagine(o, SETTINGS) == o  # idempotent
    with pytest.raises(OptionError, match="--width 100: must be a multiple of 8"):
        validate_imagine(ImagineOptions("a fox", width=100), SETTINGS)
    with pytest.raises(OptionError, match="needs a prompt"):
        validate_imagine(ImagineOptions(""), SETTINGS)
    assert parse_size("640×480") == (640, 480)


def test_settings_rules_live_on_the_fields_for_the_config_loader(tmp_path: Path) -> None:
    for name, field in ImageSettings.model_fields.items():
        assert field.description, name
    bad = "max_steps = 0\ndtype = 'int8'\nmax_width = 100_000\nsafety_checker = 'yes'\n"
    problems = image_problems(tmp_path, bad)
    assert len(problems) == 4
    assert any(p.startswith("[image] max_steps = 0: must be an integer from 1") for p in problems)
    assert any("dtype" in p and "'float16'" in p for p in problems)
    ok = ImageSettings.model_validate({"max_steps": 4, "steps": 2})
    assert (ok.steps, ok.max_steps) == (2, 4)


def test_cross_field_settings_checks(tmp_path: Path) -> None:
    ImageSettings()  # the defaults pass
    problems = image_problems(tmp_path, "steps = 9\nmax_steps = 4\ncount = 5\nmax_count = 4\n")
    assert "[image] steps = 9: must not exceed max_steps = 4" in problems
    assert "[image] count = 5: must not exceed max_count = 4" in problems
    assert image_problems(tmp_path, "width = 500\n") == [
        "[image] width = 500: must be an integer of at least 64, a multiple of 8"
    ]
    with pytest.raises(ValidationError, match="must not exceed max_steps"):
        ImageSettings(steps=9, max_steps=4)


def image_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text("[image]\n" + text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.problems


# -- typed options (Discord's app command) and the buttons under pictures ---------------------


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"width": 100}, "x --width 100"),
        ({"steps": 9}, "x --steps 9"),
        ({"count": 5}, "x --count 5"),
        ({"guidance": 21.0}, "x --guidance 21"),
        ({"seed": MAX_SEED + 1}, f"x --seed {MAX_SEED + 1}"),
    ],
)
def test_typed_options_get_the_text_parsers_errors(fields: dict[str, object], text: str) -> None:
    with pytest.raises(OptionError) as info:
        validate_imagine(ImagineOptions("x", **fields), SETTINGS)  # type: ignore[arg-type]
    assert str(info.value) == error(text)


def test_reroll_and_variations_keep_the_request_but_the_seeds() -> None:
    from core.commands.imagine import VARIATIONS, reroll, variations
    from core.image.options import with_seed

    asked = ImagineOptions("a boat", negative="fog", steps=3, count=2)
    seeded = with_seed(asked)
    assert seeded.seed is not None and with_seed(seeded) == seeded
    assert dataclasses.replace(seeded, seed=None) == asked  # the defaults stay defaults
    again = reroll(seeded)
    assert dataclasses.replace(again, seed=seeded.seed) == seeded
    more = variations(dataclasses.replace(seeded, seed=MAX_SEED - 1), SETTINGS)
    assert (more.seed, more.count, more.prompt, more.steps) == (0, VARIATIONS, "a boat", 3)
    one = variations(ImagineOptions("a boat", seed=7), SETTINGS.model_copy(update={"count": 3}))
    assert one.seed == 10  # after the default count shown
    assert variations(seeded, SETTINGS.model_copy(update={"max_count": 2})).count == 2


def test_pictures_may_be_deleted_by_their_requester_or_an_admin() -> None:
    from core.chat.events import Message
    from core.commands.imagine import may_delete
    from core.fair_use.policy import Policy
    from core.fair_use.settings import PolicySettings

    policy = Policy(PolicySettings(admins=["chat:boss"]))

    def by(author: str) -> Message:
        return Message(platform="chat", channel="c", author_id=author, text="")

    assert may_delete(policy, by("ann"), "ann")
    assert may_delete(policy, by("boss"), "ann")
    assert not may_delete(policy, by("bob"), "ann")
    assert not may_delete(policy, by("bob"), None)  # a request Muse no longer knows


# -- one table of messages, worded for each surface; the form from the same settings ----------


@pytest.mark.parametrize(
    ("fields", "flags_text", "in_fields"),
    [
        ({"width": 100}, "--width 100:", "width = 100: must be a multiple of 8 from 64 to 1024"),
        ({"steps": 9}, "--steps 9:", "steps = 9: must be a whole number from 1 to 8"),
        ({"count": 5}, "--count 5:", "count = 5: must be a whole number from 1 to 4"),
        ({"guidance": 21.0}, "--guidance 21:", "guidance = 21: must be a number from 0 to 20"),
        ({"negative": "n" * 1001}, "--negative is", "negative is 1001 characters long; the"),
        ({"prompt": " "}, "/imagine needs a prompt", "/imagine needs a prompt describing the"),
    ],
)
def test_errors_name_flags_where_typed_and_fields_where_filled_in(
    fields: dict[str, object], flags_text: str, in_fields: str
) -> None:
    options = ImagineOptions(**{"prompt": "x", **fields})  # type: ignore[arg-type]
    with pytest.raises(OptionError) as info:
        validate_imagine(options, SETTINGS)
    assert str(info.value).startswith(flags_text)  # the terminal, Slack, text commands
    assert info.value.in_terms("flags") == str(info.value)
    worded = info.value.in_terms("fields")  # Discord's form
    assert worded.startswith(in_fields) and "--" not in worded


def test_the_form_offers_exactly_what_validation_accepts() -> None:
    from core.image.options import imagine_form

    settings = ImageSettings(
        steps=3,
        max_steps=12,
        max_width=768,
        max_height=640,
        max_count=3,
        max_guidance=7.5,
        max_prompt_chars=300,
    )
    form = {f.name: f for f in imagine_form(settings)}
    assert list(form) == [
        "prompt",
        "negative",
        "seed",
        "steps",
        "width",
        "height",
        "count",
        "guidance",
        "strength",
    ]
    assert [f.name for f in form.values() if f.required] == ["prompt"]
    assert (form["steps"].min_value, form["steps"].max_value) == (1, 12)
    assert (form["width"].min_value, form["width"].max_value) == (64, 768)
    assert (form["height"].min_value, form["height"].max_value) == (64, 640)
    assert (form["guidance"].min_value, form["guidance"].max_value) == (0.0, 7.5)
    assert (form["seed"].min_value, form["seed"].max_value) == (0, MAX_SEED)
    assert form["count"].choices == (1, 2, 3)
    assert form["prompt"].max_length == form["negative"].max_length == 300
    # Each bound is accepted and one step past it is refused, with the words the field's
    # description uses.
    steps = {"width": 8, "height": 8, "guidance": 0.5}
    for name in ("seed", "steps", "width", "height", "count", "guidance"):
        field = form[name]
        step = steps.get(name, 1)
        for good in (field.min_value, field.max_value):
            validate_imagine(ImagineOptions("x", **{name: good}), settings)  # type: ignore[arg-type]
        for bad in (field.min_value - step, field.max_value + step):  # type: ignore[operator]
            with pytest.raises(OptionError) as info:
                validate_imagine(ImagineOptions("x", **{name: bad}), settings)  # type: ignore[arg-type]
            allowed = info.value.in_terms("fields").split(": must be ", 1)[1]
            assert allowed in field.description, (name, field.description)
    # Strength: only with a reference picture, within the field's bounds.
    strength = form["strength"]
    for good in (strength.min_value, strength.max_value):
        validate_imagine(ImagineOptions("x", reference="r.png", strength=good), settings)  # type: ignore[arg-type]
    for bad in (0.0, 1.5):
        with pytest.raises(OptionError) as info:
            validate_imagine(ImagineOptions("x", reference="r.png", strength=bad), settings)
        assert info.value.in_terms("fields").split(": must be ", 1)[1] in strength.description
    with pytest.raises(OptionError) as info:
        validate_imagine(ImagineOptions("x", strength=0.5), settings)
    assert str(info.value) == "--strength needs a reference picture to start from (attach one)."
    assert validate_imagine(ImagineOptions("x", reference="r.png"), settings).strength == 0.6
    validate_imagine(ImagineOptions("p" * 300, negative="n" * 300), settings)
    with pytest.raises(OptionError):
        validate_imagine(ImagineOptions("p" * 301), settings)
    assert "(default 3)" in form["steps"].description  # descriptions follow the settings too
    assert all(len(f.description) <= 100 for f in form.values())  # Discord's most
    big = imagine_form(settings.model_copy(update={"max_count": 64}))
    assert [f.choices for f in big if f.name == "count"] == [()]  # too many to list
