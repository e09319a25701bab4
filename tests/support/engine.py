"""The Pulumi engine's side of a component provider, for a plugin started as a process: the
engine's gRPC services (the resource monitor, which receives what the component registers,
and the engine, which receives its logs), and the inputs the engine sends in Construct.

The wire shapes are those of the engine's `plugin.MarshalProperties` with the options the
engine uses for Construct (unknowns, secrets, resource references and output values kept):
an input the program computed from other resources arrives as an output value
(`{sig: OUTPUT, value?, secret?, dependencies?}`; no `value` while it is unknown in a
preview), a secret as a secret or as a secret output value, and a resource passed as itself as
a reference (`{sig: RESOURCE, urn, id, packageVersion}`) that the plugin rehydrates through
the monitor's `pulumi:pulumi:getResource`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import (engine_pb2, engine_pb2_grpc, provider_pb2,
                                  provider_pb2_grpc, resource_pb2, resource_pb2_grpc)

from tools.procs import Background

SIG = rpc._special_sig_key
UNKNOWN = rpc.UNKNOWN
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "components"
_MISSING = object()


def output_value(value: Any = _MISSING, *, secret: bool = False,
                 dependencies: Iterable[str] = ()) -> dict[str, Any]:
    """An Output as the engine sends it; without `value` it is unknown (a preview)."""
    out: dict[str, Any] = {SIG: rpc._special_output_value_sig}
    if value is not _MISSING:
        out["value"] = value
    if secret:
        out["secret"] = True
    if dependencies:
        out["dependencies"] = sorted(dependencies)
    return out


def secret(value: Any) -> dict[str, Any]:
    """A plain secret (no dependencies), as the engine sends it."""
    return {SIG: rpc._special_secret_sig, "value": value}


def reference(urn: str, id_: str, package_version: str) -> dict[str, Any]:
    """A custom resource passed as itself."""
    return {SIG: rpc._special_resource_sig, "urn": urn, "id": id_,
            "packageVersion": package_version}


def to_struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(properties)))
    return struct


@dataclass
class Registration:
    """One RegisterResource the plugin made, its object as plain data (secrets and unknowns in
    their wire form)."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    object: dict
    property_dependencies: dict[str, list[str]]
    dependencies: list[str]


@dataclass
class Existing:
    """A resource the program registered before the component (what getResource returns)."""

    urn: str
    id: str
    state: dict


class _Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def GetDeploymentInfo(self, request, context):  # noqa: N802 - gRPC method names
        return resource_pb2.DeploymentInfo(supportedFeatures=list(FakeEngine.FEATURES))

    def SupportsFeature(self, request, context):  # noqa: N802
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in {
            "secrets", "resourceReferences", "outputValues", "aliasSpecs", "deletedWith"})

    def Invoke(self, request, context):  # noqa: N802
        if request.tok != "pulumi:pulumi:getResource":
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no invoke {request.tok}")
        urn = json_format.MessageToDict(request.args)["urn"]
        existing = self.engine.existing.get(urn)
        if existing is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown resource {urn}")
        return resource_pb2.ResourceInvokeResponse(**{"return": to_struct(
            {"urn": existing.urn, "id": existing.id, "state": existing.state})})

    def RegisterResource(self, request, context):  # noqa: N802
        parent_type = request.parent.split("::")[2].split("$")[-1] if request.parent else ""
        qualified = f"{parent_type}${request.type}" if parent_type else request.type
        urn = f"urn:pulumi:{self.engine.stack}::{self.engine.project}::{qualified}::{request.name}"
        obj = json_format.MessageToDict(request.object)
        with self.engine.lock:
            self.engine.registrations.append(Registration(
                request.type, request.name, urn, request.parent, request.custom, obj,
                {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                list(request.dependencies)))
        # As a preview does, ids stay unknown; the object comes back as sent.
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id="" if self.engine.dry_run else f"{request.name}-id",
            object=request.object)

    def RegisterResourceOutputs(self, request, context):  # noqa: N802
        with self.engine.lock:
            self.engine.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return empty_pb2.Empty()

    def RegisterPackage(self, request, context):  # noqa: N802
        return resource_pb2.RegisterPackageResponse(ref=f"{request.name}-{request.version}")

    def SignalAndWaitForShutdown(self, request, context):  # noqa: N802
        return empty_pb2.Empty()


