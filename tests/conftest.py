"""Shared fixtures for the whole tests tree: a real Temporal dev server, an mTLS front, test PKI,
and a fresh venv that installed the component package.

Reusable logic lives in `tests/support/` and `tools/`; these fixtures only manage lifetimes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import temporal_worker_spec.settings as spec
from tests.support.caddy import MtlsFront
from tests.support.chat_server import ChatServer
from tests.support.package import PackageVenv
from tests.support.summary import SUMMARY_PREFIX
from tests.support.tls import CA, CertFactory, Issued
from tools.devserver import DevServer


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[DevServer]:
    """A real `temporal server start-dev` on a free loopback port, for the whole session."""
    with DevServer() as server:
        yield server


@pytest.fixture(scope="session")
def cert_factory(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    """Makes CAs and certificates in a session tmp dir (nothing is committed)."""
    return CertFactory(tmp_path_factory.mktemp("pki"))


@dataclass(frozen=True)
class Mtls:
    """The mTLS front and the PKI around it."""

    front: MtlsFront
    ca: CA
    """Signs the front's server cert and is the only CA trusted for client certs."""
    client: Issued
    """A good client cert/key pair."""

    @property
    def address(self) -> str:
        return self.front.address

    def worker_env(self, client: Issued | None = None) -> dict[str, str]:
        """Standard TEMPORAL_* variables for connecting through the front with `client`
        (default: the good client cert)."""
        client = client or self.client
        return {spec.TEMPORAL_ADDRESS.env: self.address, spec.TLS.env: "true",
                spec.TLS_CERT.env: str(client.cert_path),
                spec.TLS_KEY.env: str(client.key_path),
                spec.TLS_SERVER_CA.env: str(self.ca.cert_path)}


@pytest.fixture(scope="session")
def mtls(temporal_server: DevServer, cert_factory: CertFactory) -> Iterator[Mtls]:
    """caddy in front of the session dev server, requiring and verifying client certs."""
    ca = cert_factory.ca("mtls-ca")
    server = cert_factory.issue(ca, "mtls-server", server=True)
    client = cert_factory.issue(ca, "mtls-client")
    with MtlsFront(temporal_server.port, server.cert_path, server.key_path, ca.cert_path) as front:
        yield Mtls(front, ca, client)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A local OpenAI-compatible chat-completions endpoint that records requests."""
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def package_venv(tmp_path_factory: pytest.TempPathFactory) -> PackageVenv:
    """A new venv outside the repository that pip-installed the component package from its
    directory, as the Python example's requirements.txt says (slow: it downloads from PyPI)."""
    return PackageVenv.create(tmp_path_factory.mktemp("package-venv"))


# Tests that must share one process under pytest-xdist (`--dist loadgroup`): the image tests
# run containers on the host network (fixed ports 8080 and 9464) and build the image once per
# process; the example tests share one slow pip-installed venv.
XDIST_GROUPS = {"image": "image", "examples": "package-venv"}


LONG_FIRST = ("rollouts/test_rollout_year.py", "worker/test_worker_rotation.py",
              "scripts/test_render_script.py", "rollouts/test_provider_host.py",
              "program/test_program_lock.py", "examples/", "monitoring/test_live_metrics.py",
              "image/", "rollouts/test_rollout_provider.py", "policy_pack/test_policy_lock.py")
"""Where the longest tests are (a minute or more each on 2 cores). xdist hands out tests in
collection order, so these go first: started last, one of them alone would hold the run's end
for minutes while the other processes idle. Order only, never which tests run."""


def _long_rank(item: pytest.Item) -> int:
    path = item.path.as_posix()
    return next((rank for rank, part in enumerate(LONG_FIRST) if f"/tests/{part}" in path),
                len(LONG_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tree = item.path.parent.name
        if tree in XDIST_GROUPS and item.path.parent.parent.name == "tests":
            item.add_marker(pytest.mark.xdist_group(XDIST_GROUPS[tree]))
    items.sort(key=_long_rank)  # stable: the rest keep their order


def pytest_configure(config: pytest.Config) -> None:
    # Started by `nohup` or as `cmd &` from a script, the run gets SIGINT ignored, and an ignored
    # signal stays ignored in every child: each Ctrl-C test would see its Ctrl-C do nothing. A
    # handler, unlike "ignore", is reset to the default in each child.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


SUMMARY: dict[str, dict[str, str]] = {}
"""Section -> lines printed at the end of the run, gathered from the test reports."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if isinstance(name, str) and name.startswith(SUMMARY_PREFIX):
            section, key = name[len(SUMMARY_PREFIX):].split(":", 1)
            SUMMARY.setdefault(section, {})[key] = value


def pytest_terminal_summary(terminalreporter) -> None:
    for section, lines in SUMMARY.items():
        terminalreporter.section(section)
        for key, value in lines.items():
            terminalreporter.write_line(f"{key}: {value}")
