"""Structured logging: JSON lines or plain text, never a secret.

Fields are passed with `extra={...}`; the JSON formatter emits every
non-standard attribute, so `log.info("acked", extra={"seq": 42})` becomes
{"ts": ..., "level": "info", "logger": ..., "msg": "acked", "seq": 42}.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

from agent.common.config import mask_url_password

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_SECRET_VALUE = re.compile(r"((?:password|passwd|secret|token|api_key)\s*[=:]\s*)(\S+)", re.I)


def scrub(text: str) -> str:
    """Mask URL passwords and key=value secrets in free text."""
    return _SECRET_VALUE.sub(r"\1***", mask_url_password(text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            out["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():7} "
        line += f"{record.name}: {record.getMessage()}"
        if extras:
            line += f" [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger once; safe to call again (replaces the handler)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # grpc and asyncio are chatty at debug level and say nothing an operator needs.
    for chatty in ("asyncio", "alembic"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
