"""The policy pack's real analyzer, started as the Pulumi engine starts it, and a client that
sends it what the engine would: Configure, Analyze for each resource, AnalyzeStack.

The engine runs `python -u -m pulumi.policy ENGINE_ADDRESS PACK_DIR` in the pack's venv (the
`pulumi-analyzer-policy-python` shim); the pack prints its port and serves gRPC. Resources come
from Pulumi mocks (`tools.mockstack`), with secret inputs marked secret as the engine marks them.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tools.mockstack import StackRun
from tools.procs import Background

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "policy"
LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}


def pack_python() -> Path:
    """The pack venv's Python: $POLICY_PYTHON (scripts/test.sh sets it), else .venv-policy."""
    return Path(os.environ.get("POLICY_PYTHON") or ROOT / ".venv-policy" / "bin" / "python")


@dataclass
class Resource:
    """One resource as the engine describes it to an analyzer."""

    type: str
    name: str
    urn: str
    inputs: dict
    parent: str = ""
    custom: bool = True
    secret_paths: frozenset = frozenset()

    def properties(self) -> struct_pb2.Struct:
        """The inputs as a protobuf Struct, secret values wrapped the way the engine wraps them."""
        def wrap(value: Any, path: tuple) -> Any:
            if isinstance(value, Mapping):
                value = {k: wrap(v, path + (k,)) for k, v in value.items()}
            elif isinstance(value, list):
                value = [wrap(v, path + (i,)) for i, v in enumerate(value)]
            if path and path in self.secret_paths:
                return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}
            return value

        struct = struct_pb2.Struct()
        struct.update(wrap(self.inputs, ()))
        return struct


def resources_of(run: StackRun) -> list[Resource]:
    """A mocked run's resources (components included), as independent copies."""
    return [Resource(r.type_, r.name, r.urn, copy.deepcopy(r.inputs), r.parent, r.custom,
                     r.secret_paths) for r in run.resources]


def resource_from_manifest(manifest: Mapping[str, Any], stack: str = "dev",
                           project: str = "handwritten") -> Resource:
    """A Kubernetes manifest as `kubernetes:<group/version>:<Kind>`, as pulumi-kubernetes's
    yaml.ConfigFile registers it."""
    group = manifest["apiVersion"] if "/" in manifest["apiVersion"] else \
        f"core/{manifest['apiVersion']}"
    type_ = f"kubernetes:{group}:{manifest['kind']}"
    name = manifest["metadata"]["name"]
    return Resource(type_, name, f"urn:pulumi:{stack}::{project}::{type_}::{name}",
                    copy.deepcopy(dict(manifest)))


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    message: str
    urn: str
    level: str


@dataclass
class Analysis:
    """Everything the analyzer reported for one stack."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def policies(self) -> set[str]:
        return {d.policy for d in self.diagnostics}

    def messages(self, policy: str) -> list[str]:
        return [d.message for d in self.diagnostics if d.policy == policy]


class Analyzer(Background):
    """The pack's analyzer process and a gRPC client for it."""

    def __init__(self, pack_dir: Path = PACK_DIR, python: Path | None = None) -> None:
        # The engine address is only used for calls back into the engine; the pack makes none.
        super().__init__("policy-pack", [str(python or pack_python()), "-u", "-m",
                                         "pulumi.policy", "127.0.0.1:1", str(pack_dir)],
                         cwd=pack_dir)
        self.channel: grpc.Channel | None = None

    def start(self, ready=None, timeout: float = 60) -> Analyzer:
        super().start(lambda: self.output().strip().split("\n", 1)[0].isdigit(), timeout)
        port = int(self.output().strip().split("\n", 1)[0])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        super().close()

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)

    def configure(self, config: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Per-policy config as a policy-pack config file holds it: {"enforcementLevel": ...,
        other properties}; None resets every policy to its defaults. As the engine does, a
        policy configured without a level keeps the level the pack declares for it."""
        declared = {p.name: p.enforcementLevel for p in self.info().policies}
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, values in (config or {}).items():
            values = dict(values)
            entry = request.policyConfig[name]
            entry.enforcementLevel = LEVELS[values.pop("enforcementLevel")] \
                if "enforcementLevel" in values else declared[name]
            entry.properties.update(values)
        self.stub.Configure(request, timeout=30)

    def analyze(self, resources: Sequence[Resource],
                config: Mapping[str, Mapping[str, Any]] | None = None) -> Analysis:
        """What an update reports: Analyze for each custom resource, then AnalyzeStack."""
        self.configure(config)
        analysis = Analysis()
        for resource in resources:
            if resource.custom:
                # The engine files a resource's diagnostics under the resource it asked about.
                self._collect(analysis, self.stub.Analyze(analyzer_pb2.AnalyzeRequest(
                    type=resource.type, properties=resource.properties(), urn=resource.urn,
                    name=resource.name), timeout=60), resource.urn)
        self._collect(analysis, self.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(
            resources=[analyzer_pb2.AnalyzerResource(
                type=r.type, properties=r.properties(), urn=r.urn, name=r.name,
                parent=r.parent) for r in resources]), timeout=60))
        return analysis

    @staticmethod
    def _collect(analysis: Analysis, response: analyzer_pb2.AnalyzeResponse,
                 urn: str = "") -> None:
        names = {v: k for k, v in LEVELS.items()}
        analysis.diagnostics += [Diagnostic(d.policyName, d.message, d.urn or urn,
                                            names[d.enforcementLevel])
                                 for d in response.diagnostics]
        analysis.not_applicable += [(n.policy_name, n.reason) for n in response.not_applicable]


def schema_of(info: analyzer_pb2.AnalyzerInfo) -> dict[str, dict]:
    """Each policy's config schema properties, as JSON."""
    return {p.name: json.loads(json_format.MessageToJson(p.configSchema.properties))
            for p in info.policies}


def find(resources: Iterable[Resource], type_: str, name: str | None = None) -> Resource:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, (type_, name, [r.name for r in resources if r.type == type_])
    return found[0]
