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

# A URL's secrets, wherever a URL shows up in a message, a poll-log row or /sources: the password of
# `scheme://user:password@host`, the value of a query parameter named like a credential (`?apikey=...`), and a
# path segment shaped like a key (`/v6/3f9a0c1e2b7d4a6f8e5c1b2a/latest/USD`: 16 or more letters and digits, both).
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_USERINFO = re.compile(r"^(?P<head>[^:/]+://[^:/?#@]*:)[^@/]*@")
_CREDENTIAL_PARAM = re.compile(
    r"(?P<head>[?&;](?:[a-z0-9_-]*(?:key|token|secret|password|passwd|signature|sig)|app_?id|auth)=)[^&#;]+",
    re.IGNORECASE,
)
_KEY_SEGMENT = re.compile(r"(?<=/)(?=[A-Za-z_-]*[0-9])(?=[0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}(?=[/?#;]|$)")
MAX_ERROR_CHARS = 300
# httpx logs every request (URL included) and APScheduler every job run at INFO: the poll line says it all.
_QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "apscheduler": logging.WARNING}

_handler: logging.Handler | None = None


def _redact_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\g<head>***@", match.group())
    head, slash, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if not path:
        return _CREDENTIAL_PARAM.sub(r"\g<head>***", url)
    path = _CREDENTIAL_PARAM.sub(r"\g<head>***", "/" + path)
    return f"{head}{slash}{host}{_KEY_SEGMENT.sub('***', path)}"


def redact(text: str) -> str:
    """`text` with the secrets of every URL in it masked (see `_URL`); the rest as it was."""
    return _URL.sub(_redact_url, text) if "://" in text else text


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
