"""Log formats: every event is exactly one line, in JSON or plain text."""

from __future__ import annotations

import json
import logging

from worker.logs import JsonFormatter, PlainFormatter


def _record(message: str, *args: object, exc: BaseException | None = None,
            **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("worker.test", logging.ERROR, __file__, 1, message, args,
                               (type(exc), exc, None) if exc else None)
    record.__dict__.update(extra)
    return record


def test_json_is_one_object_per_line_with_extras_and_error():
    line = JsonFormatter().format(_record("failed on %s\nsecond line", "item-1",
                                          exc=ValueError("bad\nvalue"), task_queue="tq"))
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "failed on item-1\nsecond line"
    assert (event["level"], event["logger"], event["task_queue"]) == ("ERROR", "worker.test", "tq")
    assert event["error"] == "ValueError: bad\nvalue"


def test_plain_keeps_multiline_messages_and_tracebacks_on_one_line():
    line = PlainFormatter().format(_record("failed\nhere", exc=RuntimeError("boom")))
    assert "\n" not in line
    assert line.endswith("ERROR worker.test: failed\\nhere | RuntimeError: boom")


def test_raw_grpc_status_details_are_left_out_in_both_formats():
    status = ('Status { code: NotFound, message: "Namespace nope is not found.", '
              'details: b"\\x08\\x05\\x12\\x1cNamespace \\"nope\\"", metadata: MetadataMap {} }')
    for formatter in (JsonFormatter(), PlainFormatter()):
        line = formatter.format(_record("describe failed: %s", status))
        assert "details: b" not in line and "\\x08" not in line, line
        assert 'Status { code: NotFound, message: \\"Namespace nope is not found.\\"' in line \
            or 'Status { code: NotFound, message: "Namespace nope is not found."' in line
