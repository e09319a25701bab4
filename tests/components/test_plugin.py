"""The plugin entry point Pulumi runs for `pulumi package add` and `packages:`: started the way
the Python language host starts it, it serves the components' schema over gRPC."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import grpc
import yaml
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from google.protobuf import empty_pb2

from temporal_worker_k8s import COMPONENTS, PACKAGE

PLUGIN = Path(__file__).resolve().parents[2] / "components"


def test_the_plugin_serves_the_inferred_schema_and_the_package_version():
    assert yaml.safe_load((PLUGIN / "PulumiPlugin.yaml").read_text()) == {"runtime": "python"}
    version = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["version"]
    # The engine address is only used for calls back into the engine, which GetSchema makes none.
    process = subprocess.Popen([sys.executable, str(PLUGIN / "__main__.py"), "127.0.0.1:1"],
                               cwd=PLUGIN, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
            served = stub.GetSchema(provider_pb2.GetSchemaRequest(), timeout=30).schema
    finally:
        process.kill()
        process.wait(timeout=10)
    assert info.version == version
    schema = json.loads(served)
    assert schema == json.loads(ComponentProvider(COMPONENTS, PACKAGE, version=version).schema)
    assert schema["name"] == PACKAGE and schema["version"] == version
