"""[text]: the chat model and how it generates."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from core.runtime.settings import Device, Dtype, check_dtype_for_device

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_SYSTEM_PROMPT",
    "DEFAULT_TEXT_MODEL",
    "AdapterEntry",
    "NamedModel",
    "TextSettings",
]

DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_SYSTEM_PROMPT = (
    "You are Muse, a friendly and concise assistant in a group chat. Messages from people "
    "start with their name and a colon. Answer the latest message."
)


DEFAULT_MODEL_NAME = "default"  # what /model calls [text]'s own model


class NamedModel(BaseModel):
    """[[text.models]] — another model admins may choose per channel with /model set NAME.
    Generation settings, timeouts and limits are [text]'s."""

    model_config = ConfigDict(extra="forbid", strict=True)
    label_key: ClassVar[str] = "name"

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,39}$",
        description="what /model list shows and /model set takes (lowercase, digits, . _ -)",
    )
    description: str = Field("", description="one line for /model list")
    backend: Literal["local", "openai"] = Field("local", description="as [text] backend")
    model: str = Field(description="as [text] model")
    base_url: str = Field("", description="as [text] base_url")
    tokenizer: str = Field("", description="as [text] tokenizer")
    api_key_env: str = Field(
        "",
        description="the environment variable holding this server's API key "
        "(empty: [text] api_key)",
    )

    @model_validator(mode="after")
    def _base_url_for_openai(self) -> Self:
        if self.backend == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f'model {self.name!r}: backend = "openai" needs base_url')
        if self.name == DEFAULT_MODEL_NAME:
            raise ValueError(f"{DEFAULT_MODEL_NAME!r} is [text]'s own model; choose another name")
        return self


# PEFT's name for "no adapter" in a mixed batch: an adapter may not take it.
BASE_ADAPTER = "__base__"


class AdapterEntry(BaseModel):
    """[[text.adapters]] — one LoRA persona: a PEFT adapter folder or hub id, by name."""

    model_config = ConfigDict(extra="forbid", strict=True)
    label_key: ClassVar[str] = "name"

    name: str = Field(description="what /persona set --adapter NAME calls it")
    path: str = Field(description="PEFT adapter folder or Hugging Face hub id")

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if not self.name.strip() or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"adapter name {self.name!r}: use letters, digits, - and _")
        if self.name == BASE_ADAPTER:
            raise ValueError(f"{BASE_ADAPTER!r} is PEFT's name for the base model")
        if not self.path.strip():
            raise ValueError(f"adapter {self.name!r} needs a path (folder or hub id)")
        return self


