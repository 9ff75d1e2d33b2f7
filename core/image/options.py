"""`/imagine` options: settings ([image] in the config), parsing and validation.

Every adapter uses the same option names. Text adapters (shell, Slack) hand the raw
argument text to `parse_imagine_args`; typed ones (Discord app commands) fill an
`ImagineOptions` themselves. `validate_imagine` checks both, with one table of messages
(MESSAGES) worded in each surface's terms (`--width` typed, `width` filled in); the result
has every field set (defaults from the settings, a random seed chosen here so it can be
reported) and within the admin's limits. `imagine_form` describes the options as a form's
fields (ranges, choices, descriptions) from the same settings, for Discord's slash command.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import shlex
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import OptionError, Terms
from core.runtime.settings import Device, Dtype, check_dtype_for_device

DEFAULT_IMAGE_MODEL = "stabilityai/sd-turbo"
MAX_SEED = 2**32 - 1
MIN_SIZE = 64
SIZE_STEP = 8  # latent diffusion models need sides divisible by the VAE's factor, 8


class ImageSettings(BaseModel):
    """[image] — the text-to-image model, /imagine defaults and the most a user may ask for."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(True, description="load the image model and offer /imagine")
    backend: Literal["local", "comfyui"] = Field(
        "local",
        description='"local": diffusers inside Muse; "comfyui": a ComfyUI server at '
        "comfyui_url draws (its HTTP/WebSocket API)",
    )
    model: str = Field(
        DEFAULT_IMAGE_MODEL,
        description="diffusers text-to-image model id on the Hugging Face hub, or a folder "
        '(backend = "comfyui": the checkpoint file name ComfyUI knows, e.g. '
        'sd_xl_turbo_1.0_fp16.safetensors)',
    )
    comfyui_url: str = Field(
        "", description='backend = "comfyui": the server, e.g. http://image-box:8188'
    )
    comfyui_workflow: str = Field(
        "",
        description='backend = "comfyui": a text-to-image workflow in ComfyUI\'s API format '
        "with {{prompt}}, {{negative}}, {{seed}}, {{steps}}, {{width}}, {{height}}, "
        "{{guidance}}, {{model}} where the values go (empty = Muse's own, one checkpoint, "
        "KSampler euler)",
    )
    comfyui_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=86400,
        description='backend = "comfyui": give up on a picture that takes longer (queue included)',
    )
    device: Device = "auto"
    dtype: Dtype = "auto"
    steps: int = Field(1, ge=1, description="default denoising steps (distilled turbo models: 1-4)")
    max_steps: int = Field(50, ge=1, le=1000, description="most steps a user may ask for")
    width: int = Field(
        512, ge=MIN_SIZE, multiple_of=SIZE_STEP, description="default width in pixels"
    )
    max_width: int = Field(
        1024,
        ge=MIN_SIZE,
        le=8192,
        multiple_of=SIZE_STEP,
        description="widest image a user may ask for",
    )
    height: int = Field(
        512, ge=MIN_SIZE, multiple_of=SIZE_STEP, description="default height in pixels"
    )
    max_height: int = Field(
        1024,
        ge=MIN_SIZE,
        le=8192,
        multiple_of=SIZE_STEP,
        description="tallest image a user may ask for",
    )
    guidance: float = Field(
        0.0, ge=0.0, description="default guidance (CFG) scale; turbo models want 0"
    )
    max_guidance: float = Field(
        20.0, ge=0.0, le=100.0, description="highest guidance scale a user may ask for"
    )
    count: int = Field(1, ge=1, description="default images per request")
    max_count: int = Field(4, ge=1, le=64, description="most images per request")
    max_prompt_chars: int = Field(
        1000, ge=1, description="longest prompt (and negative prompt), in characters"
    )
    safety_checker: bool = Field(
        True,
        description="run the model's NSFW safety checker where it ships one; "
        "flagged images are reported as blocked and never sent",
    )
    output_dir: str = Field("./muse-images", description="where the terminal chat writes PNG files")
    batch_window_ms: int = Field(
        25,
        ge=0,
        le=5000,
        description="how long an idle engine waits to gather concurrent /imagine requests "
        "into one batch (requests arriving while it is busy are batched anyway)",
    )
    max_batch_images: int = Field(
        8, ge=1, le=256, description="most images generated in one pipeline call"
    )

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> Self:
        problems = []
        if self.backend == "comfyui" and not self.comfyui_url.startswith(("http://", "https://")):
            problems.append('backend = "comfyui" needs comfyui_url = "http://host:8188"')
        for name in ("steps", "width", "height", "guidance", "count"):
            default, most = getattr(self, name), getattr(self, f"max_{name}")
            if default > most:
                problems.append(f"{name} = {default}: must not exceed max_{name} = {most}")
        try:
            check_dtype_for_device(self.device, self.dtype)
        except ValueError as exc:
            problems.append(f"dtype = {self.dtype!r}: {exc}")
        if problems:
            raise ValueError("\n".join(problems))  # one line each in the config report
        return self


