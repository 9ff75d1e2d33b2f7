"""Log set-up: readable text lines (the default) or one JSON object per line
(`[logging] format = "json"`), each carrying the id of the request it was written for."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from core.runtime.request_id import current_request_id

__all__ = ["TEXT_FORMAT", "JsonFormatter", "RequestIdFilter", "setup_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (None outside one) on each record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id"?, "exception"?} on one line.

    `request_id` is the id of the request being handled, the same id a user sees in
    "Sorry, something went wrong on my side (error id …)".
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # Python warnings become log records too, so JSON output stays one object per line.
    logging.captureWarnings(fmt == "json")
    # Library chatter stays out of the terminal chat unless asked for.
    for noisy in ("transformers", "diffusers", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    # "`CLIPImageProcessor` requires torchvision; falling back to ...Pil": diffusers imports
    # those processors at start-up; the PIL fallback is what Muse wants.
    logging.getLogger("transformers.utils.import_utils").setLevel(logging.ERROR)
    # transformers and diffusers import torchao whenever it is installed: on a CPU-only or
    # Triton-less machine it reports the CUDA kernels it skips, torch deprecates its enum
    # registration, and diffusers misses tensor classes torchao moved. None of it touches
    # what Muse does with torchao (weight-only quantization through quantize_).
    for chatter in ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao"):
        logging.getLogger(chatter).setLevel(logging.ERROR)