class TextSettings(BaseModel):
    """[text] — the chat model and how it generates."""

    # strict: a TOML value has its type already; "512" is not quietly taken for 512.
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)

    model: str = Field(
        DEFAULT_TEXT_MODEL,
        description="Hugging Face model id or local path of a causal LM with a chat template "
        '(backend = "openai": the model name the server serves)',
    )
    backend: Literal["local", "openai"] = Field(
        "local",
        description='"local": the model runs inside Muse; "openai": an OpenAI-compatible '
        "server (vLLM, SGLang, Ollama, llama.cpp, transformers serve) at base_url runs it",
    )
    base_url: str = Field(
        "",
        description='backend = "openai": the server\'s API root, e.g. http://localhost:8000/v1',
    )
    api_key: SecretStr = Field(
        SecretStr(""),
        description='backend = "openai": the server\'s API key, if it wants one',
        json_schema_extra={"env": "MUSE_TEXT_API_KEY"},
    )
    tokenizer: str = Field(
        "",
        description='backend = "openai": hub id or folder of the model\'s tokenizer, to fit '
        "prompts in prompt_tokens (empty = try model; if none loads, tokens are estimated)",
    )
    connect_timeout_seconds: float = Field(
        5.0, gt=0, le=600, description='backend = "openai": wait this long to connect'
    )
    first_token_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description='backend = "openai": give up on a reply whose first words take longer',
    )
    read_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description='backend = "openai": a reply that stalls this long mid-way is cut there',
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description='backend = "openai": retries of a refused request (429/503, honouring '
        "Retry-After; connection refused), before the user is told",
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        le=10000,
        description='backend = "openai": most requests open at the server at once',
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description='backend = "openai": extra request fields the server understands, '
        "e.g. {top_k = 20} for vLLM",
    )
    device: Device = "auto"
    dtype: Dtype = "auto"
    system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, description="default persona; /persona set overrides it per channel"
    )
    max_new_tokens: int = Field(512, ge=1, le=32768, description="longest reply, in tokens")
    prompt_tokens: int = Field(
        3072,
        ge=64,
        le=1_000_000,
        description="token budget for persona + history + new message; oldest turns drop first",
    )
    trim_chunk_turns: int = Field(
        8,
        ge=1,
        le=1000,
        description="history is trimmed this many turns at a time, so the prompt prefix "
        "stays stable (and cacheable) across turns",
    )
    temperature: float = Field(0.7, ge=0.0, le=5.0, description="sampling temperature; 0 = greedy")
    top_p: float = Field(0.9, ge=0.01, le=1.0, description="nucleus sampling threshold")
    max_batch_size: int = Field(
        16,
        ge=1,
        le=256,
        description="most replies decoded together in one forward pass (1 = one at a time)",
    )
    prefix_cache_mb: int = Field(
        512,
        ge=0,
        le=1_000_000,
        description="memory for per-conversation KV caches reused across turns (0 = off)",
    )
    history_messages: int = Field(
        200, ge=0, le=100000, description="most stored messages read back per prompt"
    )
    quantization: Literal["none", "int8", "int4"] = Field(
        "none",
        description="weight-only quantization at load (torchao): int8 anywhere, int4 on CUDA "
        "with bfloat16",
    )
    adapters: list[AdapterEntry] = Field(
        default_factory=list,
        description="LoRA personas: [[text.adapters]] name = ..., path = ... (PEFT adapters)",
    )
    models: list[NamedModel] = Field(
        default_factory=list,
        description="[[text.models]]: more models, local or remote, that admins may choose per "
        "channel with /model set NAME ([text]'s own is called default)",
    )

    def for_model(self, named: NamedModel, api_key: str = "") -> TextSettings:
        """[text] with `named`'s model and where it runs (everything else shared)."""
        update: dict[str, Any] = {
            "backend": named.backend,
            "model": named.model,
            "base_url": named.base_url,
            "tokenizer": named.tokenizer,
            "models": [],
            "adapters": [],  # [text]'s LoRA adapters fit [text]'s base model only
        }
        if api_key:
            update["api_key"] = SecretStr(api_key)
        return self.model_copy(update=update)

    @model_validator(mode="after")
    def _model_names_unique(self) -> Self:
        names = [m.name for m in self.models]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"models: names must differ; used twice: {', '.join(twice)}")
        return self

    @model_validator(mode="after")
    def _base_url_for_openai(self) -> Self:
        if self.backend == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                'backend = "openai" needs base_url = "http://host:port/v1" (the server\'s API root)'
            )
        return self

    @model_validator(mode="after")
    def _adapters_unique(self) -> Self:
        names = [a.name for a in self.adapters]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"adapters: name(s) used twice: {', '.join(twice)}")
        return self

    @model_validator(mode="after")
    def _quantization_runs_on_device(self) -> Self:
        if self.quantization == "int4" and self.device in ("cpu", "mps"):
            raise ValueError(
                f"quantization = 'int4' needs a CUDA GPU (torchao's int4 weight-only kernels "
                f"are CUDA-only); device = {self.device!r}: use 'int8' or 'none'"
            )
        if self.quantization == "int4" and self.dtype in ("float32", "float16"):
            raise ValueError(
                f"quantization = 'int4' runs in bfloat16 (torchao's int4 kernel); "
                f"dtype = {self.dtype!r}: use 'bfloat16' or 'auto'"
            )
        return self

    @model_validator(mode="after")
    def _dtype_runs_on_device(self) -> Self:
        try:
            check_dtype_for_device(self.device, self.dtype)
        except ValueError as exc:
            raise ValueError(f"dtype = {self.dtype!r}: {exc}") from None
        return self