@dataclass(frozen=True)
class ImagineOptions:
    """One /imagine request. None means "the configured default" until validated."""

    prompt: str
    negative: str = ""
    seed: int | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    guidance: float | None = None
    count: int | None = None
    # Image-to-image: where the picture to start from is (a platform file's URL, or a path
    # on the terminal), and how far from it to go (0 = keep it, 1 = ignore it).
    reference: str = ""
    strength: float | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


# Option names as typed after "--" (--size sets both width and height).
OPTIONS = (
    "negative",
    "seed",
    "steps",
    "size",
    "width",
    "height",
    "guidance",
    "count",
    "strength",
    "reference",
)
_USAGE = "/imagine <prompt> [--negative TEXT] [--seed N] [--steps N] [--size WxH] [--count N]"
MIN_STRENGTH = 0.05
DEFAULT_STRENGTH = 0.6
_SIZE = re.compile(r"^\s*(\d+)\s*[x×X*]\s*(\d+)\s*$")

# Every message about /imagine's options, once, for every surface. `{option}` is an
# option as the surface names it and `{given}` that option with the value the user gave:
# `--width` and `--width 2048` where people type flags, `width` and `width = 2048` where
# they fill in a form (core.errors.Terms). `{allowed}` is what the option accepts (ALLOWED).
MESSAGES = {
    "value": "{given}: must be {allowed}",
    "size_side": "{given}: the {side} must be {allowed}",
    "size_format": "{given}: expected WIDTHxHEIGHT, e.g. --size 512x512",
    "too_long": "{option} is {length} characters long; the most is {limit}.",
    "prompt_too_long": "The prompt is {length} characters long; the most is {limit}.",
    "no_prompt": "/imagine needs a prompt describing the picture.{usage}",
    "unknown": "Unknown option {option}; options are {known}.",
    "needs_value": "{option} needs a value, e.g. {example}",
    "quotes": 'Unbalanced quotes: close every " you open.',
    "no_reference": "{option} needs a reference picture to start from (attach one).",
}
# What each option accepts, in words: in errors, and in the descriptions of Discord's fields.
ALLOWED = {
    "seed": "a whole number from 0 to {MAX_SEED}",
    "steps": "a whole number from 1 to {s.max_steps}",
    "width": "a multiple of 8 from {MIN_SIZE} to {s.max_width}",
    "height": "a multiple of 8 from {MIN_SIZE} to {s.max_height}",
    "count": "a whole number from 1 to {s.max_count}",
    "guidance": "a number from 0 to {max_guidance}",
    "strength": "a number from 0.05 to 1",
}


def usage() -> str:
    return _USAGE + " [--width N] [--height N] [--guidance X] [--strength X] [--reference PATH]"


def _known() -> str:
    return ", ".join(f"--{o}" for o in OPTIONS)


def allowed(option: str, s: ImageSettings) -> str:
    """What an option accepts, in words ("a multiple of 8 from 64 to 1024")."""
    return ALLOWED[option].format(
        s=s, MAX_SEED=MAX_SEED, MIN_SIZE=MIN_SIZE, max_guidance=_num(s.max_guidance)
    )


def _option(terms: Terms, option: str) -> str:
    return option if terms == "fields" else f"--{option}"


def _given(terms: Terms, option: str, value: object) -> str:
    return f"{option} = {value}" if terms == "fields" else f"--{option} {value}"


def problem(key: str, option: str = "", value: object = "", **params: object) -> OptionError:
    """The OptionError for MESSAGES[key], worded in flags and in fields."""
    worded = {
        terms: MESSAGES[key].format(
            option=_option(terms, option),
            given=_given(terms, option, value),
            usage="" if terms == "fields" else f" Usage: {_USAGE}",
            **params,
        )
        for terms in ("flags", "fields")
    }
    return OptionError(worded["flags"], fields=worded["fields"])