class _Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def Log(self, request, context):  # noqa: N802
        with self.engine.lock:
            self.engine.logs.append((engine_pb2.LogSeverity.Name(request.severity),
                                     request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.engine.stack_urn)

    def SetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


@dataclass
class FakeEngine:
    """Both of the engine's services on one free loopback port, for one deployment."""

    project: str = "platform"
    stack: str = "dev"
    dry_run: bool = False
    existing: dict[str, Existing] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, dict] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    FEATURES = (resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
                resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES,
                resource_pb2.RESOURCE_MONITOR_FEATURE_OUTPUT_VALUES,
                resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS,
                resource_pb2.RESOURCE_MONITOR_FEATURE_DELETED_WITH)

    def __post_init__(self) -> None:
        self._server: grpc.Server | None = None
        self.address = ""

    @property
    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::pulumi:pulumi:Stack::" \
               f"{self.project}-{self.stack}"

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def add(self, type_: str, name: str, state: Mapping[str, Any]) -> Existing:
        """A resource the program made earlier, which a reference may point to."""
        existing = Existing(self.urn(type_, name), f"{name}-id", dict(state))
        self.existing[existing.urn] = existing
        return existing

    def __enter__(self) -> FakeEngine:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(_Monitor(self), self._server)
        engine_pb2_grpc.add_EngineServicer_to_server(_Engine(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    def of(self, component: str, type_: str) -> list[Registration]:
        """What the component named `component` registered of a type (its children's names
        start with its own)."""
        with self.lock:
            return [r for r in self.registrations if r.type == type_
                    and (r.name == component or r.name.startswith(f"{component}-"))]

    def construct(self, plugin: Plugin, type_: str, name: str, inputs: Mapping[str, Any],
                  input_dependencies: Mapping[str, Iterable[str]] | None = None, *,
                  dry_run: bool = False, timeout: float = 60) -> provider_pb2.ConstructResponse:
        """The Construct call the engine makes for a component the program declares (with the
        stack as its parent), after configuring the provider as the engine does; a preview
        when `dry_run`."""
        self.dry_run = dry_run
        plugin.stub.Configure(provider_pb2.ConfigureRequest(
            acceptSecrets=True, acceptResources=True), timeout=timeout)
        deps = {key: provider_pb2.ConstructRequest.PropertyDependencies(urns=sorted(urns))
                for key, urns in (input_dependencies or {}).items()}
        return plugin.stub.Construct(provider_pb2.ConstructRequest(
            project=self.project, stack=self.stack, dryRun=dry_run, parallel=8,
            monitorEndpoint=self.address, type=type_, name=name, parent=self.stack_urn,
            inputs=to_struct(inputs), inputDependencies=deps, organization="organization",
            accepts_output_values=True), timeout=timeout)


class Plugin(Background):
    """The package's plugin as `pulumi package add` runs it (`python __main__.py ENGINE`, in
    the package's directory), with a provider client."""

    def __init__(self, python: str, engine_address: str, plugin_dir: Path = PLUGIN_DIR) -> None:
        super().__init__("component-plugin", [python, str(plugin_dir / "__main__.py"),
                                              engine_address], cwd=plugin_dir)
        self.channel: grpc.Channel | None = None

    def start(self, ready=None, timeout: float = 60) -> Plugin:
        super().start(lambda: self.output().strip().split("\n", 1)[0].isdigit(), timeout)
        port = int(self.output().strip().split("\n", 1)[0])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        return self

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        super().close()
