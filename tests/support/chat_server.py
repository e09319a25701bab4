"""A local HTTP server speaking the OpenAI chat-completions wire format, recording requests."""

from __future__ import annotations

import functools
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ChatServer:
    """Answers POST /v1/chat/completions with `reply` (or with HTTP `status` if set).

    With `reply_bytes`, the reply's content is that many bytes instead, streamed in 1 MiB
    chunks (chunked encoding unless `declare_length`); `bytes_sent` counts what the client
    actually took before it hung up. With `gzip`, a reply is gzip-compressed; with
    `content_encoding`, that header is sent whatever the body is. With `gzip_bomb`, the reply is `gzip_bomb()`'s 1 MB of
    gzip (Content-Encoding: gzip, chunked) that expands to a 1 GiB reply. With
    `delay_seconds`, each answer waits that long first (the value when the request arrives
    counts).
    """

    reply: str = "Hello from the fake model."
    status: int = 200
    reply_bytes: int = 0
    declare_length: bool = False
    gzip_bomb: bool = False
    gzip: bool = False
    content_encoding: str | None = None
    bytes_sent: int = 0
    delay_seconds: float = 0.0
    requests: list[dict] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ChatServer:
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
                delay = chat.delay_seconds
                if delay:
                    time.sleep(delay)
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                elif chat.status != 200:
                    self._send(chat.status, {"error": {"message": "fake error"}})
                elif chat.gzip_bomb:
                    self._send_gzip(gzip_bomb())
                elif chat.reply_bytes:
                    self._stream(chat.reply_bytes)
                else:
                    self._send(200, {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                        "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": chat.reply}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })

            def _stream(self, size: int) -> None:
                head = b'{"choices": [{"message": {"role": "assistant", "content": "'
                tail = b'"}}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if chat.declare_length:
                    self.send_header("Content-Length", str(len(head) + size + len(tail)))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * (1 << 20)
                try:
                    self._write(head)
                    for offset in range(0, size, len(chunk)):
                        self._write(chunk[:min(len(chunk), size - offset)])
                    self._write(tail)
                    if not chat.declare_length:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client stopped reading, as it should

            def _send_gzip(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for offset in range(0, len(body), 64 * 1024):
                        self._write(body[offset:offset + 64 * 1024])
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client stopped reading, as it should

            def _write(self, data: bytes) -> None:
                if chat.declare_length and not chat.gzip_bomb:
                    self.wfile.write(data)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                chat.bytes_sent += len(data)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                encoding = chat.content_encoding or ("gzip" if chat.gzip else None)
                if chat.gzip:
                    compressor = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
                    data = compressor.compress(data) + compressor.flush()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


GZIP_BOMB_EXPANDED = 1 << 30


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """A chat-completions reply of 1 GiB (its content all `x`) as one gzip member of about
    1 MB; made once per process (a few seconds)."""
    head = b'{"choices": [{"message": {"role": "assistant", "content": "'
    tail = b'"}}]}'
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [compressor.compress(head)]
    chunk = b"x" * (1 << 20)
    for _ in range((GZIP_BOMB_EXPANDED - len(head) - len(tail)) // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts += [compressor.compress(tail), compressor.flush()]
    return b"".join(parts)
