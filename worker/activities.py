"""Activities: a chat-completions call (the seed's ChatGPT example) and a heartbeating batch job.

Each activity takes one dataclass. Failures a retry cannot fix (bad credentials, a rejected
request) are raised as non-retryable `ApplicationError`s; the rest are retried by the
workflow's retry policy.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import zlib
from dataclasses import dataclass

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

CHAT_HTTP_TIMEOUT_SECONDS = 30.0
"""Per-request HTTP deadline; kept below the activity's start-to-close timeout."""
MAX_REPLY_BYTES = 1024 * 1024
"""Most bytes of a reply body read. Temporal refuses results over 2 MB by default, so a bigger
reply could never be returned; reading it anyway only costs memory (a 300 MB reply once took
1.5 GiB)."""
ERROR_AUTH = "ChatAuthError"
ERROR_REQUEST = "ChatRequestError"
ERROR_NOT_CONFIGURED = "ChatNotConfigured"
ERROR_TOO_LARGE = "ChatReplyTooLarge"
ERROR_BAD_RESPONSE = "ChatBadResponse"
NON_RETRYABLE_CHAT_ERRORS = [ERROR_AUTH, ERROR_REQUEST, ERROR_NOT_CONFIGURED, ERROR_TOO_LARGE]
ACCEPT_ENCODING = "gzip, deflate"
"""The encodings asked for: the ones `_read_capped` decodes itself, within MAX_REPLY_BYTES."""


@dataclass
class ChatRequest:
    """One user prompt for an OpenAI-compatible chat-completions API (workflow and activity)."""

    prompt: str
    model: str | None = None
    system: str | None = None


@dataclass
class RolloutStep:
    """Which step of a rollout a gate run checks (the rollout adds it to the gate's input)."""

    step: int
    """0 before the build gets any traffic, then 1..steps after each ramp step."""
    steps: int = 0
    percent: float = 0
    build_id: str = ""
    deployment_name: str = ""


@dataclass
class SmokeTest:
    """Input of the rollout gate: how much to exercise, and whether to fail on purpose (at
    every step, or only at `fail_at_step`)."""

    items: int = 3
    fail_with: str | None = None
    fail_at_step: int | None = None
    rollout_step: RolloutStep | None = None
    """Set by the rollout (contract.GATE_STEP_KEY)."""


@dataclass
class BatchRequest:
    """A batch of `items` processed one per `seconds_per_item` (workflow and activity)."""

    name: str
    items: int = 10
    seconds_per_item: float = 0.0


class ChatActivities:
    """Chat-completions client configured once per worker; the key never leaves this object."""

    def __init__(self, base_url: str, api_key: str | None, model: str) -> None:
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._model = model

    def __repr__(self) -> str:
        return f"ChatActivities(url={self._url!r}, model={self._model!r})"

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        """The TLS context every call's client shares, made at the first call. A client left
        to make its own loads the CA bundle each time: about 80 ms of CPU on the event loop and
        0.8 MiB per call in flight (bench/README.md, "Where the time goes")."""
        return httpx.create_ssl_context()

    @activity.defn(name="chat_completion")
    async def chat_completion(self, request: ChatRequest) -> str:
        """Send the prompt and return the model's reply text."""
        if not self._api_key:
            raise ApplicationError("CHATGPT_API_KEY is not set", type=ERROR_NOT_CONFIGURED,
                                   non_retryable=True)
        messages = ([{"role": "system", "content": request.system}] if request.system else [])
        messages.append({"role": "user", "content": request.prompt})
        async with httpx.AsyncClient(timeout=CHAT_HTTP_TIMEOUT_SECONDS, verify=self._tls) as http:
            async with http.stream(
                    "POST", self._url, headers={"Authorization": f"Bearer {self._api_key}",
                                                "Accept-Encoding": ACCEPT_ENCODING},
                    json={"model": request.model or self._model, "messages": messages},
            ) as response:
                status = response.status_code
                body = await _read_capped(response) if status < 300 else b""
        if status in (401, 403):
            raise ApplicationError(f"chat API refused the credentials (HTTP {status})",
                                   type=ERROR_AUTH, non_retryable=True)
        if 400 <= status < 500 and status not in (408, 409, 429):
            raise ApplicationError(f"chat API rejected the request (HTTP {status})",
                                   type=ERROR_REQUEST, non_retryable=True)
        if status >= 300:
            raise ApplicationError(f"chat API unavailable (HTTP {status})", type="ChatUnavailable")
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise ApplicationError("chat API returned an unexpected body",
                                   type=ERROR_BAD_RESPONSE)
        return content


async def _read_capped(response: httpx.Response) -> bytes:
    """The body, decoded, or a non-retryable error as soon as it is known to exceed
    MAX_REPLY_BYTES (asking again would pay for the same oversized answer).

    The raw bytes are decoded here, never asking zlib for more than the cap allows: a 1 MB gzip
    reply can expand to 1 GiB, and httpx's own decoder expands each network chunk in full.
    """
    too_large = ApplicationError(f"chat API reply is larger than {MAX_REPLY_BYTES} bytes, "
                                 "more than a Temporal result may hold", type=ERROR_TOO_LARGE,
                                 non_retryable=True)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise too_large
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    else:
        raise ApplicationError(f"chat API reply has Content-Encoding {encoding[:40]!r}, which "
                               f"was not asked for ({ACCEPT_ENCODING})",
                               type=ERROR_BAD_RESPONSE, non_retryable=True)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            while chunk:
                if decoder is None:
                    body += chunk
                    chunk = b""
                else:
                    body += decoder.decompress(chunk, MAX_REPLY_BYTES + 1 - len(body))
                    chunk = decoder.unconsumed_tail
                if len(body) > MAX_REPLY_BYTES:
                    raise too_large
        if decoder is not None:
            body += decoder.flush()  # all input is consumed: at most zlib's window is left
    except zlib.error:
        raise ApplicationError(f"chat API reply is not valid {encoding}",
                               type=ERROR_BAD_RESPONSE) from None
    if len(body) > MAX_REPLY_BYTES:
        raise too_large
    return bytes(body)


@activity.defn(name="process_batch")
async def process_batch(batch: BatchRequest) -> int:
    """Process the items, heartbeating progress so a retry resumes where the last one stopped."""
    details = activity.info().heartbeat_details
    done = int(details[0]) if details else 0
    if done:
        activity.logger.info("resuming batch %s at item %d of %d", batch.name, done, batch.items)
    while done < batch.items:
        if batch.seconds_per_item:
            await asyncio.sleep(batch.seconds_per_item)
        done += 1
        activity.heartbeat(done)
    return done