def _int(option: str, raw: str, settings: ImageSettings) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise problem("value", option, raw, allowed=allowed(option, settings)) from None


def _float(option: str, raw: str, settings: ImageSettings) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise problem("value", option, raw, allowed=allowed(option, settings))
    return value


def parse_size(raw: str) -> tuple[int, int]:
    """'512x768' -> (512, 768); only the format is checked here, not the range."""
    match = _SIZE.match(raw)
    if not match:
        raise problem("size_format", "size", raw)
    return int(match[1]), int(match[2])


def _tokens(text: str) -> list[str]:
    # Chat clients turn "quotes" into “smart” ones; treat them as plain double quotes.
    text = re.sub("[“”„‟]", '"', text)
    try:
        return shlex.split(text)
    except ValueError:
        pass
    # A lone apostrophe ("a dragon's lair") is not a quote: retry quoting with " only.
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        raise problem("quotes") from None
    # Still honour a value written 'in single quotes' next to such an apostrophe.
    return [t[1:-1] if len(t) >= 2 and t[0] == t[-1] == "'" else t for t in tokens]


def _is_option(token: str) -> bool:
    return token.startswith("--") and len(token) > 2 and not _looks_numeric(token)


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def parse_imagine_args(text: str, settings: ImageSettings, reference: str = "") -> ImagineOptions:
    """Parse `a lighthouse --seed 42 --size 512x512` (prompt = the words that are not options).

    `--name value` and `--name=value` both work; after a bare `--` everything is prompt.
    `reference`: a picture posted with the command (`--reference` names one instead).
    Raises OptionError with a one-line message for anything wrong.
    """
    words: list[str] = []
    values: dict[str, str] = {}
    tokens = _tokens(text)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            words.extend(tokens[i:])
            break
        if not _is_option(token):
            words.append(token)
            continue
        name, eq, value = token[2:].partition("=")
        name = name.lower().replace("_", "-")
        if name not in OPTIONS:
            raise problem("unknown", name, known=_known())
        if not eq:
            if i >= len(tokens) or _is_option(tokens[i]):
                raise problem("needs_value", name, example=_example(name))
            value = tokens[i]
            i += 1
        values[name] = value
    fields: dict[str, object] = {"prompt": " ".join(words)}
    if "negative" in values:
        fields["negative"] = values["negative"]
    if values.get("reference") or reference:
        fields["reference"] = values.get("reference") or reference
    if "strength" in values:
        fields["strength"] = _float("strength", values["strength"], settings)
    if "size" in values:
        raw = values["size"]
        width, height = parse_size(raw)
        # Checked here so the error quotes --size as the user wrote it.
        _check_side("size", raw, "width", width, settings)
        _check_side("size", raw, "height", height, settings)
        fields["width"], fields["height"] = width, height
    for name in ("seed", "steps", "width", "height", "count"):
        if name in values:
            fields[name] = _int(name, values[name], settings)
    if "guidance" in values:
        fields["guidance"] = _float("guidance", values["guidance"], settings)
    return validate_imagine(ImagineOptions(**fields), settings)  # type: ignore[arg-type]


def _example(name: str) -> str:
    examples = {
        "negative": '--negative "blurry, text"',
        "seed": "--seed 42",
        "steps": "--steps 2",
        "size": "--size 512x512",
        "width": "--width 512",
        "height": "--height 512",
        "guidance": "--guidance 0",
        "count": "--count 2",
        "strength": "--strength 0.6",
        "reference": "--reference photo.png",
    }
    return examples[name]


def _check_range(option: str, value: float, low: float, high: float, s: ImageSettings) -> None:
    if not low <= value <= high:
        raise problem("value", option, _num(value), allowed=allowed(option, s))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_side(option: str, shown: str, side: str, value: int, s: ImageSettings) -> None:
    most = s.max_width if side == "width" else s.max_height
    if not MIN_SIZE <= value <= most or value % SIZE_STEP:
        key = "value" if option == side else "size_side"
        raise problem(key, option, shown, side=side, allowed=allowed(side, s))


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


def with_seed(options: ImagineOptions) -> ImagineOptions:
    """The request with its seed chosen now (at random when absent), so that what is kept
    of it remakes the same pictures; the other options keep None = the configured default."""
    if options.seed is not None:
        return options
    return dataclasses.replace(options, seed=random_seed())


