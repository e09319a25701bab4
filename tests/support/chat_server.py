"""A local HTTP server speaking the OpenAI chat-completions wire format, recording requests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ChatServer:
    """Answers POST /v1/chat/completions with `reply` (or with HTTP `status` if set).

    With `reply_bytes`, the reply's content is that many bytes instead, streamed in 1 MiB
    chunks (chunked encoding unless `declare_length`); `bytes_sent` counts what the client
    actually took before it hung up. With `delay_seconds`, each answer waits that long first
    (the value when the request arrives counts).
    """

    reply: str = "Hello from the fake model."
    status: int = 200
    reply_bytes: int = 0
    declare_length: bool = False
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

            def _write(self, data: bytes) -> None:
                if chat.declare_length:
                    self.wfile.write(data)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                chat.bytes_sent += len(data)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
