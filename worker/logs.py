"""Stdlib logging set up for containers: one line per event on stdout, plain or JSON."""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys

# Attributes every LogRecord has; anything else was passed via `extra=` and is worth keeping.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Core's forwarded records carry this object; its fields are already in the message.
_SKIP = _STANDARD | {"temporal_log"}
# A gRPC status as the SDK's Rust core prints it carries its protobuf details as raw bytes
# (`details: b"\x08\x05\x12..."`), which repeat the message in a form nobody can read.
_RAW_DETAILS = re.compile(r', details: b"(?:[^"\\]|\\.)*"')


def readable(message: str) -> str:
    """`message` without raw protobuf bytes of gRPC status details."""
    return _RAW_DETAILS.sub("", message)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": readable(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _SKIP and not key.startswith("_"):
                event[key] = value if isinstance(value, (str, int, float, bool, type(None))) \
                    else str(value)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            event["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(event, default=str)


class PlainFormatter(logging.Formatter):
    """`time level logger: message`, with an exception as `| Type: message` on the same line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        saved, record.exc_info, record.exc_text = record.exc_info, None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info = saved
        if saved and saved[1] is not None:
            line += f" | {type(saved[1]).__name__}: {saved[1]}"
        return readable(line).replace("\n", "\\n")


def setup(log_format: str, level: str) -> None:
    """Route all logging to stdout in the chosen format (`plain` or `json`)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep it quieter than the worker's own events.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
