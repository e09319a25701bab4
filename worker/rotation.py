"""Credentials that rotate without an outage: the worker rereads its certificate, key, server CA
and API key files while it runs, and switches to a renewed set without dropping work.

Every POLL_SECONDS each watched file is fingerprinted by content, so kubelet's atomic swap of a
Secret volume (its `..data` symlink) and an in-place write are both seen. A change is acted on
once two polls agree, so a set written file by file settles first. The new set is checked with
the settings spec's own rules (`worker.credentials`):

- good, TLS material changed: a new client connects with it (bounded, `worker.connection`) and
  replaces the old one in the running worker (`Worker.client`) and everywhere else that calls
  Temporal (health checks, the poll monitor). Polls and completions move to the new client;
  calls in flight finish on the old one, which is then dropped. A call retried after the swap
  (a long poll whose connection a restarted front cut) goes through the new client too: the
  SDK's worker client takes the current connection on every attempt. Readiness stays up.
- good, only the API key changed: it is set on the live client (`Client.api_key`); the worker
  shares that client's connection, so its next calls carry the new key.
- refused (a key that is not the certificate's, an expired or half-written certificate, an
  empty key file) or unable to connect: the worker keeps what it uses, logs one line, counts it
  and raises CREDENTIAL_RELOAD_FAILING_METRIC until a later set is applied. It retries with
  backoff, so a certificate that becomes valid a moment later is still picked up.

The client certificate's expiry is exported as CERT_EXPIRY_METRIC, so an alert can fire before
it lapses whether or not a renewal ever arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from temporal_worker_spec import contract
from worker import connection
from worker.credentials import CredentialError, Credentials, Material

log = logging.getLogger("worker.rotation")

POLL_SECONDS = 2.0
"""How often the credential files are fingerprinted."""
RETRY_MAX_SECONDS = 60.0
"""A refused or unusable set is tried again after 2, 4, 8, ... seconds, at most this long."""


def reread(credentials: Credentials, material: Material) -> Material:
    """The credential files as they are now, or `material` (logged) when the spec refuses
    them: before the first connection, each attempt takes the latest good set."""
    if not credentials.files:
        return material
    try:
        return credentials.load()
    except CredentialError as err:
        log.error("credential files refused, connecting with the previous set: %s", err)
        return material


class Metrics:
    """The worker's credential metrics, on the SDK's Prometheus endpoint."""

    def __init__(self, meter: MetricMeter, kinds: tuple[str, ...]) -> None:
        self._expiry = meter.create_gauge_float(
            contract.CERT_EXPIRY_METRIC,
            "When the client certificate in use expires, in seconds since the epoch.", "s")
        self._reloads = meter.create_counter(
            contract.CREDENTIAL_RELOADS_METRIC,
            "Credential reloads by credential (tls, api_key) and result (applied, refused, "
            "failed).")
        self._failing = meter.create_gauge(
            contract.CREDENTIAL_RELOAD_FAILING_METRIC,
            "1 while the credential files hold a set the worker refused or could not connect "
            "with (it keeps the previous one), else 0.")
        for kind in kinds:  # every series exists from the start, so rate() and alerts work
            self._failing.set(0, {"credential": kind})
            for result in ("applied", "refused", "failed"):
                self._reloads.add(0, {"credential": kind, "result": result})

    def in_use(self, material: Material) -> None:
        expiry = material.cert_expiry()
        if expiry is not None:
            self._expiry.set(expiry)

    def cleared(self, kinds: set[str]) -> None:
        for kind in kinds:
            self._failing.set(0, {"credential": kind})

    def reloaded(self, kinds: set[str], result: str) -> None:
        for kind in kinds:
            self._reloads.add(1, {"credential": kind, "result": result})
            self._failing.set(0 if result == "applied" else 1, {"credential": kind})


class CredentialWatcher:
    """Watches the credential files and applies each good new set to the running worker."""

    def __init__(self, credentials: Credentials, material: Material,
                 base_options: Mapping[str, Any], runtime: Runtime, metrics: Metrics,
                 current_client: Callable[[], Client], use_client: Callable[[Client], None],
                 *, poll_seconds: float = POLL_SECONDS) -> None:
        self.credentials = credentials
        self.material = material
        self.base_options = base_options
        self.runtime = runtime
        self.metrics = metrics
        self.current_client = current_client
        self.use_client = use_client
        self.poll_seconds = poll_seconds
        self._in_use = credentials.fingerprint()
        self._seen = self._in_use
        self._failed: dict[str, str] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_problem: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop`; nothing to do when no credential comes from a file."""
        if not self.credentials.files:
            return
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.check(stop)
            except connection.Stopped:
                return
            except Exception as err:  # a bug here must not stop the worker: log, keep going
                log.error("credential watch failed: %s", connection.describe(err))

    async def check(self, stop: asyncio.Event) -> None:
        """One poll: act on a changed set once it has settled."""
        prints = self.credentials.fingerprint()
        settled, self._seen = prints == self._seen, prints
        if prints == self._in_use:
            if self._failed is not None:  # the files went back to the set in use
                self.metrics.cleared(set(self.credentials.files))
                self._failed, self._failures, self._last_problem = None, 0, None
                log.info("credential files hold the set in use again")
            return
        if not settled:
            return
        if prints == self._failed and time.monotonic() < self._retry_at:
            return
        changed = self._changed(prints)
        try:
            material = self.credentials.load()
        except CredentialError as err:
            self._fail(prints, changed, "refused", str(err))
            return
        if material == self.material:  # the same credentials, written again
            self._in_use = prints
            return
        if material.tls_material != self.material.tls_material:
            log.info("credential files changed (%s): connecting with the new set",
                     ", ".join(sorted(changed)))
            try:
                client = await connection.attempt(
                    self.credentials.connect_options(self.base_options, material), self.runtime,
                    stop)
            except connection.Stopped:
                raise
            except Exception as err:
                self._fail(prints, changed, "failed",
                           f"cannot connect with the new credentials: "
                           f"{connection.failure(err)}")
                return
            self.use_client(client)
            log.info("credentials reloaded: the worker now uses a new connection with the new "
                     "set (%s)", material.cert_expiry_text())
        elif material.api_key != self.material.api_key:
            self.current_client().api_key = material.api_key
            source = self.credentials.api_key
            log.info("credentials reloaded: the API key from %s is in use",
                     source.label if source else "its file")
        self.material, self._in_use = material, prints
        self._failed, self._failures, self._last_problem = None, 0, None
        self.metrics.in_use(material)
        self.metrics.reloaded(changed, "applied")

    def _changed(self, prints: Mapping[str, str]) -> set[str]:
        """Which credentials (tls, api_key) have a file whose content differs from the set in
        use."""
        return {kind for kind, paths in self.credentials.files.items()
                if any(prints.get(p) != self._in_use.get(p) for p in paths)}

    def _fail(self, prints: dict[str, str], changed: set[str], result: str,
              problem: str) -> None:
        self._failures = self._failures + 1 if prints == self._failed else 1
        self._failed = prints
        delay = min(self.poll_seconds * 2 ** self._failures, RETRY_MAX_SECONDS)
        self._retry_at = time.monotonic() + delay
        self.metrics.reloaded(changed, result)
        if problem != self._last_problem:
            log.error("credentials reload %s: %s; keeping the credentials in use (%s); "
                      "trying again in %.0fs", result, problem, self.material.cert_expiry_text(),
                      delay)
            self._last_problem = problem