def validate_imagine(options: ImagineOptions, settings: ImageSettings) -> ImagineOptions:
    """Fill defaults (and a random seed) and check every value against the settings."""
    prompt = options.prompt.strip()
    if not prompt:
        raise problem("no_prompt")
    limit = settings.max_prompt_chars
    if len(prompt) > limit:
        raise problem("prompt_too_long", length=len(prompt), limit=limit)
    negative = options.negative.strip()
    if len(negative) > limit:
        raise problem("too_long", "negative", length=len(negative), limit=limit)
    seed = options.seed if options.seed is not None else random_seed()
    steps = options.steps if options.steps is not None else settings.steps
    width = options.width if options.width is not None else settings.width
    height = options.height if options.height is not None else settings.height
    guidance = options.guidance if options.guidance is not None else settings.guidance
    count = options.count if options.count is not None else settings.count
    _check_range("seed", seed, 0, MAX_SEED, settings)
    _check_range("steps", steps, 1, settings.max_steps, settings)
    _check_side("width", str(width), "width", width, settings)
    _check_side("height", str(height), "height", height, settings)
    if not math.isfinite(guidance):
        raise problem("value", "guidance", guidance, allowed=allowed("guidance", settings))
    _check_range("guidance", guidance, 0.0, settings.max_guidance, settings)
    _check_range("count", count, 1, settings.max_count, settings)
    strength = options.strength
    if strength is not None and not options.reference:
        raise problem("no_reference", "strength")
    if options.reference:
        strength = DEFAULT_STRENGTH if strength is None else strength
        if not math.isfinite(strength):
            raise problem("value", "strength", strength, allowed=allowed("strength", settings))
        _check_range("strength", strength, MIN_STRENGTH, 1.0, settings)
    return dataclasses.replace(
        options,
        prompt=prompt,
        negative=negative,
        seed=int(seed),
        steps=int(steps),
        width=int(width),
        height=int(height),
        guidance=float(guidance),
        count=int(count),
        strength=None if strength is None else float(strength),
    )


# -- the form: /imagine's options as fields (Discord's slash command) -------------------------

FEW_CHOICES = 25  # a range this short is offered as a list to pick from (Discord's most)


@dataclass(frozen=True)
class FormField:
    """One field of /imagine's form, generated from the settings that check its value, so
    a form offers exactly what `validate_imagine` accepts (bar what a form cannot say,
    like "a multiple of 8", which the description says and the core checks)."""

    name: str
    type: type  # str, int or float
    description: str
    required: bool = False
    min_value: int | float | None = None
    max_value: int | float | None = None
    max_length: int | None = None
    choices: tuple[int, ...] = ()  # when set, the only values offered


def imagine_form(s: ImageSettings) -> list[FormField]:
    """The fields of /imagine, in the order a form shows them (the prompt first)."""
    limit = s.max_prompt_chars
    count_choices = tuple(range(1, s.max_count + 1)) if s.max_count <= FEW_CHOICES else ()
    return [
        FormField(
            "prompt", str, f"What to draw (at most {limit} characters)", True, max_length=limit
        ),
        FormField(
            "negative",
            str,
            f"What to keep out of the picture (at most {limit} characters)",
            max_length=limit,
        ),
        FormField(
            "seed",
            int,
            f"A caption's seed, to remake its picture: {allowed('seed', s)} (random if empty)",
            min_value=0,
            max_value=MAX_SEED,
        ),
        FormField(
            "steps",
            int,
            f"Denoising steps: {allowed('steps', s)} (default {s.steps})",
            min_value=1,
            max_value=s.max_steps,
        ),
        FormField(
            "width",
            int,
            f"Width in pixels: {allowed('width', s)} (default {s.width})",
            min_value=MIN_SIZE,
            max_value=s.max_width,
        ),
        FormField(
            "height",
            int,
            f"Height in pixels: {allowed('height', s)} (default {s.height})",
            min_value=MIN_SIZE,
            max_value=s.max_height,
        ),
        FormField(
            "count",
            int,
            f"How many pictures: {allowed('count', s)} (default {s.count})",
            min_value=1,
            max_value=s.max_count,
            choices=count_choices,
        ),
        FormField(
            "guidance",
            float,
            f"Guidance (CFG) scale: {allowed('guidance', s)} (default {_num(s.guidance)})",
            min_value=0.0,
            max_value=s.max_guidance,
        ),
        FormField(
            "strength",
            float,
            f"How far to go from the reference picture: {allowed('strength', s)} "
            f"(default {DEFAULT_STRENGTH})",
            min_value=MIN_STRENGTH,
            max_value=1.0,
        ),
    ]
