"""Pulumi's dynamic provider host (`python -m pulumi.dynamic`) in a process of its own, and a
client that drives it over gRPC the way the Pulumi engine does.

The engine configures the provider first and learns whether it accepts secrets; when it does
not (the Python host answers acceptSecrets: false), the engine sends secret properties as plain
values and marks the outputs that share a name with a secret input secret again itself. This
client marshals the same way, so a provider that only works when called in-process fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2

from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from tools.procs import Background


class DynamicHost(Background):
    """`python -u -m pulumi.dynamic` of a given venv (as Pulumi's pulumi-resource-pulumi-python
    shim starts it), in an empty directory, so nothing but that venv's packages can be
    imported; it prints the port it serves on."""

    def __init__(self, python: str, workdir: Path) -> None:
        super().__init__("pulumi-dynamic", [python, "-u", "-m", "pulumi.dynamic"], cwd=workdir,
                         env={"PATH": "/usr/bin:/bin", "PULUMI_PROJECT": "temporal-worker"})
        self.port: int | None = None

    def start(self, ready=None, timeout: float = 60) -> DynamicHost:
        super().start(self._serving, timeout)
        return self

    def _serving(self) -> bool:
        first = self.output().split("\n", 1)[0].strip()
        if first.isdigit():
            self.port = int(first)
        return self.port is not None


class EngineClient:
    """Configure, Check, Diff, Create, Update and Delete against a provider host."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.accept_secrets: bool | None = None

    def close(self) -> None:
        self.channel.close()

    def configure(self) -> provider_pb2.ConfigureResponse:
        answer = self.stub.Configure(provider_pb2.ConfigureRequest(
            args=struct_pb2.Struct(), acceptSecrets=True, acceptResources=True))
        self.accept_secrets = answer.acceptSecrets
        return answer

    def marshal(self, props: Mapping[str, Any], secret: Iterable[str] = (),
                keep_secrets: bool | None = None) -> struct_pb2.Struct:
        """Properties as the engine sends them: top-level `secret` names wrapped in Pulumi's
        secret signature only if the provider accepts secrets."""
        keep = self.accept_secrets if keep_secrets is None else keep_secrets
        secret = set(secret)
        marked = {k: rpc.wrap_rpc_secret(v) if keep and k in secret else v
                  for k, v in props.items()}
        struct = struct_pb2.Struct()
        struct.update(marked)
        return struct

    @staticmethod
    def unmarshal(struct: struct_pb2.Struct) -> dict[str, Any]:
        return rpc.deserialize_properties(struct)

    def check(self, urn: str, olds: Mapping[str, Any], news: Mapping[str, Any],
              secret: Iterable[str] = (), keep_secrets: bool | None = None
              ) -> provider_pb2.CheckResponse:
        return self.stub.Check(provider_pb2.CheckRequest(
            urn=urn, olds=self.marshal(olds, secret, keep_secrets),
            news=self.marshal(news, secret, keep_secrets)))

    def diff(self, urn: str, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any],
             old_inputs: Mapping[str, Any], secret: Iterable[str] = ()
             ) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(
            id=id_, urn=urn, olds=self.marshal(olds, secret), news=self.marshal(news, secret),
            old_inputs=self.marshal(old_inputs, secret)))

    def create(self, urn: str, props: Mapping[str, Any], secret: Iterable[str] = (),
               timeout: float = 300) -> tuple[str, dict[str, Any]]:
        answer = self.stub.Create(provider_pb2.CreateRequest(
            urn=urn, properties=self.marshal(props, secret), timeout=timeout), timeout=timeout)
        return answer.id, self.unmarshal(answer.properties)

    def update(self, urn: str, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any],
               old_inputs: Mapping[str, Any], secret: Iterable[str] = (),
               timeout: float = 300) -> dict[str, Any]:
        answer = self.stub.Update(provider_pb2.UpdateRequest(
            id=id_, urn=urn, olds=self.marshal(olds, secret), news=self.marshal(news, secret),
            old_inputs=self.marshal(old_inputs, secret), timeout=timeout), timeout=timeout)
        return self.unmarshal(answer.properties)

    def delete(self, urn: str, id_: str, props: Mapping[str, Any],
               old_inputs: Mapping[str, Any], secret: Iterable[str] = ()) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(
            id=id_, urn=urn, properties=self.marshal(props, secret),
            old_inputs=self.marshal(old_inputs, secret)))


def to_thread(call, *args, **kwargs):
    """Run a blocking gRPC call without blocking the test's event loop."""
    return asyncio.to_thread(call, *args, **kwargs)
