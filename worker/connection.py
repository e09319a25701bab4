"""Connecting to Temporal without ever hanging: every attempt is bounded, logged with its cause,
and abandoned at once when the worker is asked to stop.

The SDK's own `connect_timeout` bounds the TCP connect only: against an endpoint that accepts
the connection and never answers the TLS handshake, `Client.connect` waits forever (measured).
So each attempt also runs under CONNECT_TIMEOUT_SECONDS and races the stop event; cancelling it
drops the SDK's connect future and closes its socket.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime

import temporal_worker_spec.settings as spec

log = logging.getLogger("worker")

CONNECT_TIMEOUT_SECONDS = 10.0
"""One connection attempt (TCP, TLS handshake, the first call) must succeed within this."""
CONNECT_BACKOFF_MAX_SECONDS = 30.0


class Stopped(Exception):
    """The stop event was set while connecting."""


# rustls errors, as seen against a real server, and what they usually mean.
_CAUSES = (
    ("InvalidContentType",
     "the server did not answer with TLS: the address is probably a plaintext endpoint (a "
     f"frontend without TLS, or the wrong port); TLS is on because {spec.TLS.env}, a client "
     "certificate, a server CA or an API key is set"),
    ("UnknownIssuer",
     "the server's certificate is not signed by a CA the worker trusts; set "
     f"{spec.TLS_SERVER_CA.env} ({spec.TLS_SERVER_CA.name}) to its CA"),
    ("NotValidForName",
     "the server's certificate is not for this host name; set "
     f"{spec.TLS_SERVER_NAME.env} ({spec.TLS_SERVER_NAME.name}) to a name it is for"),
    ("timed out after",
     "the endpoint took the TCP connection but never completed the handshake or answered: a "
     "proxy or firewall holding connections, TLS to a port that expects something else, or "
     "an overloaded server"),
)
_STATUS = re.compile(r'Status \{ code: (\w+), message: "((?:[^"\\]|\\.)*)".*', re.DOTALL)


def likely_cause(error: str) -> str:
    """` (likely cause: ...)` for connection errors whose text is cryptic, else ``."""
    for marker, cause in _CAUSES:
        if marker in error:
            return f" (likely cause: {cause})"
    return ""


def describe(err: BaseException) -> str:
    """An error as one readable line: the SDK's Rust `Status { code, message, details: b"..." }`
    becomes `code: message`, without the raw protobuf bytes of its details."""
    return _STATUS.sub(_readable_status, str(err) or type(err).__name__)


def _readable_status(match: re.Match[str]) -> str:
    message = match[2].replace('\\"', '"')
    return f"{match[1]}: {message}"


async def attempt(options: Mapping[str, Any], runtime: Runtime, stop: asyncio.Event) -> Client:
    """One bounded connection attempt; raises its error (TimeoutError after
    CONNECT_TIMEOUT_SECONDS), or Stopped as soon as `stop` is set."""
    connecting = asyncio.ensure_future(asyncio.wait_for(
        Client.connect(**options, runtime=runtime,
                       # Also bounds the TCP part of the SDK's own reconnects later on.
                       connect_timeout=timedelta(seconds=CONNECT_TIMEOUT_SECONDS)),
        CONNECT_TIMEOUT_SECONDS))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
    if not connecting.done() or connecting.cancelled():
        raise Stopped()
    try:
        return connecting.result()
    except asyncio.TimeoutError:
        raise TimeoutError(f"timed out after {CONNECT_TIMEOUT_SECONDS:.0f}s") from None


def failure(err: BaseException) -> str:
    """Why an attempt failed, with the likely cause where the error is cryptic."""
    text = describe(err)
    return f"{text}{likely_cause(text)}"


async def connect(options: Callable[[], Mapping[str, Any]], runtime: Runtime,
                  stop: asyncio.Event, *, address: str, namespace: str,
                  tls: bool) -> Client | None:
    """Connect, retrying with backoff (not ready meanwhile); None if stopped first.

    `options()` gives each attempt's `Client.connect` arguments, so a credential renewed
    while the server refused the old one is used by the next attempt.
    """
    delay, number = 1.0, 1
    while not stop.is_set():
        log.info("connecting to Temporal at %s (namespace %s, tls %s), attempt %d", address,
                 namespace, "on" if tls else "off", number)
        try:
            return await attempt(options(), runtime, stop)
        except Stopped:
            return None
        except Exception as err:
            log.error("cannot connect to Temporal at %s (namespace %s, tls %s): %s; "
                      "retrying in %.0fs", address, namespace, "on" if tls else "off",
                      failure(err), delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            delay = min(delay * 2, CONNECT_BACKOFF_MAX_SECONDS)
            number += 1
    return None
