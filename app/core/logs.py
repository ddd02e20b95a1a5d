"""Logging: configured once per process, as text or JSON lines (FX_LOG_FORMAT), with secrets kept out.

Every poll of every source ends with one structured line (`log_poll`): its fields are attached to the record
as `fields`, so the JSON format emits them as keys and the text format as `key=value` pairs. Nothing logged
carries an upstream body (errors are single sentences, capped) or a password (URLs have it masked).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

# `scheme://user:password@host` -> `scheme://user:***@host`, wherever a URL shows up in a message.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]*@")
MAX_ERROR_CHARS = 300
# httpx logs every request (URL included) and APScheduler every job run at INFO: the poll line says it all.
_QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "apscheduler": logging.WARNING}

_handler: logging.Handler | None = None


def redact(text: str) -> str:
    return _USERINFO.sub(r"\g<head>***@", text)


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    return redact(message)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


def _logfmt(value: Any) -> str:
    if value is None:
        return "-"
    text = redact(str(value))
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


class TextFormatter(logging.Formatter):
    """`2026-02-23T10:00:00Z INFO app.ingest.poller: poll ticker ok source=ticker outcome=ok ...`"""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        line = f"{when} {record.levelname} {record.name}: {_message(record)}"
        pairs = " ".join(f"{key}={_logfmt(value)}" for key, value in _fields(record).items())
        return f"{line} {pairs}" if pairs else line


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        for key, value in _fields(record).items():
            document.setdefault(key, redact(value) if isinstance(value, str) else value)
        return json.dumps(document, ensure_ascii=False, default=str)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send every logger (uvicorn's too: it is started without a config of its own) to stderr in `fmt`.

    Idempotent: calling it again (each uvicorn worker builds the app) replaces our handler, and leaves any
    other handler on the root logger (pytest's, say) alone.
    """
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler()
    _handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(_handler)
    root.setLevel(level.upper())
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
